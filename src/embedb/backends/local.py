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

from embedb.backends import Backend
from embedb.backends.local_experiments import LocalExperimentMethods
from embedb.backends.local_lifecycle import LocalLifecycleMethods
from embedb.backends.local_models import LocalModelMethods
from embedb.backends.local_search import LocalSearchMethods, check_paging, keys_at
from embedb.config import Settings
from embedb.engine import SHARED, Database
from embedb.errors import (
    ClosedError,
    DataError,
    InvalidArgumentError,
    SchemaError,
)
from embedb.index import admin as index_admin
from embedb.index.requests import IndexRequest, index_requests
from embedb.ingest import prepare_batch, to_columns
from embedb.lifecycle.bindings import FieldBinding
from embedb.lifecycle.embedding import embed_rows, given_versions
from embedb.query.filters import compile_filter
from embedb.query.reads import (
    OutputPlan,
    RowRefs,
    filter_mask,
    locate_keys,
    plan_output,
    project,
    select_rows,
)
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType
from embedb.storage.engine import DEFAULT_PARTITION, CollectionInfo, StorageEngine
from embedb.storage.records import RowBatch, primary_key_array
from embedb.storage.store import CollectionStore, Snapshot

COUNT_STAR = "count(*)"


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


class LocalBackend(LocalSearchMethods, LocalLifecycleMethods, LocalExperimentMethods, LocalModelMethods, Backend):
    """EmbeDB embedded in this process, on a data directory (or a temporary one for ``:memory:``)."""

    def __init__(self, path: str | os.PathLike[str] | None, *, read_only: bool = False, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._memory = path is None
        if path is None:
            self.database = Database(None, settings=self.settings).start()
        else:
            self.database = SHARED.acquire(Path(path), settings=self.settings, read_only=read_only)
        self.engine: StorageEngine = self.database.storage
        self.indexes = self.database.indexes
        self.models = self.database.models
        self.bindings = self.database.bindings
        self.lifecycle = self.database.lifecycle
        self.experiments = self.database.experiments
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
            self.database.stop()
        else:
            SHARED.release(self.database)

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
                keys = np.asarray(keys_at(snapshot, refs.segments, refs.rows))
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
        check_paging(limit, offset, maximum=None)
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
