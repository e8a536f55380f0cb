"""The embedded backend: the ``Backend`` contract over a local ``StorageEngine``.

This module checks arguments and routes calls; it holds no storage logic
(``embedb.storage``) and no query logic (``embedb.query``). Collection
metadata is cached in memory and refreshed on every DDL call, so a search does
not touch SQLite.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from embedb.backends import Backend, SearchHits
from embedb.backends.local_experiments import LocalExperimentMethods
from embedb.backends.local_lifecycle import LocalLifecycleMethods
from embedb.backends.local_models import LocalModelMethods
from embedb.backends.local_services import EngineServices
from embedb.config import Settings
from embedb.errors import (
    ClosedError,
    DataError,
    FailedPreconditionError,
    FieldNotFoundError,
    InvalidArgumentError,
    SchemaError,
)
from embedb.index import admin as index_admin
from embedb.index.planner import group_search
from embedb.index.requests import IndexRequest, index_requests, search_options
from embedb.ingest import check_query_vectors, prepare_batch, to_columns
from embedb.lifecycle.bindings import EmbeddingVersion, EmbeddingVersionState, FieldBinding
from embedb.lifecycle.embedding import embed_query_text, embed_rows, given_versions, is_text_query
from embedb.query.exact import NO_ROW, distances_for_output, prepare_queries
from embedb.query.filters import compile_filter
from embedb.query.reads import (
    OutputPlan,
    RowRefs,
    SearchRequest,
    filter_mask,
    locate_keys,
    plan_output,
    project,
    search_snapshot,
    select_rows,
)
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType
from embedb.storage.engine import DEFAULT_PARTITION, CollectionInfo, StorageEngine
from embedb.storage.records import RowBatch, primary_key_array
from embedb.storage.store import CollectionStore, Snapshot

MAX_SEARCH_LIMIT = 16_384
COUNT_STAR = "count(*)"


class _SharedEngines:
    """One engine per data directory per process, shared by every client that opens it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: dict[str, tuple[StorageEngine, int]] = {}

    def acquire(self, path: Path, *, settings: Settings, read_only: bool) -> StorageEngine:
        key = f"{'ro' if read_only else 'rw'}:{path.resolve()}"
        with self._lock:
            engine, count = self._engines.get(key, (None, 0))
            if engine is None:
                engine = StorageEngine(path, settings=settings, read_only=read_only)
            self._engines[key] = (engine, count + 1)
            return engine

    def release(self, engine: StorageEngine) -> None:
        with self._lock:
            for key, (candidate, count) in list(self._engines.items()):
                if candidate is engine:
                    if count <= 1:
                        del self._engines[key]
                        engine.close()
                    else:
                        self._engines[key] = (candidate, count - 1)
                    return
        engine.close()


SHARED_ENGINES = _SharedEngines()


class _AutoIds:
    """Monotonic int64 keys: milliseconds since the epoch, shifted, plus a counter."""

    def __init__(self, floor: int) -> None:
        self._last = floor
        self._lock = threading.Lock()

    def take(self, n: int) -> np.ndarray:
        with self._lock:
            start = max(self._last + 1, int(time.time() * 1000) << 20)
            self._last = start + n - 1
        return np.arange(start, start + n, dtype=np.int64)


