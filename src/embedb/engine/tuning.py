"""The ``tune_index`` operation: AutoML for a vector field's index, on the collection's own vectors.

A seeded sample of the field's stored vectors (of the serving version, or
``embedding_version``) is the data; the queries are given (texts or vectors), or
the query texts the field's experiments logged (when there are at least 50: real
queries can be harder than stored rows — on MiniLM WordNet vectors a recipe
meeting recall 0.96 on held-out rows gave 0.93 on unseen queries), or else
held out of the sample. The exact top k of every query (Faiss flat search over
the sample) is the truth. ``embedb.index.tuning`` searches index types and
parameters with Optuna for the fastest configuration meeting the recall target
within the budgets; the report holds every measured point, the Pareto front and
the best one as a recipe (``index_type`` and ``params`` for ``create_index``, the
search parameters for ``search``). With ``apply=True`` the tuned column (the
version's vectors) is indexed by the recipe, searched at its search parameters
unless a request names others — its own index within the field's, so each model
version has its tuned index and a promotion serves it as built; the recipe is also kept as a tag of a bound field's
model version (``index_recipe:<collection>.<field>``), with what it met.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import faiss
import numpy as np

from embedb.contract.results import TuneReport
from embedb.engine.indexes import IndexOperations
from embedb.engine.samples import stored_sample
from embedb.errors import InvalidArgumentError
from embedb.evaluation.stats import check_seed
from embedb.experiments import ExperimentService
from embedb.index import TunedPoint, available_types, best_point, pareto_front, tune
from embedb.lifecycle import EmbeddingVersion, embed_query_text
from embedb.metadata import CollectionMetadata
from embedb.models import ModelRegistry
from embedb.query import prepare_queries
from embedb.schema import FieldSchema, MetricType
from embedb.search import SearchOperation
from embedb.storage import CollectionInfo

MAX_TUNE_ROWS = 1_000_000
HELD_OUT_QUERIES = 200
MIN_LOGGED_QUERIES = 50  # fewer logged query texts than this: stored rows are held out as queries instead
MAX_LOGGED_QUERIES = 1_000
MAX_BUDGET = 1e9  # MiB or seconds: larger is no budget at all, and would overflow once scaled to bytes


class TuningOperation:
    """The ``tune_index`` operation of the contract."""

    def __init__(
        self,
        metadata: CollectionMetadata,
        models: ModelRegistry,
        searcher: SearchOperation,
        indexes: IndexOperations,
        experiments: ExperimentService,
    ) -> None:
        self.metadata = metadata
        self.models = models
        self.searcher = searcher
        self.index_operations = indexes
        self.experiments = experiments

    def tune_index(
        self,
        collection_name: str,
        field_name: str,
        *,
        recall: float = 0.95,
        k: int = 10,
        index_types: Sequence[str] | None = None,
        trials: int = 20,
        sample_rows: int = 20_000,
        queries: Mapping[str, Any] | None = None,
        max_memory_mb: float | None = None,
        max_build_s: float | None = None,
        embedding_version: str | None = None,
        apply: bool = False,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> TuneReport:
        started = time.perf_counter()
        report, adoption = self.measure(
            collection_name,
            field_name,
            recall=recall,
            k=k,
            index_types=index_types,
            trials=trials,
            sample_rows=sample_rows,
            queries=queries,
            max_memory_mb=max_memory_mb,
            max_build_s=max_build_s,
            embedding_version=embedding_version,
            seed=seed,
            progress=progress,
        )
        if adoption is not None:
            self.adopt(adoption, apply=apply, sync=True)
        return cast(
            TuneReport,
            {**report, "applied": adoption is not None and apply, "seconds": time.perf_counter() - started},
        )

    def measure(
        self,
        collection_name: str,
        field_name: str,
        *,
        recall: float,
        k: int,
        index_types: Sequence[str] | None,
        trials: int,
        sample_rows: int,
        queries: Mapping[str, Any] | None,
        max_memory_mb: float | None,
        max_build_s: float | None,
        embedding_version: str | None,
        seed: int,
        progress: Callable[[int, int], None] | None = None,
        rows: np.ndarray | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The tuning itself, nothing written: the report (less ``applied``, ``seconds``) and what adopting its best writes.

        The adoption (None when nothing met the target) is what ``adopt`` takes. ``rows``: the stored vectors to
        tune on, drawn elsewhere (a cluster's router draws one sample over every shard, ``sample``); by default a
        seeded sample of ``sample_rows`` of this database's rows.
        """
        check_tune_settings(recall, k, trials, sample_rows, max_memory_mb, max_build_s, seed)
        info, field, version, key, dimension = self._target(collection_name, field_name, embedding_version)
        assert field.metric_type is not None
        metric = field.metric_type
        types = available_types(index_types, metric)
        rng = np.random.default_rng(seed)
        base = stored_sample(self.metadata, info, key, dimension, "", sample_rows, rng)[0] if rows is None else rows
        if queries is None and version is not None:
            logged = self._logged_texts(info.id, field.name, rng)
            queries = {"texts": logged} if len(logged) >= MIN_LOGGED_QUERIES else None
            source = "logged" if queries is not None else "held-out rows"
        else:
            source = "given" if queries is not None else "held-out rows"
        stored = len(base)
        base, probe = self._queries(queries, base, version, dimension, rng)
        if len(base) < 10 * k:
            raise InvalidArgumentError(
                f"tuning needs at least {10 * k} rows of {field.name!r} to index besides its queries; "
                f"it has {stored} stored rows, {len(base)} once the queries are held out"
            )
        vectors = prepare_queries(np.ascontiguousarray(base, dtype=np.float32), metric)
        probe = prepare_queries(np.ascontiguousarray(probe, dtype=np.float32), metric)
        truth = _exact_top_k(vectors, probe, k, metric)
        points = tune(
            vectors,
            probe,
            truth,
            metric=metric,
            k=k,
            recall=recall,
            index_types=types,
            trials=trials,
            max_memory_bytes=int(max_memory_mb * 2**20) if max_memory_mb is not None else None,
            max_build_s=max_build_s,
            seed=seed,
            progress=progress,
        )
        best = best_point(points)
        adoption = None
        if best is not None:
            adoption = {
                "collection_name": info.name,
                "field_name": field.name,
                "column_key": key,
                "dimension": dimension,
                "model": [version.model_name, version.model_version] if version is not None else None,
                "recipe": {**_recipe(best), "recall_target": recall, "k": k},
            }
        return (
            {
                "collection_name": info.name,
                "field": field.name,
                "model_version": version.uri if version is not None else None,
                "recall_target": recall,
                "k": k,
                "rows": len(vectors),
                "queries": len(probe),
                "queries_from": source,
                "index_types": list(types),
                "best": _recipe(best) if best is not None else None,
                "pareto": [point.to_dict() for point in pareto_front(points)],
                "points": [point.to_dict() for point in points],
            },
            adoption,
        )

    def sample(
        self, collection_name: str, field_name: str, embedding_version: str | None, sample_rows: int, seed: list[int]
    ) -> tuple[np.ndarray, list[Any], int]:
        """A seeded sample of a field's stored vectors (the version ``measure`` tunes): vectors, keys, rows there."""
        info, _, _, key, dimension = self._target(collection_name, field_name, embedding_version)
        vectors, keys, matched = stored_sample(
            self.metadata, info, key, dimension, "", sample_rows, np.random.default_rng(seed)
        )
        return vectors.astype(np.float32), keys, matched

    def _target(
        self, collection_name: str, field_name: str, embedding_version: str | None
    ) -> tuple[CollectionInfo, FieldSchema, EmbeddingVersion | None, str, int]:
        """What a tuning indexes: the collection, a dense vector field, its version, the column and its dimension."""
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        if not field.dtype.is_vector or field.metric_type is None:
            raise InvalidArgumentError(f"index tuning covers dense vector fields; {field.name!r} is {field.dtype.name}")
        version = self.searcher.bound_version(field, embedding_version, self.metadata.bindings(info))
        key = version.column_key if version is not None else field.name
        dimension = version.dimension if version is not None else (field.dim or 0)
        return info, field, version, key, dimension

    def adopt(self, adoption: Mapping[str, Any], *, apply: bool, sync: bool, on_a_shard: bool = False) -> None:
        """Write what ``measure`` found: with ``apply`` index the tuned column by the recipe; a bound
        field's model version keeps the recipe as a tag. ``sync`` waits for the index to be built.
        ``on_a_shard``: a cluster's shard adopts a recipe measured elsewhere, maybe holding none of the rows."""
        collection, field, recipe = adoption["collection_name"], adoption["field_name"], adoption["recipe"]
        if apply:
            self._apply(
                collection, field, adoption["column_key"], int(adoption["dimension"]), recipe, sync=sync,
                require_vectors=not on_a_shard,
            )  # fmt: skip
        if adoption["model"] is not None:
            name, number = adoption["model"]
            tag = f"index_recipe:{collection}.{field}"
            self.models.set_tag(name, tag, json.dumps(recipe, sort_keys=True), version=int(number))

    def _queries(
        self,
        queries: Mapping[str, Any] | None,
        base: np.ndarray,
        version: EmbeddingVersion | None,
        dimension: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows to index, queries): given ``{"texts": [...]}`` / ``{"vectors": [...]}``, or held out of the sample."""
        if queries is None:
            held = min(HELD_OUT_QUERIES, len(base) // 10)
            order = rng.permutation(len(base))
            return base[order[held:]], base[order[:held]]
        if not isinstance(queries, Mapping) or len(queries) != 1 or next(iter(queries)) not in ("texts", "vectors"):
            raise InvalidArgumentError("queries must be {'texts': [...]} or {'vectors': [...]}", argument="queries")
        kind, value = next(iter(queries.items()))
        if kind == "texts":
            if (
                version is None
                or not isinstance(value, list)
                or not value
                or not all(isinstance(t, str) for t in value)
            ):
                raise InvalidArgumentError(
                    "queries: texts need a model-bound field and a list of strings", argument="queries"
                )
            return base, embed_query_text(value, version, self.models)
        matrix = np.asarray(value, dtype=np.float64) if isinstance(value, list | np.ndarray) else np.empty(0)
        if matrix.ndim != 2 or matrix.shape[1] != dimension or not len(matrix) or not np.all(np.isfinite(matrix)):
            raise InvalidArgumentError(
                f"queries: vectors must be a list of finite {dimension}-d vectors", argument="queries"
            )
        return base, matrix

    def _logged_texts(self, collection_id: int, field: str, rng: np.random.Generator) -> list[str]:
        """Distinct query texts the field's experiments logged (at most ``MAX_LOGGED_QUERIES``, seeded)."""
        self.experiments.flush()
        texts: set[str] = set()
        for record in self.experiments.store.select(collection_id):
            if record.field == field:
                texts.update(entry.text for entry in self.experiments.store.queries(record.id) if entry.text)
        ordered = sorted(texts)
        if len(ordered) > MAX_LOGGED_QUERIES:
            ordered = [ordered[i] for i in sorted(rng.choice(len(ordered), MAX_LOGGED_QUERIES, replace=False))]
        return ordered

    def _apply(
        self,
        collection: str,
        field: str,
        key: str,
        dimension: int,
        recipe: Mapping[str, Any],
        *,
        sync: bool,
        require_vectors: bool = True,
    ) -> None:
        """Index the tuned column with the recipe (and, with ``sync``, wait until it is built).

        A field without an index gets the recipe as its index. On an indexed field
        the tuned version's column gets its own spec (one catalog transaction); the
        field's other versions keep theirs, so a challenger is tuned before it serves.
        """
        if not self.index_operations.list_indexes(collection, field):
            self.index_operations.create_index(
                collection, field_name=field, index_type=recipe["index_type"], params=dict(recipe["params"]), sync=sync
            )
            return
        self.index_operations.set_version_index(
            collection,
            field,
            key,
            dim=dimension,
            index_type=recipe["index_type"],
            params=dict(recipe["params"]),
            search_params=dict(recipe["search_params"]),
            sync=sync,
            require_vectors=require_vectors,
        )


