"""The experiments part of ``LocalBackend``: online experiments, feedback, offline evaluation.

Kept apart from ``local.py`` so each file stays readable; the methods are the
``Backend`` contract's and route to ``embedb.lifecycle`` (experiment service,
online report, evaluation). ``_experiment_search`` is the hook ``search`` calls
when a collection has a running experiment: text searches on the experiment's
field are routed by it; vector searches, grouped searches and searches that name
an ``embedding_version`` are not (a vector cannot be re-embedded for the other
arm), so they are answered by the serving version — the champion — and not logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from embedb.errors import InvalidArgumentError
from embedb.lifecycle.bindings import EmbeddingVersion
from embedb.lifecycle.embedding import is_text_query
from embedb.lifecycle.evaluation import Progress, evaluate_versions, exact_recall
from embedb.lifecycle.experiment_service import ExperimentService
from embedb.lifecycle.experiments import ExperimentRecord
from embedb.query.exact import NO_ROW, prepare_queries
from embedb.query.reads import SearchRequest, search_snapshot

if TYPE_CHECKING:
    from embedb.backends import SearchHits
    from embedb.index.manager import CollectionIndexes, IndexService
    from embedb.lifecycle.service import LifecycleService
    from embedb.models import ModelRegistry
    from embedb.schema import FieldSchema
    from embedb.storage.engine import CollectionInfo, StorageEngine

ANN_LATENCY_QUERIES = 200


class LocalExperimentMethods:
    """Mixed into ``LocalBackend``; relies on its ``experiments``, ``lifecycle``, ``engine``, ``indexes`` and ``search``."""

    experiments: ExperimentService
    lifecycle: LifecycleService
    engine: StorageEngine
    indexes: IndexService
    models: ModelRegistry

    def _info(self, name: str) -> CollectionInfo:  # provided by LocalBackend
        raise NotImplementedError

    def _search_field(self, info: CollectionInfo, anns_field: str | None) -> FieldSchema:  # provided by LocalBackend
        raise NotImplementedError

    search: Callable[..., SearchHits]  # LocalBackend.search

    def _check_open(self) -> None:  # provided by LocalBackend
        raise NotImplementedError

    # --------------------------------------------------------- experiments

    def start_experiment(
        self,
        collection_name: str,
        field_name: str,
        *,
        champion: str,
        challenger: str,
        mode: str,
        split: float = 0.5,
        k: int = 10,
        alpha: float = 0.05,
        sequential: bool = True,
        horizon: int | None = None,
    ) -> dict[str, Any]:
        """Route the field's text searches through a new experiment; return it (see ``Backend``)."""
        info = self._info(collection_name)
        record = self.experiments.start(
            info,
            field_name,
            champion=champion,
            challenger=challenger,
            mode=mode,
            split=split,
            k=k,
            alpha=alpha,
            sequential=sequential,
            horizon=horizon,
        )
        return record.to_dict(info.name)

    def get_experiment(self, experiment_id: int) -> dict[str, Any]:
        record, name = self._experiment(experiment_id)
        return record.to_dict(name)

    def list_experiments(self, collection_name: str | None = None) -> list[dict[str, Any]]:
        collection_id = self._info(collection_name).id if collection_name is not None else None
        return [
            record.to_dict(self.engine.collection_by_id(record.collection_id).name)
            for record in self.experiments.store.select(collection_id)
        ]

    def experiment_report(self, experiment_id: int) -> dict[str, Any]:
        record, name = self._experiment(experiment_id)
        return self.experiments.report(self._info(name), record).to_dict()

    def stop_experiment(self, experiment_id: int) -> dict[str, Any]:
        record, name = self._experiment(experiment_id)
        return self.experiments.stop(self._info(name), record.id).to_dict(name)

    def promote_experiment(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        record, name = self._experiment(experiment_id)
        ended, report, moved = self.experiments.promote(self._info(name), record.id, reason=reason, actor=actor)
        return {**moved, "experiment": ended.to_dict(name), "report": report.to_dict()}

    def feedback(
        self, collection_name: str, query_id: str, doc_id: Any, *, kind: str = "click", relevance: float | None = None
    ) -> dict[str, Any]:
        return self.experiments.feedback(self._info(collection_name), query_id, doc_id, kind=kind, relevance=relevance)

    def _experiment(self, experiment_id: int) -> tuple[ExperimentRecord, str]:
        if isinstance(experiment_id, bool) or not isinstance(experiment_id, int):
            raise InvalidArgumentError(
                f"experiment_id must be an integer, got {experiment_id!r}", field="experiment_id"
            )
        self._check_open()
        record = self.experiments.store.get(experiment_id)
        return record, self.engine.collection_by_id(record.collection_id).name

    # ------------------------------------------------------------- routing

    def _experiment_search(
        self, info: CollectionInfo, data: Any, user_key: str | None, options: dict[str, Any]
    ) -> SearchHits | None:
        """Answer a search through the field's running experiment; None when it is not routed (see the module)."""
        fields = self.experiments.routes.get(info.id)
        if fields is None or options.get("group_by_field") is not None or not is_text_query(data):
            return None
        record = fields.get(self._search_field(info, options.get("anns_field")).name)
        if record is None:
            return None
        if user_key is not None and not isinstance(user_key, str):
            raise InvalidArgumentError(f"user_key must be a string, got {type(user_key).__name__}", field="user_key")
        name = info.name

        def search_arm(texts: list[str], version: str, limit: int, offset: int) -> list[list[dict[str, Any]]]:
            return self.search(
                name, texts, **{**options, "limit": limit, "offset": offset, "embedding_version": version}
            )

        texts = [data] if isinstance(data, str) else list(data)
        return self.experiments.route(
            record,
            texts,
            search=search_arm,
            indexes=self._arm_indexes(info, record),
            limit=options["limit"],
            offset=options["offset"],
            user_key=user_key,
        )

    def _arm_indexes(self, info: CollectionInfo, record: ExperimentRecord) -> dict[str, str]:
        index = _index_text(self.indexes.collection(info), record.field)
        return {"champion": f"{index} on {record.champion_key}", "challenger": f"{index} on {record.challenger_key}"}

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
    ) -> dict[str, Any]:
        """Score model versions of a field on labelled queries and gate the candidate (see ``Backend``)."""
        info = self._info(collection_name)
        field = self._search_field(info, field_name)
        self.lifecycle.binding(info, field.name)

        def embed(ref: str, texts: list[str]) -> np.ndarray:
            return self.models.load(self._field_version(info, field.name, ref).uri).embed(texts)

        def search_ids(ref: str, vectors: np.ndarray, depth: int) -> list[list[Any]]:
            hits = self.search(
                info.name, vectors, anns_field=field.name, limit=depth, output_fields=[], embedding_version=ref
            )
            return [[hit["id"] for hit in query_hits] for query_hits in hits]

        def check(ref: str, vectors: np.ndarray, depth: int) -> dict[str, Any]:
            return self._ann_check(info, field, self._field_version(info, field.name, ref), vectors, depth)

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
            entry["model_version"] = self._field_version(info, field.name, ref).uri
        return {"collection_name": info.name, "field": field.name, **report}

    def _field_version(self, info: CollectionInfo, field: str, ref: str) -> EmbeddingVersion:
        return self.lifecycle.binding(info, field).version(self.models.resolve(ref))

    def _ann_check(
        self, info: CollectionInfo, field: FieldSchema, version: EmbeddingVersion, vectors: np.ndarray, k: int
    ) -> dict[str, Any]:
        """The field's index on ``version``'s vectors against exact search: recall@k and per-query latency."""
        from embedb.index.requests import search_options

        assert field.metric_type is not None
        collection = self.indexes.collection(info)
        definition = collection.definitions.get(field.name)
        snapshot = self.engine.store(info).snapshot()
        exact = SearchRequest(version.column_key, field.metric_type, prepare_queries(vectors, field.metric_type), k)
        params = (
            {}
            if definition is None
            else dict(
                search_options(None, metric=field.metric_type, field_name=field.name, k=k, spec=definition.spec).params
            )
        )
        ann = replace(exact, params=params)
        _, true_segments, true_rows = search_snapshot(snapshot, exact, row_filter=None, partition_ids=None)
        _, segments, rows = search_snapshot(
            snapshot, ann, row_filter=None, partition_ids=None, searcher=collection.planner
        )
        latencies = []
        for position in range(min(ANN_LATENCY_QUERIES, exact.queries.shape[0])):
            one = replace(ann, queries=ann.queries[position : position + 1])
            started = time.perf_counter()
            search_snapshot(snapshot, one, row_filter=None, partition_ids=None, searcher=collection.planner)
            latencies.append((time.perf_counter() - started) * 1000.0)
        sealed = [v for v in snapshot.segments if v.sealed and version.column_key in v.data.vectors]
        p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"), float("nan"))
        return {
            "index": _index_text(collection, field.name),
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


def _index_text(collection: CollectionIndexes, field: str) -> str:
    definition = collection.definitions.get(field)
    if definition is None:
        return "exact (no index)"
    params = ", ".join(f"{key}={value}" for key, value in sorted(definition.spec.params.items()))
    return f"{definition.spec.index_type}({params})"
