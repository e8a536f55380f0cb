"""Indexes: create / list / describe / drop over one ``Database`` (the work is in ``embedb.index.admin``)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from embedb.contract.results import IndexDescription
from embedb.errors import DataError
from embedb.index import IndexRequest, IndexService, index_requests
from embedb.index import admin as index_admin
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
        indexed = set(self.indexes.collection(info).definitions)
        changes = index_admin.metric_changes(info.schema, requests, indexed)
        schema = index_admin.with_index_metrics(info.schema, changes)
        definitions = index_admin.check_definitions(info.name, schema, requests)
        if changes:
            info = self._set_metrics(info, schema, changes)
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

    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        return index_admin.list_indexes(self.indexes, self.metadata.info(collection_name), field_name or None)

    def describe_index(self, collection_name: str, index_name: str) -> IndexDescription:
        return cast(IndexDescription, index_admin.describe_index(self.indexes, self.metadata.info(collection_name), index_name))

    def drop_index(self, collection_name: str, index_name: str) -> None:
        index_admin.drop_index(self.indexes, self.metadata.info(collection_name), index_name)
