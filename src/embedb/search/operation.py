"""Search: vectors or query text in, Milvus-shaped hits out — the path request → plan → execute → hits.

``SearchOperation.search`` checks every argument, embeds query text with the
model version whose vectors it is compared to, routes it through a running
experiment (each arm is a search with its own ``embedding_version``), plans each
segment (exact, or its index with the filter's mask; ``embedb.search.planner``),
runs the plan over one snapshot (``embedb.search.execute.search_snapshot``) and
assembles hits (``embedb.search.hits``). A short path serves the most common
request — vectors, one indexed sealed segment, ids and distances only — with
as little Python around the index call as possible.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np

from embedb.contract import MAX_SEARCH_LIMIT
from embedb.contract.results import SearchHits
from embedb.errors import FailedPreconditionError, FieldNotFoundError, InvalidArgumentError
from embedb.experiments import ExperimentRecord, ExperimentService, Hits
from embedb.index import CollectionIndexes, IndexService, search_options
from embedb.lifecycle import EmbeddingVersion, EmbeddingVersionState, FieldBinding, embed_query_text, is_text_query
from embedb.metadata import CollectionMetadata
from embedb.models import ModelRegistry
from embedb.monitoring import SearchMonitor
from embedb.pause_points import PausePoints
from embedb.query import OutputPlan, order_rows, parse_order_by, prepare_queries, with_order_fields
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType
from embedb.search.execute import SearchRequest, SegmentSearcher, search_snapshot
from embedb.search.hits import assemble_hits, check_paging, plain_hits
from embedb.search.hybrid import checked_requests, fuse
from embedb.search.planner import SegmentPlanner, group_search
from embedb.search.sparse import SparseSearcher, bm25_searcher, sparse_queries, tokenized_lists
from embedb.storage import CollectionInfo, Snapshot, check_query_vectors
from embedb.text import analyzer


class SearchOperation:
    """The ``search`` operation of the contract over one database's metadata, indexes, models and experiments."""

    def __init__(
        self,
        metadata: CollectionMetadata,
        indexes: IndexService,
        models: ModelRegistry,
        experiments: ExperimentService,
        monitor: SearchMonitor,
        pause_points: PausePoints | None = None,
    ) -> None:
        self.search_monitor = monitor
        self.metadata = metadata
        self.pause_points = pause_points or PausePoints()
        self.indexes = indexes
        self.models = models
        self.experiments = experiments
        # Replaced, never changed in place: searches read it without a lock.
        self._planners: dict[int, tuple[CollectionIndexes, SegmentPlanner]] = {}

    def planner(self, indexes: CollectionIndexes) -> SegmentPlanner:
        """The segment planner over one collection's published indexes (kept while its index state lives)."""
        cached = self._planners.get(indexes.collection_id)
        if cached is None or cached[0] is not indexes:
            cached = (indexes, SegmentPlanner(indexes.lookup))
            self._planners = {**self._planners, indexes.collection_id: cached}
        return cached[1]

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
        order_by: Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> SearchHits:
        if order_by is not None:
            arguments = {k: v for k, v in locals().items() if k not in ("self", "order_by", "__class__")}
            return self._ordered(order_by, arguments)
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
            and timezone is None
        ):
            hits = self._search_one_index(collection_name, data, limit, search_params)
            if hits is not None:
                return hits
        started = time.perf_counter()
        info = self.metadata.info(collection_name)
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
                "timezone": timezone,
            }
            routed = self._experiment_search(info, data, user_key, routed_options)
            if routed is not None:
                return routed
        if not isinstance(filter, str):
            raise InvalidArgumentError(f"filter must be a string, got {type(filter).__name__}")
        field = self.metadata.search_field(info, anns_field)
        assert field.metric_type is not None
        metric = field.metric_type
        indexes = self.indexes.collection(info)
        # One read of the field versions for the whole request: the version that embeds the query is the one
        # whose vectors are ranked, returned (``field``) and named (``field@version``), whatever commits meanwhile.
        bindings = self.metadata.bindings(info)
        self.pause_points.reach("search.bindings_read")
        searcher: SegmentSearcher = self.planner(indexes)
        snapshot = self.metadata.store(info).snapshot()
        version: EmbeddingVersion | None = None
        texts = ([data] if isinstance(data, str) else list(data)) if is_text_query(data) else []
        if field.metric_type is MetricType.BM25:
            key = field.name
            version = self.bound_version(field, embedding_version, bindings)
            sparse_searcher = self._bm25(info, field, data, search_params, snapshot, version)
            searcher, queries = sparse_searcher, np.empty((len(sparse_searcher.queries), 0), dtype=np.float32)
        elif field.dtype.is_sparse:
            key, sparse = field.name, sparse_queries(data)
            searcher = SparseSearcher(field.name, sparse)
            queries = np.empty((len(sparse), 0), dtype=np.float32)
        else:
            key, query_field, version = self._search_column(info, field, embedding_version, bindings)
            if version is not None and field.name in bindings:
                bindings = {**bindings, field.name: replace(bindings[field.name], serving_key=version.column_key)}
            if version is not None and is_text_query(data):
                data = embed_query_text(data, version, self.models)
            elif is_text_query(data):
                raise InvalidArgumentError(
                    f"search got text, but field {field.name!r} is not bound to a model; pass vectors or bind a model"
                )
            queries = prepare_queries(check_query_vectors(query_field, data), metric)
        definition = indexes.definition_for_key(key)  # a version's own (tuned) index, else the field's
        options = search_options(
            search_params,
            metric=metric,
            field_name=field.name,
            k=offset + limit,
            spec=definition.spec if definition is not None else None,
            group_by_field=group_by_field,
            group_size=group_size,
            strict_group_size=strict_group_size,
            defaults=definition.search_defaults if definition is not None else (),
        )
        compiled = self.metadata.compiled_filter(info, filter, filter_params, timezone)
        partitions = self.metadata.read_partition_ids(info, partition_names)
        plan = self.metadata.output_plan(info, output_fields, default_all=False, bindings=bindings)
        request = SearchRequest(
            column_key=key,
            metric=metric,
            queries=queries,
            k=offset + limit,
            params=options.params,
            nullable=field.nullable,
            sparse=field.dtype.is_sparse,
        )
        if options.group_by_field is not None:
            group_field = _group_field(info.schema, options.group_by_field)
            scores, segments, rows = group_search(
                snapshot,
                request,
                row_filter=compiled,
                partition_ids=partitions,
                searcher=searcher,
                group_field=group_field,
                group_size=options.group_size,
                groups=offset + limit,
                offset=offset,
                strict=options.strict_group_size,
            )
            if group_field not in plan.scalars:
                plan = replace(plan, scalars=(*plan.scalars, group_field))
            return self._monitored(
                info, field.name, version, assemble_hits(snapshot, scores, segments, rows, plan, info.schema, metric), started, texts
            )
        scores, segments, rows = search_snapshot(
            snapshot, request, row_filter=compiled, partition_ids=partitions, searcher=searcher
        )
        if offset:
            # copies: a column slice is not contiguous in memory, and the hits are built from raw buffers
            scores, segments, rows = (np.ascontiguousarray(part[:, offset:]) for part in (scores, segments, rows))
        return self._monitored(
            info, field.name, version, assemble_hits(snapshot, scores, segments, rows, plan, info.schema, metric), started, texts
        )

    def _monitored(
        self,
        info: CollectionInfo,
        field_name: str,
        version: EmbeddingVersion | None,
        hits: SearchHits,
        started: float,
        texts: list[str],
    ) -> SearchHits:
        """Count a search of a model-bound field (and sample its query texts) for its version's monitoring; return its hits."""
        if version is not None:
            metric = info.schema.field(field_name).metric_type
            similarity = metric in (MetricType.COSINE, MetricType.IP)
            self.search_monitor.record(
                info.id,
                field_name,
                version.uri,
                queries=len(hits),
                empty=sum(1 for query in hits if not query),
                top_scores=[query[0]["distance"] if query and similarity else None for query in hits],
                latency_ms=(time.perf_counter() - started) * 1000.0,
                texts=texts,
            )
        return hits

    def hybrid_search(
        self,
        collection_name: str,
        reqs: list[dict[str, Any]],
        ranker: dict[str, Any] | None = None,
        *,
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> SearchHits:
        info = self.metadata.info(collection_name)
        check_paging(limit, offset, maximum=MAX_SEARCH_LIMIT)
        requests = checked_requests(reqs)
        metrics = [self.metadata.search_field(info, request["anns_field"]).metric_type or MetricType.IP for request in requests]
        results = [
            self.search(
                collection_name,
                request["data"],
                filter=request.get("expr") or request.get("filter") or "",
                limit=request.get("limit") or offset + limit,
                output_fields=output_fields,
                search_params=request.get("param"),
                anns_field=request["anns_field"],
                partition_names=partition_names,
                filter_params=request.get("expr_params") or request.get("filter_params"),
                timezone=timezone,
            )
            for request in requests
        ]
        if len({len(result) for result in results}) != 1:
            raise InvalidArgumentError(f"every request of a hybrid search needs as many queries; got {[len(r) for r in results]}", argument="reqs")
        fused = fuse(results, metrics, ranker, offset + limit)
        return cast(SearchHits, [hits[offset:] for hits in fused])

    def run_analyzer(
        self,
        texts: str | list[str],
        analyzer_params: dict[str, Any] | None = None,
        *,
        collection_name: str | None = None,
        field_name: str | None = None,
    ) -> list[Any]:
        if collection_name is not None or field_name is not None:
            if collection_name is None or field_name is None:
                raise InvalidArgumentError("run_analyzer takes collection_name and field_name together")
            if analyzer_params is not None:
                raise InvalidArgumentError("run_analyzer takes analyzer_params or a collection's field, not both")
            field = self.metadata.info(collection_name).schema.field(field_name)
            if not field.enable_analyzer:
                raise InvalidArgumentError(f"field {field_name!r} has no analyzer (enable_analyzer=True)", argument="field_name")
            analyzer_params = field.analyzer_params
        if analyzer_params is not None and not isinstance(analyzer_params, dict):
            raise InvalidArgumentError(f"analyzer_params must be a dict, got {type(analyzer_params).__name__}", argument="analyzer_params")
        tokens = analyzer(analyzer_params).tokens
        if isinstance(texts, str):
            return tokens(texts)
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise InvalidArgumentError("run_analyzer takes a text or a list of texts", argument="texts")
        return [tokens(text) for text in texts]

    def _bm25(
        self,
        info: CollectionInfo,
        field: FieldSchema,
        data: Any,
        search_params: dict[str, Any] | None,
        snapshot: Snapshot,
        version: EmbeddingVersion | None,
    ) -> SparseSearcher:
        """A BM25 function output's searcher; k1 and b from the search, else its index.

        The input field's analyzer makes the query's terms and the stored counts; a
        field bound to an analyzer uses ``version``'s (the serving one, or the one asked for)
        instead, and reads that version's counts of the text (made on first use) unless
        the version is the input field's own analyzer.
        """
        function = info.schema.function_output(field.name)
        assert function is not None  # validated schemas give BM25 only to function outputs
        source = info.schema.field(function.input_field_names[0])
        index = self.metadata.scalar_indexes.definitions(info.id).get(field.name)
        params = dict(self.metadata.index_properties.get(info.id, index.index_name)) if index is not None else {}
        given = dict(search_params or {})
        nested = given.pop("params", None)
        params.update(
            {
                k: v
                for k, v in {**given, **(nested if isinstance(nested, dict) else {})}.items()
                if k in ("bm25_k1", "bm25_b")
            }
        )
        views = list(snapshot.segments)
        if version is None:
            return bm25_searcher(views, field.name, analyzer(source.analyzer_params).tokens, data, params)
        chosen = analyzer(self.models.load(version.uri).analyzer_params)
        tokens = chosen.tokens
        if chosen is analyzer(source.analyzer_params):  # the counts stored at insert are this version's
            return bm25_searcher(views, field.name, tokens, data, params)
        index_of = tokenized_lists(source.name, version.column_key, tokens)
        return bm25_searcher(views, field.name, tokens, data, params, key=version.column_key, index_of=index_of)

    def _search_column(
        self,
        info: CollectionInfo,
        field: FieldSchema,
        embedding_version: str | None,
        bindings: dict[str, FieldBinding],
    ) -> tuple[str, FieldSchema, EmbeddingVersion | None]:
        """(column key, field sized for it, embedding version) a search reads; the serving one by default."""
        version = self.bound_version(field, embedding_version, bindings)
        if version is None:
            return field.name, field, None
        sized = field if field.dim == version.dimension else replace(field, dim=version.dimension)
        return version.column_key, sized, version

    def query_vectors(
        self, collection_name: str, data: Any, anns_field: str | None, embedding_version: str | None
    ) -> tuple[str, np.ndarray] | None:
        """A text query of a model-bound dense field embedded as ``search`` would: (version URI, vectors).

        None when ``search`` would not embed it (vectors, a BM25 or sparse field, a field bound to no model);
        a cluster's router embeds a text query once this way and sends every shard the vectors, pinned to the
        version that made them.
        """
        if not is_text_query(data):
            return None
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, anns_field)
        if field.metric_type is MetricType.BM25 or field.dtype.is_sparse:
            return None
        version = self.bound_version(field, embedding_version, self.metadata.bindings(info))
        if version is None:
            return None
        return version.uri, embed_query_text(data, version, self.models)

    def bound_version(
        self, field: FieldSchema, embedding_version: str | None, bindings: dict[str, FieldBinding]
    ) -> EmbeddingVersion | None:
        """The version of ``field`` a read uses (see ``field_version``); None for a field bound to no model."""
        binding = bindings.get(field.name)
        if binding is None:
            if embedding_version is not None:
                raise InvalidArgumentError(f"field {field.name!r} is not bound to a model; embedding_version does not apply")
            return None
        return self.field_version(binding, field, embedding_version)

    def field_version(
        self, binding: FieldBinding, field: FieldSchema, embedding_version: str | None
    ) -> EmbeddingVersion:
        """The version of a bound field a search reads: the serving one, or ``embedding_version`` once it is READY."""
        if embedding_version is None:
            return binding.serving
        # a full URI names one immutable version: found without asking the registry
        version = _held_version(binding, embedding_version) or binding.version(self.models.resolve(embedding_version))
        if version.state is not EmbeddingVersionState.READY:
            raise FailedPreconditionError(
                f"{version.uri} of field {field.name!r} is {version.state.value}: not every row has its vector yet"
            )
        return version

    def _ordered(self, order_by: Sequence[str], arguments: dict[str, Any]) -> SearchHits:
        """A search whose hits are ordered by scalar fields: the nearest ``limit`` first, then sorted (stable, nulls last)."""
        info = self.metadata.info(arguments["collection_name"])
        ordering = parse_order_by(order_by, info.schema)
        arguments["output_fields"], strip = with_order_fields(arguments["output_fields"], ordering)
        found = self.search(**arguments)
        ordered = []
        for query_hits in found:
            hits = order_rows(list(query_hits), ordering, info.schema, fields_of=lambda hit: hit["entity"])
            for hit in hits:
                for name in strip:
                    hit["entity"].pop(name, None)
            ordered.append(hits)
        return ordered

    def _search_one_index(
        self, collection_name: str, data: np.ndarray, limit: int, search_params: dict[str, Any] | None
    ) -> SearchHits | None:
        """The common search, kept short: vectors in, one sealed segment with its index and no deletions, ids out.

        Does what the general path does for such a request, with less Python in
        between (a single query costs little more than the Faiss call). Returns
        None — the caller takes the general path — for anything else, including
        every request that must raise.
        """
        info = self.metadata.by_name.get(collection_name) if type(collection_name) is str else None
        if info is None or info.id in self.experiments.routes or info.released:
            return None
        if type(limit) is not int or not 1 <= limit <= MAX_SEARCH_LIMIT:
            return None
        snapshot = self.metadata.store(info).snapshot()
        if len(snapshot.segments) != 1:
            return None
        view = snapshot.segments[0]
        cached = self.metadata.search_fields.get((info.id, None))  # set by a general search: the one vector field
        if not view.sealed or view.deleted_count != 0 or cached is None or cached[0] is not info:
            return None
        field = cached[1]
        key, query_field, _ = self._search_column(info, field, None, self.metadata.bindings(info))
        indexes = self.indexes.collection(info)
        index = indexes.lookup(view.data.segment_id, key)
        definition = indexes.definition_for_key(key)
        if index is None or definition is None or field.metric_type is None or field.nullable:
            return None
        if (
            data.dtype != np.float32
            or data.ndim != 2
            or data.shape[1] != query_field.dim
            or not data.flags.c_contiguous
        ):
            return None
        metric = field.metric_type
        options = search_options(
            search_params,
            metric=metric,
            field_name=field.name,
            k=limit,
            spec=definition.spec,
            defaults=definition.search_defaults,
        )
        if "_range" in options.params or options.group_by_field is not None:
            return None
        unprepared = getattr(index, "search_unprepared", None)  # the native kernel normalises and checks itself
        if unprepared is not None:
            found = unprepared(data, limit, options.params, normalize=metric is MetricType.COSINE)
            if found is None:
                return None
            scores, rows, missing = found
        else:
            queries = prepare_queries(check_query_vectors(query_field, data), metric)
            scores, rows = index.search(queries, limit, options.params, None)
            missing = np.count_nonzero(rows < 0)
        if missing:  # a short answer: let the general assembly drop the empty slots
            segments = np.zeros(rows.shape, dtype=np.int64)
            plan = OutputPlan((info.schema.primary.name,), (), (), False)
            return assemble_hits(snapshot, scores, segments, rows, plan, info.schema, metric)
        return plain_hits(view.data.pks, rows, scores, metric)

    def _experiment_search(
        self, info: CollectionInfo, data: Any, user_key: str | None, options: dict[str, Any]
    ) -> SearchHits | None:
        """Answer a search through the field's running experiment; None when it is not routed (see the module)."""
        fields = self.experiments.routes.get(info.id)
        if fields is None or options.get("group_by_field") is not None or not is_text_query(data):
            return None
        record = fields.get(self.metadata.search_field(info, options.get("anns_field")).name)
        if record is None:
            return None
        if user_key is not None and not isinstance(user_key, str):
            raise InvalidArgumentError(f"user_key must be a string, got {type(user_key).__name__}", field="user_key")
        name = info.name

        def search_arm(texts: list[str], version: str, limit: int, offset: int) -> list[Hits]:
            hits = self.search(
                name, texts, **{**options, "limit": limit, "offset": offset, "embedding_version": version}
            )
            return cast(list[Hits], hits)  # routing adds query_id and arm to these dicts

        texts = [data] if isinstance(data, str) else list(data)
        routed = self.experiments.route(
            record,
            texts,
            search=search_arm,
            indexes=arm_indexes(self.indexes.collection(info), record),
            limit=options["limit"],
            offset=options["offset"],
            user_key=user_key,
        )
        return cast(SearchHits, routed)



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


def arm_indexes(collection: CollectionIndexes, record: ExperimentRecord) -> dict[str, str]:
    """What each arm of an experiment searches with (its query log records it)."""
    index = index_text(collection, record.field)
    return {"champion": f"{index} on {record.champion_key}", "challenger": f"{index} on {record.challenger_key}"}


def index_text(collection: CollectionIndexes, field: str) -> str:
    definition = collection.definitions.get(field)
    if definition is None:
        return "exact (no index)"
    params = ", ".join(f"{key}={value}" for key, value in sorted(definition.spec.params.items()))
    return f"{definition.spec.index_type}({params})"


