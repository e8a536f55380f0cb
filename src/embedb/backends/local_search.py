"""The search part of ``LocalBackend``: vectors or query text in, Milvus-shaped hits out.

The general path checks every argument, embeds query text with the model version
whose vectors it is compared to, routes it through a running experiment, plans
each segment (exact or index, with the filter's mask) and assembles hits. A short
path serves the most common request — vectors, one indexed sealed segment, ids
and distances only — with as little Python around the Faiss call as possible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from embedb.backends import MAX_SEARCH_LIMIT, SearchHits
from embedb.errors import FailedPreconditionError, FieldNotFoundError, InvalidArgumentError
from embedb.index.planner import group_search
from embedb.index.requests import search_options
from embedb.ingest import check_query_vectors
from embedb.lifecycle.bindings import EmbeddingVersion, EmbeddingVersionState, FieldBinding
from embedb.lifecycle.embedding import embed_query_text, is_text_query
from embedb.query.exact import NO_ROW, distances_for_output, prepare_queries
from embedb.query.filters import compile_filter
from embedb.query.reads import OutputPlan, RowRefs, SearchRequest, project, search_snapshot
from embedb.schema import CollectionSchema, DataType, FieldSchema
from embedb.storage.store import Snapshot

if TYPE_CHECKING:
    from embedb.index.manager import IndexService
    from embedb.lifecycle.experiment_service import ExperimentService
    from embedb.models import ModelRegistry
    from embedb.storage.engine import CollectionInfo
    from embedb.storage.store import CollectionStore



class LocalSearchMethods:
    """Mixed into ``LocalBackend``; relies on its caches, stores, indexes, models and experiments."""

    # Provided by LocalBackend and the other mixins (annotated, not defined, so nothing is shadowed).
    indexes: IndexService
    models: ModelRegistry
    experiments: ExperimentService
    _infos: dict[str, CollectionInfo]
    _closed: bool
    _search_fields: dict[tuple[int, str | None], tuple[CollectionInfo, FieldSchema]]
    _info: Callable[[str], CollectionInfo]
    _store: Callable[[CollectionInfo], CollectionStore]
    _bindings: Callable[[CollectionInfo], dict[str, FieldBinding]]
    _partition_ids: Callable[[CollectionInfo, Sequence[str] | None], list[int] | None]
    _output_plan: Callable[..., OutputPlan]
    _experiment_search: Callable[..., SearchHits | None]

    def search(
        self,
        collection_name: str,
        data: Any,
        *,
        filter: str = "",
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        partition_names: Sequence[str] | None = None,
        filter_params: dict[str, Any] | None = None,
        group_by_field: str | None = None,
        group_size: int | None = None,
        strict_group_size: bool | None = None,
        embedding_version: str | None = None,
        user_key: str | None = None,
    ) -> SearchHits:
        if (  # Keep in step with the arguments: a new one must rule the short path out unless left at its default.
            type(data) is np.ndarray
            and filter == ""
            and offset == 0
            and output_fields is None
            and anns_field is None
            and partition_names is None
            and filter_params is None
            and group_by_field is None
            and group_size is None
            and strict_group_size is None
            and embedding_version is None
            and user_key is None
        ):
            hits = self._search_one_index(collection_name, data, limit, search_params)
            if hits is not None:
                return hits
        info = self._info(collection_name)
        check_paging(limit, offset, maximum=MAX_SEARCH_LIMIT)
        if embedding_version is None and info.id in self.experiments.routes:
            routed_options = {
                "filter": filter,
                "limit": limit,
                "offset": offset,
                "output_fields": output_fields,
                "search_params": search_params,
                "anns_field": anns_field,
                "partition_names": partition_names,
                "filter_params": filter_params,
                "group_by_field": group_by_field,
            }
            routed = self._experiment_search(info, data, user_key, routed_options)
            if routed is not None:
                return routed
        if not isinstance(filter, str):
            raise InvalidArgumentError(f"filter must be a string, got {type(filter).__name__}")
        field = self._search_field(info, anns_field)
        assert field.metric_type is not None
        metric = field.metric_type
        indexes = self.indexes.collection(info)
        definition = indexes.definitions.get(field.name)
        options = search_options(
            search_params,
            metric=metric,
            field_name=field.name,
            k=offset + limit,
            spec=definition.spec if definition is not None else None,
            group_by_field=group_by_field,
            group_size=group_size,
            strict_group_size=strict_group_size,
        )
        key, query_field, version = self._search_column(info, field, embedding_version)
        if version is not None and is_text_query(data):
            data = embed_query_text(data, version, self.models)
        elif is_text_query(data):
            raise InvalidArgumentError(
                f"search got text, but field {field.name!r} is not bound to a model; pass vectors or bind a model"
            )
        queries = prepare_queries(check_query_vectors(query_field, data), metric)
        compiled = compile_filter(filter, info.schema, params=filter_params) if filter.strip() else None
        partitions = self._partition_ids(info, partition_names)
        plan = self._output_plan(info, output_fields, default_all=False)
        request = SearchRequest(column_key=key, metric=metric, queries=queries, k=offset + limit, params=options.params)
        snapshot = self._store(info).snapshot()
        if options.group_by_field is not None:
            group_field = _group_field(info.schema, options.group_by_field)
            scores, segments, rows = group_search(
                snapshot,
                request,
                row_filter=compiled,
                partition_ids=partitions,
                searcher=indexes.planner,
                group_field=group_field,
                group_size=options.group_size,
                groups=offset + limit,
                offset=offset,
                strict=options.strict_group_size,
            )
            if group_field not in plan.scalars:
                plan = OutputPlan((*plan.scalars, group_field), plan.vectors, plan.dynamic_keys, plan.all_dynamic)
            return assemble_hits(snapshot, scores, segments, rows, plan, info.schema, metric)
        scores, segments, rows = search_snapshot(
            snapshot, request, row_filter=compiled, partition_ids=partitions, searcher=indexes.planner
        )
        if offset:
            scores, segments, rows = scores[:, offset:], segments[:, offset:], rows[:, offset:]
        return assemble_hits(snapshot, scores, segments, rows, plan, info.schema, metric)

    def _search_column(
        self, info: CollectionInfo, field: FieldSchema, embedding_version: str | None
    ) -> tuple[str, FieldSchema, EmbeddingVersion | None]:
        """(column key, field sized for it, embedding version) a search reads; the serving one by default."""
        binding = self._bindings(info).get(field.name)
        if binding is None:
            if embedding_version is not None:
                raise InvalidArgumentError(
                    f"field {field.name!r} is not bound to a model; embedding_version does not apply"
                )
            return field.name, field, None
        if embedding_version is None:
            version = binding.serving
        else:  # a full URI names one immutable version: found without asking the registry
            version = _held_version(binding, embedding_version) or binding.version(
                self.models.resolve(embedding_version)
            )
        if version.state is not EmbeddingVersionState.READY and embedding_version is not None:
            raise FailedPreconditionError(
                f"{version.uri} of field {field.name!r} is {version.state.value}: not every row has its vector yet"
            )
        sized = field if field.dim == version.dimension else replace(field, dim=version.dimension)
        return version.column_key, sized, version

    def _search_one_index(
        self, collection_name: str, data: np.ndarray, limit: int, search_params: dict[str, Any] | None
    ) -> SearchHits | None:
        """The common search, kept short: vectors in, one sealed segment with its index and no deletions, ids out.

        Does what the general path does for such a request, with less Python in
        between (a single query costs little more than the Faiss call). Returns
        None — the caller takes the general path — for anything else, including
        every request that must raise.
        """
        info = self._infos.get(collection_name) if type(collection_name) is str else None
        if info is None or self._closed or info.id in self.experiments.routes:
            return None
        if type(limit) is not int or not 1 <= limit <= MAX_SEARCH_LIMIT:
            return None
        snapshot = self._store(info).snapshot()
        if len(snapshot.segments) != 1:
            return None
        view = snapshot.segments[0]
        cached = self._search_fields.get((info.id, None))  # set by a general search: the one vector field
        if not view.sealed or view.deleted_count != 0 or cached is None or cached[0] is not info:
            return None
        field = cached[1]
        key, query_field, _ = self._search_column(info, field, None)
        indexes = self.indexes.collection(info)
        index = indexes.lookup(view.data.segment_id, key)
        definition = indexes.definitions.get(field.name)
        if index is None or definition is None or field.metric_type is None:
            return None
        if (
            data.dtype != np.float32
            or data.ndim != 2
            or data.shape[1] != query_field.dim
            or not data.flags.c_contiguous
        ):
            return None
        metric = field.metric_type
        options = search_options(search_params, metric=metric, field_name=field.name, k=limit, spec=definition.spec)
        if "_range" in options.params or options.group_by_field is not None:
            return None
        queries = prepare_queries(check_query_vectors(query_field, data), metric)
        scores, rows = index.search(queries, limit, options.params, None)
        if np.count_nonzero(rows < 0):  # a short answer: let the general assembly drop the empty slots
            segments = np.zeros(rows.shape, dtype=np.int64)
            plan = OutputPlan((info.schema.primary.name,), (), (), False)
            return assemble_hits(snapshot, scores, segments, rows, plan, info.schema, metric)
        return _plain_hits(view.data.pks, rows, scores, metric)

    def _search_field(self, info: CollectionInfo, anns_field: str | None) -> FieldSchema:
        """``_anns_field``, remembered per collection metadata object (every search asks)."""
        if anns_field is not None and not isinstance(anns_field, str):
            return self._anns_field(info.schema, anns_field)
        cached = self._search_fields.get((info.id, anns_field))
        if cached is not None and cached[0] is info:
            return cached[1]
        field = self._anns_field(info.schema, anns_field)
        self._search_fields[(info.id, anns_field)] = (info, field)
        return field

    def _anns_field(self, schema: CollectionSchema, anns_field: str | None) -> FieldSchema:
        vectors = schema.vector_fields
        if anns_field is None:
            if len(vectors) > 1:
                names = [f.name for f in vectors]
                raise InvalidArgumentError(f"the collection has several vector fields {names}; pass anns_field")
            return vectors[0]
        field = schema.field(anns_field)
        if not field.dtype.is_vector:
            raise InvalidArgumentError(f"anns_field {anns_field!r} is not a vector field")
        return field


def _held_version(binding: FieldBinding, uri: str) -> EmbeddingVersion | None:
    """The field's live version whose URI is exactly ``uri`` (``models:/name/3``), or None."""
    for version in binding.versions:
        if version.uri == uri and version.state is not EmbeddingVersionState.RETIRED:
            return version
    return None


