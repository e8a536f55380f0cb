"""Collections, partitions and aliases: the DDL operations of the contract over one ``Database``.

Each method has the name and signature of its ``Backend`` operation (a test
checks it) and returns the contract's result type. Every change goes through
the storage engine's catalog and then drops the shared metadata cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np
import pyarrow.compute as pc

from embedb.contract import MAX_NUM_SHARDS
from embedb.contract.results import AliasDescription, AliasList, CollectionDescription, CollectionStats, LoadState
from embedb.engine.properties import checked_keys, checked_properties
from embedb.errors import DataError, InvalidArgumentError, SchemaError
from embedb.index import IndexRequest, IndexService, index_requests
from embedb.index import admin as index_admin
from embedb.index.scalar import scalar_definitions
from embedb.lifecycle import EmbeddingBindings, EmbeddingVersionState, LifecycleService
from embedb.metadata import CollectionMetadata, refuse_partitions_with_partition_key
from embedb.schema import CollectionSchema, DataType, FieldSchema
from embedb.storage import CollectionInfo, Snapshot, StorageEngine
from embedb.text import analyzer


class CollectionOperations:
    """create / list / has / describe / drop / rename collections, their stats, partitions and aliases."""

    def __init__(
        self,
        storage: StorageEngine,
        metadata: CollectionMetadata,
        indexes: IndexService,
        bindings: EmbeddingBindings,
        lifecycle: LifecycleService,
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.indexes = indexes
        self.bindings = bindings
        self.lifecycle = lifecycle

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
        properties: dict[str, Any] | None = None,
        num_shards: int | None = None,
    ) -> None:
        shards = checked_num_shards(num_shards)
        checked = checked_properties(properties) if properties is not None else None
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
        # Scalar and sparse fields' indexes are definitions only (no build): checked now, recorded once the collection is.
        dense = [r for r in requests if not resolved.has_field(r.field_name) or resolved.field(r.field_name).dtype.is_vector]
        scalar_requests = [r for r in requests if r not in dense]
        scalar = scalar_definitions(resolved, scalar_requests)
        requests = dense
        for text_field in resolved.fields:
            if text_field.enable_analyzer:
                analyzer(text_field.analyzer_params)  # InvalidArgumentError naming a bad analyzer, before anything is written
        resolved, model_versions = self.bindings.resolve_schema(index_admin.with_index_metrics(resolved, requests))
        definitions = index_admin.check_definitions(collection_name, resolved, requests)
        # The storage lock before the catalog's, as every storage DDL takes them (drop, load, partitions).
        with self.storage.ddl_lock(), self.storage.catalog.transaction() as cursor:
            info = self.storage.create_collection(collection_name, resolved, checked, num_shards=shards)
            self.bindings.bind(cursor, info.id, model_versions)
        self.bindings.forget(info.id)
        self.metadata.forget()
        for definition, request in zip(scalar, scalar_requests, strict=True):
            self.metadata.scalar_indexes.add(info.id, definition, set())
            if request.params:
                self.metadata.index_properties.alter(info.id, definition.index_name, dict(request.params))
        if definitions:
            index_admin.create_indexes(
                self.indexes, self.metadata.info(collection_name), definitions, sync=False, timeout=None
            )

    def list_collections(self) -> list[str]:
        return self.storage.list_collections()

    def has_collection(self, collection_name: str) -> bool:
        return self.storage.has_collection(collection_name)

    def describe_collection(self, collection_name: str) -> CollectionDescription:
        info = self.metadata.info(collection_name)
        schema = info.schema
        description: CollectionDescription = {
            "collection_name": info.name,
            "collection_id": info.id,
            "description": schema.description,
            "fields": [f.to_dict() for f in schema.fields],
            "functions": [function.to_dict() for function in schema.functions],
            "primary_field": schema.primary.name,
            "auto_id": schema.primary.auto_id,
            "enable_dynamic_field": schema.enable_dynamic_field,
            "partitions": list(info.partitions),
            "num_partitions": len(info.partitions),
            "num_shards": info.num_shards or 1,
            "aliases": [alias for alias, _ in self.storage.list_aliases(info.name)],
            "properties": dict(info.properties),
            "created_at": info.created_at,
            "embedding_versions": self._embedding_versions(info),
        }
        return description

    def _embedding_versions(self, info: CollectionInfo) -> dict[str, list[dict[str, Any]]]:
        """Per model-bound field: each model version it holds, its state, rows with its vectors, and which serves."""
        bindings = self.metadata.bindings(info)
        if not bindings:
            return {}
        rows_per_key: dict[str, int] = {}
        segments = self.metadata.store(info).snapshot().segments
        for view in segments:
            for key in view.data.vectors:
                rows_per_key[key] = rows_per_key.get(key, 0) + view.live_count
        live = sum(view.live_count for view in segments)
        for binding in bindings.values():  # an analyzer version counts the terms of every row's text
            if binding.tokenized:
                rows_per_key.update((v.column_key, live) for v in binding.versions if v.state is EmbeddingVersionState.READY)
        return {
            name: [
                {
                    **version.to_dict(),
                    "rows": rows_per_key.get(version.column_key, 0),
                    "serving": version.column_key == binding.serving_key,
                }
                for version in binding.versions
            ]
            for name, binding in bindings.items()
        }

    def drop_collection(self, collection_name: str) -> None:
        dropped = self.storage.collection(collection_name).id if self.storage.has_collection(collection_name) else None
        if dropped is not None:
            self.lifecycle.stop_collection(dropped)  # no backfill thread outlives the store it writes to
        self.storage.drop_collection(collection_name)
        if dropped is not None:
            self.indexes.forget_collection(dropped)
        self.metadata.forget()

    def rename_collection(self, old_name: str, new_name: str) -> None:
        self.storage.rename_collection(old_name, new_name)
        self.metadata.forget()

    def alter_collection_properties(self, collection_name: str, properties: dict[str, Any]) -> None:
        self.storage.alter_properties(self.metadata.info(collection_name), checked_properties(properties), ())
        self.metadata.forget()

    def drop_collection_properties(self, collection_name: str, property_keys: Sequence[str]) -> None:
        self.storage.alter_properties(self.metadata.info(collection_name), {}, checked_keys(property_keys))
        self.metadata.forget()

    def alter_collection_field(self, collection_name: str, field_name: str, field_params: dict[str, Any]) -> None:
        info = self.metadata.info(collection_name)
        altered = altered_field(info.schema, field_name, field_params)
        if altered is None:
            return  # mmap.enabled: EmbeDB decides its own memory mapping
        fields = tuple(altered if f.name == field_name else f for f in info.schema.fields)
        schema = replace(info.schema, fields=fields)
        self.storage.alter_schema(info, schema.validate(), check=lambda rows: refuse_longer_values(rows, altered))
        self.metadata.forget()

    def get_collection_stats(self, collection_name: str) -> CollectionStats:
        info = self.metadata.info(collection_name)
        return cast(CollectionStats, self.metadata.store(info).stats())

    # ----------------------------------------------------------- partitions

    def create_partition(self, collection_name: str, partition_name: str) -> None:
        info = self.metadata.info(collection_name)
        refuse_partitions_with_partition_key(info)
        self.storage.create_partition(info.name, partition_name)
        self.metadata.forget()

    def drop_partition(self, collection_name: str, partition_name: str) -> None:
        self.storage.drop_partition(self.metadata.info(collection_name).name, partition_name)
        self.metadata.forget()

    def has_partition(self, collection_name: str, partition_name: str) -> bool:
        return partition_name in self.metadata.info(collection_name).partitions

    def list_partitions(self, collection_name: str) -> list[str]:
        return list(self.metadata.info(collection_name).partitions)

    # ----------------------------------------------------------- load state

    def _set_loaded(self, collection_name: str, partition_names: Sequence[str] | None, loaded: bool) -> None:
        if partition_names is not None and (isinstance(partition_names, str) or not isinstance(partition_names, Sequence)):
            raise InvalidArgumentError(f"partition_names must be a list of names, got {partition_names!r}", argument="partition_names")
        self.storage.set_loaded(self.metadata.info(collection_name), partition_names, loaded)
        self.metadata.forget()

    def load_collection(self, collection_name: str) -> None:
        self._set_loaded(collection_name, None, True)

    def release_collection(self, collection_name: str) -> None:
        self._set_loaded(collection_name, None, False)

    def load_partitions(self, collection_name: str, partition_names: Sequence[str]) -> None:
        self._set_loaded(collection_name, partition_names, True)

    def release_partitions(self, collection_name: str, partition_names: Sequence[str]) -> None:
        self._set_loaded(collection_name, partition_names, False)

    def get_load_state(self, collection_name: str, partition_name: str | None = None) -> LoadState:
        info = self.metadata.info(collection_name)
        if partition_name is not None:
            self.storage.partition_id(info, partition_name)
            loaded = partition_name not in info.released
        else:
            loaded = not info.released >= info.partitions.keys()
        return {"state": "Loaded" if loaded else "NotLoad"}

    # -------------------------------------------------------------- aliases

    def create_alias(self, collection_name: str, alias: str) -> None:
        self.storage.create_alias(collection_name, alias)
        self.metadata.forget()

    def alter_alias(self, collection_name: str, alias: str) -> None:
        self.storage.alter_alias(collection_name, alias)
        self.metadata.forget()

    def drop_alias(self, alias: str) -> None:
        self.storage.drop_alias(alias)
        self.metadata.forget()

    def list_aliases(self, collection_name: str | None = None) -> AliasList:
        pairs = self.storage.list_aliases(collection_name)
        return {"aliases": [alias for alias, _ in pairs], "collection_name": collection_name or ""}

    def describe_alias(self, alias: str) -> AliasDescription:
        name, collection = self.storage.describe_alias(alias)
        return {"alias": name, "collection_name": collection}


def altered_field(schema: CollectionSchema, field_name: str, field_params: dict[str, Any]) -> FieldSchema | None:
    """The field with ``field_params``' new limits (None when nothing a row could break changes); raises on bad params."""
    field = schema.field(field_name)
    params = checked_properties(field_params)
    unknown = sorted(set(params) - {"max_length", "max_capacity", "mmap.enabled"})
    if unknown:
        raise InvalidArgumentError(f"field {field_name!r}: only max_length, max_capacity and mmap.enabled can change, not {unknown}")
    changes = {key: params[key] for key in ("max_length", "max_capacity") if key in params}
    if not changes:
        return None
    texts = field.dtype is DataType.VARCHAR or field.element_type is DataType.VARCHAR
    if "max_length" in changes and not texts:
        raise InvalidArgumentError(f"field {field_name!r} ({field.dtype.name}) has no max_length", argument="field_params")
    if "max_capacity" in changes and field.dtype is not DataType.ARRAY:
        raise InvalidArgumentError(f"field {field_name!r} ({field.dtype.name}) has no max_capacity", argument="field_params")
    return replace(field, **changes).validate()


