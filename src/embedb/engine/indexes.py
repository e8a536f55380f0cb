"""Indexes: create / list / describe / drop over one ``Database`` (the work is in ``embedb.index.admin``)."""

from __future__ import annotations

from typing import Any, cast

from embedb.contract.results import IndexDescription
from embedb.index import IndexService, index_requests
from embedb.index import admin as index_admin
from embedb.metadata import CollectionMetadata


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
        definitions = index_admin.check_definitions(info.name, info.schema, requests)
        index_admin.create_indexes(self.indexes, info, definitions, sync=sync, timeout=timeout)

    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        return index_admin.list_indexes(self.indexes, self.metadata.info(collection_name), field_name or None)

    def describe_index(self, collection_name: str, index_name: str) -> IndexDescription:
        return cast(IndexDescription, index_admin.describe_index(self.indexes, self.metadata.info(collection_name), index_name))

    def drop_index(self, collection_name: str, index_name: str) -> None:
        index_admin.drop_index(self.indexes, self.metadata.info(collection_name), index_name)
