"""Indexes: create / list / describe / drop over one ``Database`` (the work is in ``embedb.index.admin``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np

from embedb.contract.results import IndexDescription
from embedb.engine.properties import checked_keys, checked_properties
from embedb.errors import DataError, IndexAlreadyExistsError
from embedb.index import IndexRequest, IndexService, index_requests, resolve_spec
from embedb.index import admin as index_admin
from embedb.index.scalar import ScalarIndex, scalar_definitions
from embedb.metadata import CollectionMetadata
from embedb.schema import CollectionSchema, MetricType
from embedb.storage import CollectionInfo, Snapshot


class IndexOperations:
    """The index operations of the contract; each has its ``Backend`` operation's name and signature."""

    def __init__(self, metadata: CollectionMetadata, indexes: IndexService) -> None:
        self.metadata = metadata
        self.indexes = indexes

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
        info = self.metadata.info(collection_name)
        requests = index_requests(
            index_params, field_name=field_name, index_type=index_type, metric_type=metric_type, params=params, index_name=index_name
        )
        scalar = [r for r in requests if info.schema.has_field(r.field_name) and not info.schema.field(r.field_name).dtype.is_vector]
        vector = [r for r in requests if r not in scalar]
        scalar_definitions = self._check_scalar_indexes(info, scalar)
        if vector:
            indexed = set(self.indexes.collection(info).definitions)
            changes = index_admin.metric_changes(info.schema, vector, indexed)
            schema = index_admin.with_index_metrics(info.schema, changes)
            definitions = index_admin.check_definitions(info.name, schema, vector)
            taken = {i.index_name for i in self.metadata.scalar_indexes.definitions(info.id).values()}
            taken |= {d.index_name for d in scalar_definitions}
            if clash := next((d.index_name for d in definitions if d.index_name in taken), None):
                raise IndexAlreadyExistsError(f"index name {clash!r} is taken by a scalar index", index=clash)
            index_admin.refuse_taken(self.indexes, info, definitions)
            if changes:
                info = self._set_metrics(info, schema, changes)
        for definition, request in zip(scalar_definitions, scalar, strict=True):
            self.metadata.scalar_indexes.add(info.id, definition, set())
            if request.params:  # a sparse index's parameters (bm25_k1, bm25_b...): kept, and read by BM25 searches
                self.metadata.index_properties.alter(info.id, definition.index_name, dict(request.params))
        if vector:
            index_admin.create_indexes(self.indexes, info, definitions, sync=sync, timeout=timeout)

    def _set_metrics(self, info: CollectionInfo, schema: CollectionSchema, changes: list[IndexRequest]) -> CollectionInfo:
        """Store the fields' new metrics (Milvus's metric is the index's); COSINE needs every stored vector non-zero."""
        cosine = [r.field_name for r in changes if schema.field(r.field_name).metric_type is MetricType.COSINE]

        def refuse_zero_vectors(rows: Snapshot) -> None:
            for name in cosine:
                for view in rows.segments:
                    vectors = view.data.vectors.get(name)
                    if vectors is None or not len(vectors):
                        continue
                    zero = ~np.any(vectors, axis=1) & ~view.deleted[: len(vectors)]
                    if zero.any():
                        key = view.data.pks[int(np.nonzero(zero)[0][0])].item()
                        raise DataError(
                            f"field {name!r} holds a zero vector (primary key {key!r}), which has no direction for COSINE;"
                            " delete or replace it before indexing with COSINE",
                            field=name,
                        )

        self.metadata.storage.alter_schema(info, schema, check=refuse_zero_vectors)
        self.metadata.forget()
        return self.metadata.info(info.name)

    def _check_scalar_indexes(self, info: CollectionInfo, requests: list[IndexRequest]) -> list[ScalarIndex]:
        """Milvus's scalar indexes (INVERTED, BITMAP, STL_SORT, TRIE), checked against the schema and the indexes there."""
        definitions = scalar_definitions(info.schema, requests)
        vector_names = {d.index_name for d in self.indexes.collection(info).definitions.values()}
        for definition in definitions:
            self.metadata.scalar_indexes.check(info.id, definition, vector_names)
        return definitions

    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        info = self.metadata.info(collection_name)
        scalar = [i.index_name for i in self.metadata.scalar_indexes.definitions(info.id).values() if field_name in (None, "", i.field_name)]
        return sorted([*index_admin.list_indexes(self.indexes, info, field_name or None), *scalar])

    def describe_index(self, collection_name: str, index_name: str) -> IndexDescription:
        info = self.metadata.info(collection_name)
        scalar = self.metadata.scalar_indexes.find(info.id, index_name)
        if scalar is not None:
            rows = int(self.metadata.store(info).stats()["row_count"])
            found = cast(IndexDescription, scalar.describe(rows))
            field = info.schema.field(scalar.field_name)
            if field.dtype.is_sparse and field.metric_type is not None:  # a sparse index has a metric, and its params
                found["metric_type"] = field.metric_type.value
                found["params"] = dict(self.metadata.index_properties.get(info.id, scalar.index_name))
        else:
            found = cast(IndexDescription, index_admin.describe_index(self.indexes, info, index_name))
        properties = self.metadata.index_properties.get(info.id, found["index_name"])
        if properties:
            found["properties"] = properties
        return found

    def alter_index_properties(self, collection_name: str, index_name: str, properties: dict[str, Any]) -> None:
        info = self.metadata.info(collection_name)
        name = self.describe_index(collection_name, index_name)["index_name"]
        self.metadata.index_properties.alter(info.id, name, checked_properties(properties))

    def set_version_index(
        self,
        collection_name: str,
        field_name: str,
        column_key: str,
        *,
        dim: int,
        index_type: str,
        params: dict[str, Any],
        search_params: dict[str, Any],
        timeout: float | None = None,
        sync: bool = True,
        require_vectors: bool = True,
    ) -> None:
        """Index one model version's column of an indexed field with its own spec (a tuned recipe); ``sync`` waits for it."""
        info = self.metadata.info(collection_name)
        field = info.schema.field(field_name)
        assert field.metric_type is not None
        spec = resolve_spec(index_type, field.metric_type, params, dim=dim)
        if column_key == field.name:  # the field's only column (no model versions): its index changes
            index_admin.replace_index(self.indexes, info, field.name, spec, sync=sync, timeout=timeout)
            return
        index_admin.set_version_index(
            self.indexes, info, column_key, spec, dict(search_params), sync=sync, timeout=timeout,
            require_vectors=require_vectors,
        )

    def drop_index_properties(self, collection_name: str, index_name: str, property_keys: Sequence[str]) -> None:
        info = self.metadata.info(collection_name)
        name = self.describe_index(collection_name, index_name)["index_name"]
        self.metadata.index_properties.alter(info.id, name, {}, checked_keys(property_keys))

    def drop_index(self, collection_name: str, index_name: str) -> None:
        info = self.metadata.info(collection_name)
        scalar = self.metadata.scalar_indexes.find(info.id, index_name)
        if scalar is not None:
            self.metadata.scalar_indexes.drop(info.id, scalar)
            self.metadata.index_properties.forget(info.id, scalar.index_name)
            return
        name = index_admin.find_definition(self.indexes, info, index_name).index_name
        index_admin.drop_index(self.indexes, info, index_name)
        self.metadata.index_properties.forget(info.id, name)
