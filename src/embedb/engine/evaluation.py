"""Offline evaluation of a field's model versions on labelled queries, and the ANN check of their indexes.

``EvaluationOperation.evaluate`` is the contract's ``evaluate``: it embeds the
queries with each version, searches with that version's vectors (through
``embedb.search``), scores the rankings and compares them
(``embedb.evaluation.offline``), and measures each version's index against
exact search on the same snapshot. It writes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np

from embedb.contract.results import EvaluationReport
from embedb.errors import InvalidArgumentError
from embedb.evaluation import Progress, evaluate_configs, evaluate_versions, exact_recall
from embedb.experiments import CONFIG_FLAVOR
from embedb.index import IndexService, search_options
from embedb.lifecycle import EmbeddingVersion, LifecycleService
from embedb.metadata import CollectionMetadata
from embedb.models import ModelRegistry
from embedb.query import NO_ROW, prepare_queries
from embedb.schema import FieldSchema
from embedb.search import ConfiguredSearch, SearchOperation, SearchRequest, index_text, search_snapshot
from embedb.storage import CollectionInfo, StorageEngine

ANN_LATENCY_QUERIES = 200


class EvaluationOperation:
    """The ``evaluate`` operation of the contract."""

    def __init__(
        self,
        storage: StorageEngine,
        metadata: CollectionMetadata,
        indexes: IndexService,
        models: ModelRegistry,
        lifecycle: LifecycleService,
        searcher: SearchOperation,
        configured: ConfiguredSearch,
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.indexes = indexes
        self.models = models
        self.lifecycle = lifecycle
        self.searcher = searcher
        self.configured = configured

    # ---------------------------------------------------------- evaluation

    def evaluate(
        self,
        collection_name: str,
        field_name: str,
        *,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, float]],
        versions: Sequence[str] | None = None,
        k: int = 10,
        baseline: str | None = None,
        candidate: str | None = None,
        metric: str = "ndcg@10",
        min_delta: float = 0.0,
        ann_check: bool = True,
        progress: Progress | None = None,
    ) -> EvaluationReport:
        """Score model versions of a field on labelled queries and gate the candidate (see ``Backend``)."""
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        self.lifecycle.binding(info, field.name)

        def embed(ref: str, texts: list[str]) -> np.ndarray:
            return self.models.load(self.field_version(info, field.name, ref).uri).embed(texts)

        def search_ids(ref: str, vectors: np.ndarray, depth: int) -> list[list[Any]]:
            hits = self.searcher.search(
                info.name, vectors, anns_field=field.name, limit=depth, output_fields=[], embedding_version=ref
            )
            return [[hit["id"] for hit in query_hits] for query_hits in hits]

        def check(ref: str, vectors: np.ndarray, depth: int) -> dict[str, Any]:
            return self.measure_ann(info, field, self.field_version(info, field.name, ref), vectors, depth)

        report = evaluate_versions(
            queries=queries,
            qrels=qrels,
            versions=versions or [],
            embed=embed,
            search=search_ids,
            k=k,
            baseline=baseline,
            candidate=candidate,
            metric=metric,
            min_delta=min_delta,
            ann_check=check if ann_check else None,
            progress=progress,
        )
        for ref, entry in report["versions"].items():
            entry["model_version"] = self.field_version(info, field.name, ref).uri
        return cast(EvaluationReport, {"collection_name": info.name, "field": field.name, **report})

    def evaluate_search(
        self,
        collection_name: str,
        *,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, float]],
        configs: Mapping[str, Mapping[str, Any] | str],
        k: int = 10,
        baseline: str | None = None,
        candidate: str | None = None,
        metric: str = "ndcg@10",
        min_delta: float = 0.0,
        progress: Progress | None = None,
    ) -> EvaluationReport:
        """Score search configurations on labelled queries and gate the candidate (see ``Backend``)."""
        info = self.metadata.info(collection_name)

        def run(config: dict[str, Any], texts: list[str], depth: int) -> list[list[Any]]:
            hits = self.configured.run_config(info.name, config, texts, limit=depth, output_fields=[])
            return [[hit["id"] for hit in query_hits] for query_hits in hits]

        report = evaluate_configs(
            queries=queries,
            qrels=qrels,
            configs=configs,
            resolve=self._registered_config,
            run=run,
            k=k,
            baseline=baseline,
            candidate=candidate,
            metric=metric,
            min_delta=min_delta,
            progress=progress,
        )
        return cast(EvaluationReport, {"collection_name": info.name, "field": "", **report})

    def _registered_config(self, ref: str) -> tuple[str, dict[str, Any]]:
        """(version URI, configuration) of a registered search configuration version."""
        version = self.models.resolve(ref)
        if version.flavor != CONFIG_FLAVOR:
            raise InvalidArgumentError(f"configs: {ref!r} is a {version.flavor} model, not a search configuration", field="configs")
        return version.uri, self.configured.config(version.uri)

    def ann_of_texts(self, collection_name: str, field_name: str, ref: str, texts: list[str], k: int) -> dict[str, Any]:
        """``measure_ann`` for texts embedded here with version ``ref`` (how a cluster's shard measures its index)."""
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        version = self.field_version(info, field.name, ref)
        return self.measure_ann(info, field, version, self.models.load(version.uri).embed(texts), k)

    def field_version(self, info: CollectionInfo, field: str, ref: str) -> EmbeddingVersion:
        return self.lifecycle.binding(info, field).version(self.models.resolve(ref))

    def measure_ann(
        self, info: CollectionInfo, field: FieldSchema, version: EmbeddingVersion, vectors: np.ndarray, k: int
    ) -> dict[str, Any]:
        """The field's index on ``version``'s vectors against exact search: recall@k and per-query latency."""
        assert field.metric_type is not None
        collection = self.indexes.collection(info)
        definition = collection.definition_for_key(version.column_key)
        snapshot = self.storage.store(info).snapshot()
        exact = SearchRequest(version.column_key, field.metric_type, prepare_queries(vectors, field.metric_type), k)
        params = (
            {}
            if definition is None
            else dict(
                search_options(
                    None,
                    metric=field.metric_type,
                    field_name=field.name,
                    k=k,
                    spec=definition.spec,
                    defaults=definition.search_defaults,
                ).params
            )
        )
        ann = replace(exact, params=params)
        _, true_segments, true_rows = search_snapshot(snapshot, exact, row_filter=None, partition_ids=None)
        _, segments, rows = search_snapshot(
            snapshot, ann, row_filter=None, partition_ids=None, searcher=self.searcher.planner(collection)
        )
        latencies = []
        for position in range(min(ANN_LATENCY_QUERIES, exact.queries.shape[0])):
            one = replace(ann, queries=ann.queries[position : position + 1])
            started = time.perf_counter()
            search_snapshot(snapshot, one, row_filter=None, partition_ids=None, searcher=self.searcher.planner(collection))
            latencies.append((time.perf_counter() - started) * 1000.0)
        sealed = [v for v in snapshot.segments if v.sealed and version.column_key in v.data.vectors]
        p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"), float("nan"))
        return {
            "index": index_text(collection, field.name),
            "k": k,
            "recall_at_k": exact_recall(_slots(segments, rows), _slots(true_segments, true_rows), NO_ROW),
            "p50_ms": float(p50),
            "p99_ms": float(p99),
            "latency_queries": len(latencies),
            "indexed_segments": sum(
                1 for v in sealed if collection.lookup(v.data.segment_id, version.column_key) is not None
            ),
            "sealed_segments": len(sealed),
        }


def _slots(segments: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One integer per hit (segment position and row), ``NO_ROW`` where there is none."""
    return np.where(rows == NO_ROW, NO_ROW, segments.astype(np.int64) * (1 << 40) + rows)
