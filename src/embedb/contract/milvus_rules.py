"""Milvus's rules that EmbeDB's own API does not impose, for the two Milvus facades.

``embedb.milvus`` (pymilvus's ``MilvusClient`` embedded) and the Milvus gRPC
service (``embedb.server.milvus``) both answer as Milvus does; where Milvus
refuses something EmbeDB's contract allows, the rule is written once here,
over any ``Backend``.
"""

from __future__ import annotations

from embedb.contract.backend import Backend
from embedb.errors import AliasNotFoundError, CollectionNotFoundError, InvalidArgumentError, InvalidStateError


def drop_collection(backend: Backend, collection_name: str) -> None:
    """Milvus drops a collection idempotently: a missing one is a no-op; one named by an alias is refused.

    Skipping a drop *by an alias* silently would leave the data in place, so it
    is an ``InvalidArgumentError`` naming the collection to drop.
    """
    try:
        backend.drop_collection(collection_name)
    except CollectionNotFoundError:
        try:
            target = backend.describe_alias(collection_name)["collection_name"]
        except AliasNotFoundError:
            return
        raise InvalidArgumentError(
            f"{collection_name!r} is an alias of {target!r}: drop the collection by its name", argument="collection_name"
        ) from None


def drop_alias(backend: Backend, alias: str) -> None:
    """As pymilvus code expects of Milvus, dropping an alias that does not exist is a no-op."""
    try:
        backend.drop_alias(alias)
    except AliasNotFoundError:
        pass


def refuse_dropping_loaded_partition(backend: Backend, *, collection_name: str, partition_name: str) -> None:
    """Milvus drops only a released partition; raises ``InvalidStateError`` for a loaded one."""
    if backend.get_load_state(collection_name, partition_name)["state"] == "Loaded":
        raise InvalidStateError(
            f"partition {partition_name!r} of {collection_name!r} is loaded: release_partitions before dropping it",
            partition=partition_name,
        )


def refuse_dropping_index_of_loaded_collection(backend: Backend, *, collection_name: str) -> None:
    """Milvus drops an index only of a released collection; raises ``InvalidStateError`` for a loaded one."""
    if backend.get_load_state(collection_name)["state"] == "Loaded":
        raise InvalidStateError(
            f"collection {collection_name!r} is loaded: release_collection before dropping its index", collection=collection_name
        )


def refuse_time_fields(time_fields: object) -> None:
    """``time_fields`` (TIMESTAMPTZ values split into components) is not supported: say so rather than ignore it."""
    if time_fields:
        raise InvalidArgumentError(
            "time_fields is not supported yet; TIMESTAMPTZ values come back as UTC ISO 8601 text", argument="time_fields"
        )