def refuse_longer_values(rows: Snapshot, field: FieldSchema) -> None:
    """Before a field's limits shrink: ``DataError`` naming a live row whose value is longer than they allow."""
    for view in rows.segments:
        if view.data.num_rows == 0 or field.name not in view.data.table.column_names:
            continue
        column = view.data.table.column(field.name)
        if field.dtype is DataType.ARRAY:
            too_long = np.asarray(pc.fill_null(pc.list_value_length(column), 0)) > (field.max_capacity or 0)
            if field.element_type is DataType.VARCHAR:
                lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy()
                items = np.asarray(pc.fill_null(pc.binary_length(pc.list_flatten(column)), 0)) > (field.max_length or 0)
                owners = np.repeat(np.arange(len(lengths)), lengths)
                too_long = too_long | np.bincount(owners[items], minlength=len(lengths)).astype(bool)
        else:
            too_long = np.asarray(pc.fill_null(pc.binary_length(column), 0)) > (field.max_length or 0)
        bad = np.nonzero(too_long & ~view.deleted)[0]
        if bad.size:
            key = view.data.pks[int(bad[0])].item()
            raise DataError(f"field {field.name!r}: the row with key {key!r} holds a longer value than the new limit", field=field.name)


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
    id_types = {
        "int": DataType.INT64,
        "int64": DataType.INT64,
        "str": DataType.VARCHAR,
        "string": DataType.VARCHAR,
        "varchar": DataType.VARCHAR,
    }
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


def checked_num_shards(num_shards: int | None) -> int | None:
    """A collection's ``num_shards`` as stored; ``InvalidArgumentError`` outside 1 to ``MAX_NUM_SHARDS``.

    None stays None: one node describes it as 1, a cluster's router places the rows on every shard
    (it logs the number it chose, so only a record logged before collections had one has none).
    """
    if num_shards is None:
        return None
    if not 1 <= int(num_shards) <= MAX_NUM_SHARDS:
        raise InvalidArgumentError(
            f"num_shards must be from 1 to {MAX_NUM_SHARDS}, got {num_shards!r}", argument="num_shards"
        )
    return int(num_shards)
