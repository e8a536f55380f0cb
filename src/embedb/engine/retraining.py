"""The ``fine_tune`` operation: a new model version trained on what users of a field clicked.

The pairs are (query text, clicked or positively graded document) from the
feedback of the field's experiments — or given. A scikit-learn LSA version takes
the cheaper path: it is fitted again on today's texts (and the training queries). They are split by query text
into training and held-out queries (seeded), so no held-out query is trained
on. The serving version is fine-tuned (``embedb.models.fine_tune``), then both
it and the result rank a corpus of the held-out queries' documents and a seeded
sample of the collection's other rows; nDCG@10, recall@10 and MRR@10 of both go
into the new version's metrics, and its lineage names the parent version and
the feedback it learnt from. The new version is registered, not served: adding
it to the field (a backfill) and an experiment decide whether it serves.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from embedb.contract.results import FineTuneReport
from embedb.engine.making import CollectionRows, Registration
from embedb.errors import InvalidArgumentError
from embedb.evaluation.metrics import evaluate_run
from embedb.evaluation.stats import check_seed
from embedb.experiments import ExperimentService
from embedb.lifecycle import FieldBinding
from embedb.metadata import CollectionMetadata
from embedb.models import Lineage, ModelRegistry
from embedb.models.fine_tune import check_fine_tune_settings, fine_tune_pairs, refit_lsa
from embedb.query import prepare_queries
from embedb.schema import MetricType
from embedb.storage import CollectionInfo

K = 10
MAX_REFIT_ROWS = 50_000


class RetrainingOperation:
    """The ``fine_tune`` operation of the contract."""

    def __init__(
        self,
        metadata: CollectionMetadata,
        models: ModelRegistry,
        rows: CollectionRows,
        registration: Registration,
        experiments: ExperimentService,
    ) -> None:
        self.metadata = metadata
        self.models = models
        self.rows = rows
        self.registration = registration
        self.experiments = experiments

    def fine_tune(
        self,
        collection_name: str,
        field_name: str,
        *,
        pairs: Sequence[Any] | None = None,
        experiment_ids: Sequence[int] | None = None,
        holdout: float = 0.2,
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float = 5e-5,
        model_name: str | None = None,
        alias: str | None = None,
        eval_rows: int = 2000,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> FineTuneReport:
        started = time.perf_counter()
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        binding = self.metadata.bindings(info).get(field.name)
        if binding is None or binding.tokenized:
            raise InvalidArgumentError(f"field {field.name!r} is not bound to an embedding model: nothing to fine-tune")
        if not isinstance(holdout, float | int) or isinstance(holdout, bool) or not 0 < holdout < 1:
            raise InvalidArgumentError(f"holdout must be a share in (0, 1), got {holdout!r}", argument="holdout")
        if isinstance(eval_rows, bool) or not isinstance(eval_rows, int) or not 100 <= eval_rows <= 100_000:
            # fewer rows than that and every version finds the held-out documents: the scores would say nothing
            raise InvalidArgumentError(
                f"eval_rows must be an integer in [100, 100000], got {eval_rows!r}", argument="eval_rows"
            )
        check_seed(seed)
        check_fine_tune_settings(epochs, batch_size, learning_rate, 20.0)
        parent = self.models.get_version(binding.serving.model_name, binding.serving.model_version)
        labelled, source = self._pairs(info, field.name, pairs, experiment_ids)
        texts = self._texts(info, binding, {doc for _, doc in labelled})
        usable = [(query, doc) for query, doc in labelled if doc in texts]
        queries = sorted({query for query, _ in usable})
        if len(queries) < 4:
            raise InvalidArgumentError(
                f"fine-tuning needs pairs of at least 4 distinct queries whose documents exist, got {len(queries)}",
                argument="pairs",
            )
        random.Random(seed).shuffle(queries)
        held = set(queries[: max(1, math.ceil(holdout * len(queries)))])
        training = [(query, texts[doc]) for query, doc in usable if query not in held]
        evaluation = [(query, doc) for query, doc in usable if query in held]
        corpus = self._corpus(info, binding, evaluation, texts, eval_rows, seed)
        flavor = parent.flavor
        if flavor == "sklearn":  # the cheaper path: refit on today's texts and the training queries
            stored = self._corpus(info, binding, [], texts, MAX_REFIT_ROWS, seed)[1]
            model, trained = refit_lsa(parent, [*stored, *(query for query, _ in training)], seed=seed)
            embed_new: Callable[[list[str]], np.ndarray] = model.transform
        else:
            model, trained = fine_tune_pairs(
                self.models,
                parent,
                training,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                seed=seed,
                progress=progress,
            )
            embed_new = lambda batch: model.encode(batch, batch_size=64, convert_to_numpy=True)  # noqa: E731
        before = _score(lambda batch: self.models.load(parent.uri).embed(batch), evaluation, corpus)
        after = _score(embed_new, evaluation, corpus)
        version = self.registration.register(
            model_name or parent.name,
            model,
            flavor=flavor,
            alias=alias,
            description=f"{parent.uri} fine-tuned on {len(training)} pairs from {source}",
            params={
                "fine_tuned_from": parent.uri,
                "epochs": epochs,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "method": trained["method"],
                "seed": seed,
                "training_pairs": len(training),
                "heldout_queries": len(held),
                **{key: trained[key] for key in ("torch", "sentence_transformers", "scikit_learn") if key in trained},
            },
            metrics={
                **{f"heldout_{name}@{K}": value for name, value in after.items()},
                **{f"parent_heldout_{name}@{K}": value for name, value in before.items()},
                "train_seconds": round(trained["seconds"], 3),
            },
            lineage=Lineage(parent=parent.uri, training_data=f"{info.name}.{field.name}: {source}"),
        )
        return cast(
            FineTuneReport,
            {
                "collection_name": info.name,
                "field": field.name,
                "parent_version": parent.uri,
                "model_version": version,
                "pairs": len(usable),
                "training_pairs": len(training),
                "heldout_queries": len(held),
                "eval_corpus": len(corpus[0]),
                "before": before,
                "after": after,
                "device": trained["device"],
                "steps": trained["steps"],
                "first_loss": trained["first_loss"],
                "last_loss": trained["last_loss"],
                "train_seconds": trained["seconds"],
                "seconds": time.perf_counter() - started,
            },
        )

    def _pairs(
        self, info: CollectionInfo, field: str, pairs: Sequence[Any] | None, experiment_ids: Sequence[int] | None
    ) -> tuple[list[tuple[str, Any]], str]:
        """(query text, document key) pairs and where they came from: given, or the field's experiments' feedback."""
        if pairs is not None:
            if experiment_ids is not None:
                raise InvalidArgumentError("give pairs or experiment_ids, not both", argument="pairs")
            given = list(
                dict.fromkeys(_pair(item, position) for position, item in enumerate(pairs))
            )  # a copy is no negative
            return given, f"{len(given)} given pairs"
        records = [r for r in self.experiments.store.select(info.id) if r.field == field]
        if experiment_ids is not None:
            wanted = set(experiment_ids)
            unknown = wanted - {r.id for r in records}
            if unknown:
                raise InvalidArgumentError(
                    f"no experiment {sorted(unknown)} on field {field!r} of {info.name!r}", argument="experiment_ids"
                )
            records = [r for r in records if r.id in wanted]
        self.experiments.flush()
        found: dict[tuple[str, str], tuple[str, Any]] = {}
        for record in records:
            texts = {entry.query_id: entry.text for entry in self.experiments.store.queries(record.id)}
            for event in self.experiments.store.feedback(record.id):
                text = texts.get(event.query_id)
                if event.positive and text:
                    found.setdefault((text, str(event.doc_id)), (text, event.doc_id))
        ids = ", ".join(str(r.id) for r in records) or "none"
        return list(found.values()), f"feedback of experiments {ids}"

    def _texts(self, info: CollectionInfo, binding: FieldBinding, keys: set[Any]) -> dict[Any, str]:
        return self.rows.texts(info, binding.source, sorted(keys, key=str))

    def _corpus(
        self,
        info: CollectionInfo,
        binding: FieldBinding,
        evaluation: list[tuple[str, Any]],
        texts: dict[Any, str],
        rows: int,
        seed: int,
    ) -> tuple[list[Any], list[str]]:
        """The documents held-out queries are ranked among: their own, and a seeded sample of the others."""
        others = self._texts(info, binding, set(self.rows.sample_keys(info, binding.serving, rows, seed)))
        corpus = {doc: texts[doc] for _, doc in evaluation} | others
        return list(corpus), list(corpus.values())


def _pair(item: Any, position: int) -> tuple[str, Any]:
    query, doc = (
        (item.get("query"), item.get("doc_id"))
        if isinstance(item, dict)
        else (item if isinstance(item, list | tuple) and len(item) == 2 else (None, None))
    )
    if not isinstance(query, str) or not query.strip() or isinstance(doc, bool) or not isinstance(doc, int | str):
        raise InvalidArgumentError(
            f"pairs[{position}] must be {{'query': text, 'doc_id': primary key}} or [text, primary key]",
            argument="pairs",
        )
    return query, doc


def _score(
    embed: Callable[[list[str]], np.ndarray], evaluation: list[tuple[str, Any]], corpus: tuple[list[Any], list[str]]
) -> dict[str, float]:
    """nDCG, recall and MRR at 10 of the held-out queries over ``corpus``, by cosine similarity."""
    keys, documents = corpus
    queries = sorted({query for query, _ in evaluation})
    matrix = prepare_queries(embed(documents), MetricType.COSINE)
    scores = prepare_queries(embed(queries), MetricType.COSINE) @ matrix.T
    top = np.argsort(-scores, axis=1)[:, :K]
    run = {str(i): [str(keys[j]) for j in top[i]] for i in range(len(queries))}
    position = {query: str(i) for i, query in enumerate(queries)}
    qrels: dict[str, dict[str, float]] = {}
    for query, doc in evaluation:
        qrels.setdefault(position[query], {})[str(doc)] = 1.0
    result = evaluate_run(run, qrels, k=K)
    return {name: float(result.mean(name)) for name in ("ndcg", "recall", "mrr")}