GROUPABLE_TYPES = frozenset(
    {DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.VARCHAR}
)


def _group_field(schema: CollectionSchema, name: str) -> str:
    """Check a ``group_by_field``: a bool, integer or VARCHAR field of the schema, as in Milvus."""
    if not schema.has_field(name):
        raise FieldNotFoundError(f"group_by_field {name!r} is not in the schema", field=name)
    field = schema.field(name)
    if field.dtype not in GROUPABLE_TYPES:
        raise InvalidArgumentError(
            f"group_by_field {name!r} is {field.dtype.name}; grouping needs a BOOL, integer or VARCHAR field",
            parameter="group_by_field",
        )
    return name


def check_paging(limit: int | None, offset: int, *, maximum: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
    if maximum is not None and limit is not None and limit + offset > maximum:
        raise InvalidArgumentError(f"limit + offset must be at most {maximum}, got {limit + offset}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidArgumentError(f"offset must be a non-negative integer, got {offset!r}")


def assemble_hits(
    snapshot: Snapshot,
    scores: np.ndarray,
    segments: np.ndarray,
    rows: np.ndarray,
    plan: OutputPlan,
    schema: CollectionSchema,
    metric: Any,
) -> SearchHits:
    """Search results in Milvus's shape: per query a list of ``{"id", "distance", "entity"}``."""
    primary = schema.primary.name
    if (
        len(snapshot.segments) == 1
        and plan.scalars == (primary,)
        and not plan.vectors
        and not plan.wants_dynamic
        and rows.size
        and rows.min() >= 0
    ):
        # The common search, kept short: one segment, every slot found, keys and distances only.
        return _plain_hits(snapshot.segments[0].data.pks, rows, scores, metric)
    found = rows != NO_ROW
    flat_segments = segments[found]
    flat_rows = rows[found]
    extra = OutputPlan(
        tuple(name for name in plan.scalars if name != primary),
        plan.vectors,
        plan.dynamic_keys,
        plan.all_dynamic,
    )
    wanted = extra.scalars or extra.vectors or extra.wants_dynamic
    entities = project(snapshot, RowRefs(flat_segments, flat_rows), extra, schema) if wanted else None
    keys = keys_at(snapshot, flat_segments, flat_rows)
    # Found hits are a prefix of each row (searches pad with NO_ROW at the end).
    distances = distances_for_output(scores, metric).tolist()
    hits: SearchHits = []
    cursor = 0
    for query_distances, count in zip(distances, found.sum(axis=1).tolist(), strict=True):
        stop = cursor + count
        if entities is None:
            hits.append(
                [
                    {"id": key, "distance": value, "entity": {}}
                    for key, value in zip(keys[cursor:stop], query_distances, strict=False)
                ]
            )
        else:
            hits.append(
                [
                    {"id": key, "distance": value, "entity": entity}
                    for key, value, entity in zip(
                        keys[cursor:stop], query_distances, entities[cursor:stop], strict=False
                    )
                ]
            )
        cursor = stop
    return hits


def _plain_hits(pks: np.ndarray, rows: np.ndarray, scores: np.ndarray, metric: Any) -> SearchHits:
    """Hits with ids and distances only, every slot found, rows of one segment."""
    keys = pks[rows].tolist()
    distances = distances_for_output(scores, metric).tolist()
    return [
        [{"id": key, "distance": value, "entity": {}} for key, value in zip(key_row, distance_row, strict=True)]
        for key_row, distance_row in zip(keys, distances, strict=True)
    ]


def keys_at(snapshot: Snapshot, segments: np.ndarray, rows: np.ndarray) -> list[Any]:
    if len(snapshot.segments) == 1:
        return list(snapshot.segments[0].data.pks[rows].tolist())
    keys: list[Any] = [None] * rows.size
    for position in np.unique(segments):
        where = np.nonzero(segments == position)[0]
        values = snapshot.segments[int(position)].data.pks[rows[where]].tolist()
        for slot, value in zip(where.tolist(), values, strict=True):
            keys[slot] = value
    return keys