def _recipe(point: TunedPoint) -> dict[str, Any]:
    return {
        "index_type": point.index_type,
        "params": dict(point.params),
        "search_params": dict(point.search_params),
        "recall": point.recall,
        "recall_low": point.recall_low,
        "qps": point.qps,
        "qps_batch": point.qps_batch,
        "memory_bytes": point.memory_bytes,
        "build_s": point.build_s,
    }


def _exact_top_k(base: np.ndarray, queries: np.ndarray, k: int, metric: MetricType) -> np.ndarray:
    """The exact top-k rows of each query (prepared vectors: COSINE is inner product here)."""
    flat = faiss.IndexFlatL2(base.shape[1]) if metric is MetricType.L2 else faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    _, rows = flat.search(queries, k)
    return np.asarray(rows, dtype=np.int64)


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_tune_settings(
    recall: float,
    k: int,
    trials: int,
    sample_rows: int,
    max_memory_mb: float | None,
    max_build_s: float | None,
    seed: int,
) -> None:
    checks = (
        (
            "recall",
            isinstance(recall, int | float) and not isinstance(recall, bool) and 0.0 < recall <= 1.0,
            "in (0, 1]",
        ),
        ("k", isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= 1024, "an integer in [1, 1024]"),
        (
            "trials",
            isinstance(trials, int) and not isinstance(trials, bool) and 1 <= trials <= 1000,
            "an integer in [1, 1000]",
        ),
        (
            "sample_rows",
            isinstance(sample_rows, int) and not isinstance(sample_rows, bool) and 100 <= sample_rows <= MAX_TUNE_ROWS,
            f"an integer in [100, {MAX_TUNE_ROWS}]",
        ),
        (
            "max_memory_mb",
            max_memory_mb is None or (_positive(max_memory_mb) and max_memory_mb <= MAX_BUDGET),
            f"a positive number up to {MAX_BUDGET:.0e}",
        ),
        (
            "max_build_s",
            max_build_s is None or (_positive(max_build_s) and max_build_s <= MAX_BUDGET),
            f"a positive number up to {MAX_BUDGET:.0e}",
        ),
    )
    for name, ok, wanted in checks:
        if not ok:
            raise InvalidArgumentError(f"{name} must be {wanted}", argument=name)
    check_seed(seed)