class LocalBackend(LocalLifecycleMethods, LocalExperimentMethods, LocalModelMethods, Backend):
    """EmbeDB embedded in this process, on a data directory (or a temporary one for ``:memory:``)."""

    def __init__(self, path: str | os.PathLike[str] | None, *, read_only: bool = False, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._memory = path is None
        if path is None:
            self.engine = StorageEngine(None, settings=self.settings, read_only=False)
        else:
            self.engine = SHARED_ENGINES.acquire(Path(path), settings=self.settings, read_only=read_only)
        self.services = EngineServices.attach(self.engine)
        self.indexes = self.services.indexes
        self.models = self.services.models
        self.bindings = self.services.bindings
        self.lifecycle = self.services.lifecycle
        self._attach_experiments()
        self._search_fields: dict[tuple[int, str | None], tuple[CollectionInfo, FieldSchema]] = {}
        self._infos: dict[str, CollectionInfo] = {}
        self._auto_ids: dict[int, _AutoIds] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._memory:
            self.engine.close()
        else:
            SHARED_ENGINES.release(self.engine)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError("this EmbeDB client is closed")

    def _info(self, name: str) -> CollectionInfo:
        """Collection metadata by name or alias, from the cache (filled from the catalog)."""
        self._check_open()
        if not isinstance(name, str):
            raise InvalidArgumentError(f"collection_name must be a string, got {type(name).__name__}")
        info = self._infos.get(name)
        if info is None:
            info = self.engine.collection(name)
            self._infos[name] = info
        return info

    def _forget(self) -> None:
        self._infos = {}

    def _store(self, info: CollectionInfo) -> CollectionStore:
        return self.engine.store(info)

    # ---------------------------------------------------------- collections

    def create_collection(
        self,
        collection_name: str,
        dimension: int | None = None,
        *,
        primary_field_name: str = "id",
        id_type: str = "int",
        vector_field_name: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        max_length: int | None = None,
        enable_dynamic_field: bool = True,
        schema: CollectionSchema | dict[str, Any] | None = None,
        index_params: Any = None,
        description: str = "",
    ) -> None:
        self._check_open()
        resolved = build_schema(
            dimension=dimension,
            primary_field_name=primary_field_name,
            id_type=id_type,
            vector_field_name=vector_field_name,
            metric_type=metric_type,
            auto_id=auto_id,
            max_length=max_length,
            enable_dynamic_field=enable_dynamic_field,
            schema=schema,
            description=description,
        )
        requests: list[IndexRequest] = []
        if index_params is not None:
            requests = index_requests(index_params)
        elif schema is None:  # Milvus quick setup indexes the vector field at once
            requests = [IndexRequest(vector_field_name)]
        resolved, model_versions = self.bindings.resolve_schema(_with_index_metrics(resolved, requests))
        definitions = index_admin.check_definitions(collection_name, resolved, requests)
        with self.engine.catalog.transaction() as cursor:
            info = self.engine.create_collection(collection_name, resolved)
            self.bindings.bind(cursor, info.id, model_versions)
        self._forget()
        if definitions:
            index_admin.create_indexes(self.indexes, self._info(collection_name), definitions, sync=False, timeout=None)

    def list_collections(self) -> list[str]:
        self._check_open()
        return self.engine.list_collections()

    def has_collection(self, collection_name: str) -> bool:
        self._check_open()
        return self.engine.has_collection(collection_name)

    def describe_collection(self, collection_name: str) -> dict[str, Any]:
        info = self._info(collection_name)
        schema = info.schema
        return {
            "collection_name": info.name,
            "collection_id": info.id,
            "description": schema.description,
            "fields": [f.to_dict() for f in schema.fields],
            "primary_field": schema.primary.name,
            "auto_id": schema.primary.auto_id,
            "enable_dynamic_field": schema.enable_dynamic_field,
            "partitions": list(info.partitions),
            "num_partitions": len(info.partitions),
            "aliases": [alias for alias, _ in self.engine.list_aliases(info.name)],
            "properties": dict(info.properties),
            "created_at": info.created_at,
            "embedding_versions": self._embedding_versions(info),
        }

    def _embedding_versions(self, info: CollectionInfo) -> dict[str, list[dict[str, Any]]]:
        """Per model-bound field: each model version it holds, its state, rows with its vectors, and which serves."""
        bindings = self._bindings(info)
        if not bindings:
            return {}
        rows_per_key: dict[str, int] = {}
        for view in self._store(info).snapshot().segments:
            for key in view.data.vectors:
                rows_per_key[key] = rows_per_key.get(key, 0) + view.live_count
        return {
            name: [
                {**version.to_dict(), "rows": rows_per_key.get(version.column_key, 0), "serving": version.column_key == binding.serving_key}
                for version in binding.versions
            ]
            for name, binding in bindings.items()
        }

    def drop_collection(self, collection_name: str) -> None:
        self._check_open()
        dropped = self.engine.collection(collection_name).id if self.engine.has_collection(collection_name) else None
        self.engine.drop_collection(collection_name)
        if dropped is not None:
            self.indexes.forget_collection(dropped)
        self._forget()

    def rename_collection(self, old_name: str, new_name: str) -> None:
        self._check_open()
        self.engine.rename_collection(old_name, new_name)
        self._forget()

    def get_collection_stats(self, collection_name: str) -> dict[str, Any]:
        info = self._info(collection_name)
        return self._store(info).stats()

    # ----------------------------------------------------------- partitions

    def create_partition(self, collection_name: str, partition_name: str) -> None:
        self.engine.create_partition(self._info(collection_name).name, partition_name)
        self._forget()

    def drop_partition(self, collection_name: str, partition_name: str) -> None:
        self.engine.drop_partition(self._info(collection_name).name, partition_name)
        self._forget()

    def has_partition(self, collection_name: str, partition_name: str) -> bool:
        return partition_name in self._info(collection_name).partitions

    def list_partitions(self, collection_name: str) -> list[str]:
        return list(self._info(collection_name).partitions)

    def _partition_ids(self, info: CollectionInfo, names: Sequence[str] | None) -> list[int] | None:
        if names is None:
            return None
        if isinstance(names, str):
            names = [names]
        return [self.engine.partition_id(info, name) for name in names]

    # -------------------------------------------------------------- aliases

    def create_alias(self, collection_name: str, alias: str) -> None:
        self._check_open()
        self.engine.create_alias(collection_name, alias)
        self._forget()

    def alter_alias(self, collection_name: str, alias: str) -> None:
        self._check_open()
        self.engine.alter_alias(collection_name, alias)
        self._forget()

    def drop_alias(self, alias: str) -> None:
        self._check_open()
        self.engine.drop_alias(alias)
        self._forget()

    def list_aliases(self, collection_name: str | None = None) -> dict[str, Any]:
        self._check_open()
        pairs = self.engine.list_aliases(collection_name)
        return {"aliases": [alias for alias, _ in pairs], "collection_name": collection_name or ""}

    def describe_alias(self, alias: str) -> dict[str, Any]:
        self._check_open()
        name, collection = self.engine.describe_alias(alias)
        return {"alias": name, "collection_name": collection}

    # ---------------------------------------------------------------- writes

    def vector_keys(self, info: CollectionInfo) -> dict[str, str]:
        """The storage column each vector field is read from: its serving model version's, or its own name."""
        keys = {f.name: f.name for f in info.schema.vector_fields}
        for name, binding in self._bindings(info).items():
            keys[name] = binding.serving_key
        return keys

    def _bindings(self, info: CollectionInfo) -> dict[str, FieldBinding]:
        return self.bindings.fields(info.id, info.schema)

    def _auto_id(self, info: CollectionInfo, store: CollectionStore) -> _AutoIds:
        generator = self._auto_ids.get(info.id)
        if generator is None:
            floor = 0
            for view in store.snapshot().segments:
                if view.data.num_rows:
                    floor = max(floor, int(view.data.pks.max()))
            generator = self._auto_ids.setdefault(info.id, _AutoIds(floor))
        return generator

    def _batch(
        self,
        info: CollectionInfo,
        data: Any,
        partition_name: str | None,
        *,
        upsert: bool,
        embedding_versions: dict[str, str] | None,
    ) -> RowBatch:
        """Validate (and embed) a write; raise before anything is written."""
        schema = info.schema
        partition_id = self.engine.partition_id(info, partition_name or DEFAULT_PARTITION)
        prepared = to_columns(data, schema)
        next_auto_ids = None
        if schema.primary.auto_id:
            if upsert:
                keys = prepared.columns.get(schema.primary.name)
                if keys is None:
                    raise DataError(f"upsert needs the primary key {schema.primary.name!r} of every row, even with auto_id")
                next_auto_ids = lambda n: keys  # noqa: E731 - the keys the user gave
            else:
                next_auto_ids = self._auto_id(info, self._store(info)).take
        bindings = self._bindings(info)
        given = given_versions(bindings, self.models, embedding_versions)
        batch = prepare_batch(
            prepared,
            schema,
            partition_id=partition_id,
            vector_keys=self.vector_keys(info),
            allow_auto_id_values=upsert,
            next_auto_ids=next_auto_ids,
            skip_vectors=bindings,
        )
        if bindings:
            batch = embed_rows(batch, prepared, schema, bindings, self.models, given)
        return batch

    def insert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        info = self._info(collection_name)
        batch = self._batch(info, data, partition_name, upsert=False, embedding_versions=embedding_versions)
        self._store(info).insert(batch)
        return {"insert_count": batch.num_rows, "ids": batch.primary_keys.tolist()}

    def upsert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        info = self._info(collection_name)
        batch = self._batch(info, data, partition_name, upsert=True, embedding_versions=embedding_versions)
        self._store(info).upsert(batch)
        return {"upsert_count": batch.num_rows}

    def delete(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any | None = None,
        *,
        filter: str | None = None,
        partition_name: str | None = None,
    ) -> dict[str, Any]:
        info = self._info(collection_name)
        if (ids is None) == (filter is None or not filter.strip()):
            raise InvalidArgumentError("delete needs either ids or a non-empty filter, not both")
        store = self._store(info)
        partitions = self._partition_ids(info, [partition_name] if partition_name else None)
        if ids is not None:
            keys = self._keys(info, ids)
            if partitions is not None:
                snapshot = store.snapshot()
                refs = locate_keys(snapshot, keys, partitions)
                keys = np.asarray(_keys_at(snapshot, refs.segments, refs.rows))
        else:
            compiled = compile_filter(filter or "", info.schema)
            snapshot = store.snapshot()
            refs, keys = select_rows(snapshot, compiled, partitions)
        count = store.delete(keys) if len(keys) else 0
        return {"delete_count": count}

    def _keys(self, info: CollectionInfo, ids: Any) -> np.ndarray:
        """Primary keys from user input, typed for the collection; raise ``DataError`` on wrong types."""
        primary = info.schema.primary
        if isinstance(ids, (str, int, np.integer)) and not isinstance(ids, bool):
            ids = [ids]
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()
        if not isinstance(ids, (list, tuple)):
            raise DataError(f"ids must be a list of primary keys, got {type(ids).__name__}")
        if primary.dtype is DataType.INT64:
            bad = [k for k in ids if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not -(2**63) <= k < 2**63]
            if bad:
                raise DataError(f"primary key {primary.name!r} is INT64; got {bad[0]!r}", field=primary.name)
            return np.asarray(ids, dtype=np.int64)
        bad = [k for k in ids if not isinstance(k, str)]
        if bad:
            raise DataError(f"primary key {primary.name!r} is VARCHAR; got {bad[0]!r}", field=primary.name)
        return primary_key_array(np.asarray(ids, dtype=object)) if ids else np.empty(0, dtype=np.str_)

    # ----------------------------------------------------------------- reads

    def get(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any,
        *,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        info = self._info(collection_name)
        keys = _first_occurrences(self._keys(info, ids))
        partitions = self._partition_ids(info, partition_names)
        plan = self._output_plan(info, output_fields, default_all=True)
        snapshot = self._store(info).snapshot()
        return project(snapshot, locate_keys(snapshot, keys, partitions), plan, info.schema)

    def _output_plan(self, info: CollectionInfo, output_fields: Sequence[str] | None, *, default_all: bool) -> OutputPlan:
        if output_fields is None and not default_all:  # the common search: keys and distances only
            return OutputPlan((info.schema.primary.name,), (), (), False)
        fields = output_fields
        if fields is None and default_all:
            fields = ["*"]
        bindings = self._bindings(info)
        versioned = [f for f in fields or () if isinstance(f, str) and "@" in f and f.split("@", 1)[0] in bindings]
        plan = plan_output(info.schema, [f for f in fields or () if f not in versioned], self.vector_keys(info), include_primary=True)
        if not versioned:
            return plan
        vectors, constants = list(plan.vectors), list(plan.constants)
        for name in versioned:
            field_name, ref = name.split("@", 1)
            binding = bindings[field_name]
            if ref == "version":  # which model version made the field's returned vectors
                constants.append((name, binding.serving.uri))
            else:  # the field's vectors of one model version: "embedding@models:/minilm/2"
                vectors.append((name, binding.version(self.models.resolve(ref)).column_key))
        return OutputPlan(plan.scalars, tuple(vectors), plan.dynamic_keys, plan.all_dynamic, tuple(constants))

    def query(
        self,
        collection_name: str,
        filter: str = "",
        *,
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        partition_names: Sequence[str] | None = None,
        ids: Sequence[Any] | None = None,
        filter_params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        info = self._info(collection_name)
        _check_paging(limit, offset, maximum=None)
        if not isinstance(filter, str):
            raise InvalidArgumentError(f"filter must be a string, got {type(filter).__name__}")
        partitions = self._partition_ids(info, partition_names)
        snapshot = self._store(info).snapshot()
        compiled = compile_filter(filter, info.schema, params=filter_params) if filter.strip() else None
        if ids is not None:
            refs = locate_keys(snapshot, np.unique(self._keys(info, ids)), partitions)
            if compiled is not None:
                refs = _keep_matching(snapshot, refs, compiled)
        else:
            refs, _ = select_rows(snapshot, compiled, partitions)
        if output_fields is not None and COUNT_STAR in output_fields:
            if len(output_fields) != 1:
                raise InvalidArgumentError("count(*) cannot be combined with other output fields")
            return [{COUNT_STAR: int(refs.rows.size)}]
        stop = None if limit is None else offset + limit
        refs = RowRefs(refs.segments[offset:stop], refs.rows[offset:stop])
        plan = self._output_plan(info, output_fields, default_all=False)
        return project(snapshot, refs, plan, info.schema)

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
        _check_paging(limit, offset, maximum=MAX_SEARCH_LIMIT)
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
                raise InvalidArgumentError(f"field {field.name!r} is not bound to a model; embedding_version does not apply")
            return field.name, field, None
        if embedding_version is None:
            version = binding.serving
        else:  # a full URI names one immutable version: found without asking the registry
            version = _held_version(binding, embedding_version) or binding.version(self.models.resolve(embedding_version))
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
        if data.dtype != np.float32 or data.ndim != 2 or data.shape[1] != query_field.dim or not data.flags.c_contiguous:
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
        keys = view.data.pks[rows].tolist()
        distances = distances_for_output(scores, metric).tolist()
        return [
            [{"id": key, "distance": value, "entity": {}} for key, value in zip(key_row, distance_row, strict=True)]
            for key_row, distance_row in zip(keys, distances, strict=True)
        ]

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

    # ----------------------------------------------------------- maintenance

    def flush(self, collection_name: str) -> None:
        self._store(self._info(collection_name)).checkpoint()

    def compact(self, collection_name: str) -> dict[str, Any]:
        store = self._store(self._info(collection_name))
        store.checkpoint()
        return {"merged_segments": store.compact()}

    # --------------------------------------------------------------- indexes

    def create_index(
        self,
        collection_name: str,
        index_params: Any = None,
        *,
        field_name: str | None = None,
        index_type: str | None = None,
        metric_type: str | None = None,
        params: dict[str, Any] | None = None,
        index_name: str | None = None,
        sync: bool = True,
        timeout: float | None = None,
    ) -> None:
        info = self._info(collection_name)
        requests = index_requests(
            index_params, field_name=field_name, index_type=index_type, metric_type=metric_type, params=params, index_name=index_name
        )
        definitions = index_admin.check_definitions(info.name, info.schema, requests)
        index_admin.create_indexes(self.indexes, info, definitions, sync=sync, timeout=timeout)

    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        return index_admin.list_indexes(self.indexes, self._info(collection_name), field_name or None)

    def describe_index(self, collection_name: str, index_name: str) -> dict[str, Any]:
        return index_admin.describe_index(self.indexes, self._info(collection_name), index_name)

    def drop_index(self, collection_name: str, index_name: str) -> None:
        index_admin.drop_index(self.indexes, self._info(collection_name), index_name)


def _with_index_metrics(schema: CollectionSchema, requests: list[IndexRequest]) -> CollectionSchema:
    """Milvus keeps the metric in the index: at creation, an index's ``metric_type`` sets its vector field's metric."""
    metrics = {r.field_name: MetricType.parse(r.metric_type) for r in requests if r.metric_type is not None}
    if not any(f.name in metrics and f.dtype.is_vector for f in schema.fields):
        return schema
    fields = tuple(replace(f, metric_type=metrics[f.name]) if f.name in metrics and f.dtype.is_vector else f for f in schema.fields)
    return CollectionSchema(fields, enable_dynamic_field=schema.enable_dynamic_field, description=schema.description).validate()


def _held_version(binding: FieldBinding, uri: str) -> EmbeddingVersion | None:
    """The field's live version whose URI is exactly ``uri`` (``models:/name/3``), or None."""
    for version in binding.versions:
        if version.uri == uri and version.state is not EmbeddingVersionState.RETIRED:
            return version
    return None


GROUPABLE_TYPES = frozenset({DataType.BOOL, DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64, DataType.VARCHAR})


def _group_field(schema: CollectionSchema, name: str) -> str:
    """Check a ``group_by_field``: a bool, integer or VARCHAR field of the schema, as in Milvus."""
    if not schema.has_field(name):
        raise FieldNotFoundError(f"group_by_field {name!r} is not in the schema", field=name)
    field = schema.field(name)
    if field.dtype not in GROUPABLE_TYPES:
        raise InvalidArgumentError(
            f"group_by_field {name!r} is {field.dtype.name}; grouping needs a BOOL, integer or VARCHAR field", parameter="group_by_field"
        )
    return name


def _check_paging(limit: int | None, offset: int, *, maximum: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
    if maximum is not None and limit is not None and limit + offset > maximum:
        raise InvalidArgumentError(f"limit + offset must be at most {maximum}, got {limit + offset}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidArgumentError(f"offset must be a non-negative integer, got {offset!r}")


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    """``keys`` without repeats, in the order each first appears (``get`` returns a row once, as Milvus does)."""
    if keys.size < 2:
        return keys
    _, first = np.unique(keys, return_index=True)
    return keys[np.sort(first)]


def _keep_matching(snapshot: Snapshot, refs: RowRefs, row_filter: Any) -> RowRefs:
    keep = np.zeros(refs.rows.size, dtype=bool)
    for position in np.unique(refs.segments):
        where = np.nonzero(refs.segments == position)[0]
        mask = filter_mask(snapshot.segments[int(position)].data, row_filter)
        keep[where] = mask[refs.rows[where]]
    return RowRefs(refs.segments[keep], refs.rows[keep])


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
        keys = snapshot.segments[0].data.pks[rows].tolist()
        distances = distances_for_output(scores, metric).tolist()
        return [
            [{"id": key, "distance": value, "entity": {}} for key, value in zip(key_row, distance_row, strict=True)]
            for key_row, distance_row in zip(keys, distances, strict=True)
        ]
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
    keys = _keys_at(snapshot, flat_segments, flat_rows)
    # Found hits are a prefix of each row (searches pad with NO_ROW at the end).
    distances = distances_for_output(scores, metric).tolist()
    hits: SearchHits = []
    cursor = 0
    for query_distances, count in zip(distances, found.sum(axis=1).tolist(), strict=True):
        stop = cursor + count
        if entities is None:
            hits.append([{"id": key, "distance": value, "entity": {}} for key, value in zip(keys[cursor:stop], query_distances, strict=False)])
        else:
            hits.append(
                [
                    {"id": key, "distance": value, "entity": entity}
                    for key, value, entity in zip(keys[cursor:stop], query_distances, entities[cursor:stop], strict=False)
                ]
            )
        cursor = stop
    return hits


def _keys_at(snapshot: Snapshot, segments: np.ndarray, rows: np.ndarray) -> list[Any]:
    if len(snapshot.segments) == 1:
        return list(snapshot.segments[0].data.pks[rows].tolist())
    keys: list[Any] = [None] * rows.size
    for position in np.unique(segments):
        where = np.nonzero(segments == position)[0]
        values = snapshot.segments[int(position)].data.pks[rows[where]].tolist()
        for slot, value in zip(where.tolist(), values, strict=True):
            keys[slot] = value
    return keys


def build_schema(
    *,
    dimension: int | None,
    primary_field_name: str,
    id_type: str,
    vector_field_name: str,
    metric_type: str,
    auto_id: bool,
    max_length: int | None,
    enable_dynamic_field: bool,
    schema: CollectionSchema | Mapping[str, Any] | None,
    description: str,
) -> CollectionSchema:
    """The schema of a new collection: the given one, or Milvus's quick setup from ``dimension``."""
    if schema is not None:
        if dimension is not None:
            raise SchemaError("pass either dimension (quick setup) or schema, not both")
        if isinstance(schema, Mapping):
            return CollectionSchema.from_dict(dict(schema))
        if isinstance(schema, CollectionSchema):
            return schema.validate()
        to_schema = getattr(schema, "to_schema", None)
        if callable(to_schema):
            result = to_schema()
            if isinstance(result, CollectionSchema):
                return result.validate()
        raise SchemaError(f"schema must be a CollectionSchema or a dict, got {type(schema).__name__}")
    if dimension is None:
        raise SchemaError("create_collection needs dimension= (quick setup) or schema=")
    id_types = {"int": DataType.INT64, "int64": DataType.INT64, "str": DataType.VARCHAR, "string": DataType.VARCHAR, "varchar": DataType.VARCHAR}
    id_dtype = id_types.get(str(id_type).lower())
    if id_dtype is None:
        raise SchemaError(f"id_type must be 'int' or 'string', got {id_type!r}")
    quick = CollectionSchema.quick(
        dimension=dimension,
        primary_field_name=primary_field_name,
        id_type=id_dtype,
        vector_field_name=vector_field_name,
        metric_type=metric_type,
        auto_id=auto_id,
        max_length=max_length,
        enable_dynamic_field=enable_dynamic_field,
    )
    return CollectionSchema(quick.fields, enable_dynamic_field=quick.enable_dynamic_field, description=description)
