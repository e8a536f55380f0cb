"""The ``select_model`` operation: which embedding model should a field use, on the user's own judgements?

Candidates are registered model versions (``candidates``) and the ones EmbeDB
makes itself (``make``, all by default): ``lsa`` (TF-IDF + SVD fitted on the
collection's texts), ``model2vec`` (a static model distilled from the serving
version, when it is a sentence-transformers model), ``bm25`` (Okapi BM25 on the
source text, with the analyzer of the field's BM25 sibling if it has one) and
``hybrid`` (reciprocal rank fusion of the serving version's ranking and BM25's).
Each ranks the judged documents among a seeded sample of the others (from the
field's source text, in a seeded random order so that ties favour no one); the ranking is scored (nDCG/recall/MRR@10), and each
candidate's per-query nDCG is compared with the serving version's by a paired
randomization test. The winner is the best embedding model significantly better
than the serving version (none otherwise); it is registered (a made one) and
given the ``alias`` (``challenger``), ready for a backfill and an experiment.
BM25 and hybrid are ranked beside them (``registrable`` False: they are served by
a BM25 field and a search configuration, not by a model version); when one of
them is the best significantly better candidate it is ``best_overall``. Latency
(ms per query, in batches) and the bytes a vector takes are the cost side.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numpy as np

from embedb.contract.results import SelectionReport
from embedb.engine.making import CollectionRows, Registration
from embedb.errors import InvalidArgumentError
from embedb.evaluation import evaluate_run
from embedb.evaluation.metrics import check_qrels
from embedb.evaluation.stats import check_seed, paired_randomization_test
from embedb.metadata import CollectionMetadata
from embedb.models import Lineage, ModelRegistry, distill_static, train_lsa
from embedb.query import prepare_queries
from embedb.schema import MetricType
from embedb.text import analyzer, bm25_scores

K = 10
MAKEABLE = ("lsa", "model2vec", "bm25", "hybrid")
RRF_K = 60
Embed = Callable[[list[str]], np.ndarray]


class SelectionOperation:
    """The ``select_model`` operation of the contract."""

    def __init__(
        self, metadata: CollectionMetadata, models: ModelRegistry, rows: CollectionRows, registration: Registration
    ) -> None:
        self.metadata = metadata
        self.models = models
        self.rows = rows
        self.registration = registration

    def select_model(
        self,
        collection_name: str,
        field_name: str,
        *,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, float]],
        candidates: Sequence[str] | None = None,
        make: Sequence[str] | None = None,
        corpus_rows: int = 5_000,
        alpha: float = 0.05,
        register_winner: bool = True,
        model_name: str | None = None,
        alias: str = "challenger",
        seed: int = 0,
    ) -> SelectionReport:
        started = time.perf_counter()
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        binding = self.metadata.bindings(info).get(field.name)
        if binding is None or binding.tokenized:
            raise InvalidArgumentError(f"field {field.name!r} is not bound to an embedding model")
        _checked(queries, qrels, corpus_rows, alpha)
        check_seed(seed)
        making = _checked_make(make)
        judged = {str(query): {str(doc): float(grade) for doc, grade in docs.items()} for query, docs in qrels.items()}
        texts = {query: str(queries[query]) for query in judged if query in queries}
        if len(texts) < 5:
            raise InvalidArgumentError("select_model needs at least 5 judged queries with their text", argument="qrels")
        keys, documents = self._corpus(info, binding.source, binding.serving, judged, corpus_rows, seed)
        shuffled = np.random.default_rng(seed).permutation(len(keys))  # ties (BM25's zeros) must not favour judged rows
        keys, documents = [keys[i] for i in shuffled], [documents[i] for i in shuffled]
        serving = binding.serving.uri
        embedders: dict[str, tuple[Embed, int, Any]] = {serving: self._registered(serving)}
        for reference in candidates or []:
            uri = self.models.resolve(reference).uri
            embedders.setdefault(uri, self._registered(uri))
        skipped: dict[str, str] = {}
        if "lsa" in making:
            pipeline = train_lsa(documents, dims=min(256, max(2, len(documents) // 4)), seed=seed)
            dimension = int(pipeline.named_steps["svd"].n_components)
            embedders["new:lsa"] = (pipeline.transform, dimension, ("sklearn", pipeline))
        if "model2vec" in making:
            if self.models.resolve(serving).flavor == "sentence_transformers":
                static, _, _ = distill_static(self.models, serving, pca_dims=min(256, binding.serving.dimension))
                dimension = int(static.encode(["dimension"]).shape[1])
                embedders["new:model2vec"] = (static.encode, dimension, ("model2vec", static))
            else:
                skipped["new:model2vec"] = "the serving version is not a sentence-transformers model to distil"
        order = sorted(texts)
        query_texts = [texts[q] for q in order]
        scored: dict[str, dict[str, Any]] = {}
        matrices: dict[str, np.ndarray] = {}
        for name, (embed, dimension, made) in embedders.items():
            began = time.perf_counter()
            query_vectors = prepare_queries(embed(query_texts), MetricType.COSINE)
            query_ms = (time.perf_counter() - began) * 1000.0 / len(order)
            matrices[name] = query_vectors @ prepare_queries(embed(documents), MetricType.COSINE).T
            scored[name] = {
                "kind": "made" if made is not None else "registered",
                "registrable": True,
                "query_ms": query_ms,
                "bytes_per_vector": 4 * dimension,
            }
        if "bm25" in making or "hybrid" in making:
            tokenize = analyzer(info.schema.field(binding.source).analyzer_params).tokens  # None: the standard one
            document_tokens = [tokenize(text) for text in documents]
            began = time.perf_counter()
            lexical = bm25_scores([tokenize(text) for text in query_texts], document_tokens)
            query_ms = (time.perf_counter() - began) * 1000.0 / len(order)
            terms = sum(len(set(tokens)) for tokens in document_tokens) / max(1, len(document_tokens))
            cost = {"registrable": False, "bytes_per_vector": int(8 * terms)}  # a sparse row: (term id, weight) pairs
            if "bm25" in making:
                matrices["new:bm25"] = lexical
                scored["new:bm25"] = {"kind": "lexical", "query_ms": query_ms, **cost}
            if "hybrid" in making:
                matrices["new:hybrid"] = _fused(matrices[serving], lexical)
                query_ms += scored[serving]["query_ms"]
                scored["new:hybrid"] = {"kind": "hybrid", "query_ms": query_ms, "fuses": [serving, "new:bm25"], **cost}
        per_query: dict[str, np.ndarray] = {}
        for name, matrix in matrices.items():
            top = np.argsort(-matrix, axis=1, kind="stable")[:, :K]
            run = {q: [keys[j] for j in top[i]] for i, q in enumerate(order)}
            evaluation = evaluate_run(run, {q: judged[q] for q in order}, k=K)
            per_query[name] = evaluation.values("ndcg")  # the same judged queries, in the same order, for all
            scored[name].update({f"{metric}@{K}": float(evaluation.mean(metric)) for metric in ("ndcg", "recall", "mrr")})
        for name, entry in scored.items():
            if name != serving:
                difference = per_query[name] - per_query[serving]
                entry["vs_serving"] = float(difference.mean())
                entry["p_value"] = paired_randomization_test(difference, seed=seed)
        better = [n for n, e in scored.items() if n != serving and e["vs_serving"] > 0 and e["p_value"] < alpha]

        def best(names: list[str]) -> str | None:
            return max(names, key=lambda n: (scored[n][f"ndcg@{K}"], -scored[n]["query_ms"])) if names else None

        winner = best([n for n in better if scored[n]["registrable"]])
        best_overall = best(better)
        registered = None
        if winner is not None and register_winner:
            registered = self._register(
                winner,
                embedders[winner][2],
                model_name or binding.serving.model_name,
                alias,
                info.name,
                serving,
                len(order),
                scored[winner],
            )
        ranking = sorted(scored, key=lambda n: (-scored[n][f"ndcg@{K}"], scored[n]["query_ms"]))
        return cast(
            SelectionReport,
            {
                "collection_name": info.name,
                "field": field.name,
                "serving_version": serving,
                "queries": len(order),
                "corpus": len(keys),
                "candidates": scored,
                "ranking": ranking,
                "winner": winner,
                "best_overall": best_overall,
                "skipped": skipped,
                "registered": registered,
                "seconds": time.perf_counter() - started,
            },
        )

    def _registered(self, uri: str) -> tuple[Embed, int, Any]:
        loaded = self.models.load(uri)
        return loaded.embed, loaded.dimension, None

    def _corpus(
        self, info: Any, source: str, serving: Any, judged: dict[str, dict[str, float]], rows: int, seed: int
    ) -> tuple[list[str], list[str]]:
        """The judged documents that exist and a seeded sample of the other rows: (keys as text, source texts)."""
        wanted = {doc for docs in judged.values() for doc in docs}
        sampled = self.rows.sample_keys(info, serving, rows, seed)
        if info.schema.primary.dtype.is_integer:  # judgements name documents as text
            ids: list[Any] = [int(doc) for doc in sorted(wanted) if doc.lstrip("-").isdigit()]
        else:
            ids = sorted(wanted)
        corpus = {str(key): text for key, text in self.rows.texts(info, source, [*ids, *sampled]).items()}
        if not wanted & set(corpus):
            raise InvalidArgumentError("none of the judged documents is in the collection", argument="qrels")
        return list(corpus), list(corpus.values())

    def _register(
        self,
        winner: str,
        made: Any,
        name: str,
        alias: str,
        collection: str,
        serving: str,
        queries: int,
        scores: dict[str, Any],
    ) -> str:
        metrics = {key: value for key, value in scores.items() if isinstance(value, float) and key != "p_value"}
        if made is None:  # a registered version: the alias points at it
            return self.registration.set_alias(
                self.models.resolve(winner), alias, reason=f"select_model on {collection}"
            )
        flavor, model = made
        distilled = flavor == "model2vec"
        return self.registration.register(
            name,
            model,
            flavor=flavor,
            alias=alias,
            description=f"{winner[4:]} {'distilled' if distilled else 'fitted'} by select_model on {collection}",
            metrics=metrics,
            lineage=Lineage(
                parent=serving if distilled else None,
                training_data=f"token vocabulary of {serving}" if distilled else f"{collection} source texts",
            ),
            params={"judged_queries": queries},
        )


def _checked(queries: Any, qrels: Any, corpus_rows: int, alpha: float) -> None:
    if not isinstance(queries, Mapping) or not isinstance(qrels, Mapping):
        raise InvalidArgumentError("queries and qrels must be mappings (BEIR shapes)", argument="qrels")
    check_qrels(qrels)
    if isinstance(corpus_rows, bool) or not isinstance(corpus_rows, int) or not 100 <= corpus_rows <= 200_000:
        raise InvalidArgumentError("corpus_rows must be an integer in [100, 200000]", argument="corpus_rows")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidArgumentError("alpha must be in (0, 1)", argument="alpha")


def _checked_make(make: Any) -> tuple[str, ...]:
    if make is None:
        return MAKEABLE
    if isinstance(make, str) or not all(isinstance(kind, str) for kind in make):
        raise InvalidArgumentError(f"make must be a list of {list(MAKEABLE)}", argument="make")
    unknown = sorted(set(make) - set(MAKEABLE))
    if unknown:
        raise InvalidArgumentError(f"cannot make {unknown}; known: {list(MAKEABLE)}", argument="make")
    return tuple(make)


def _fused(dense: np.ndarray, lexical: np.ndarray) -> np.ndarray:
    """Reciprocal rank fusion of two score matrices over the same documents: ``sum 1 / (RRF_K + rank)``."""
    fused = np.zeros_like(dense, dtype=np.float64)
    for scores in (dense, lexical):
        ranks = np.empty_like(scores, dtype=np.float64)
        order = np.argsort(-scores, axis=1, kind="stable")
        np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1, dtype=np.float64)[None, :], axis=1)
        fused += 1.0 / (RRF_K + ranks)
    return fused
