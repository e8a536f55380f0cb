"""Milvus's rules that EmbeDB's own API does not impose, for the two Milvus facades.

``embedb.milvus`` (pymilvus's ``MilvusClient`` embedded) and the Milvus gRPC
service (``embedb.server.milvus``) both answer as Milvus does; where Milvus
refuses something EmbeDB's contract allows, the rule is written once here,
over any ``Backend``.
"""

from __future__ import annotations

from embedb.contract.backend import Backend
from embedb.errors import InvalidStateError


def refuse_dropping_loaded_partition(backend: Backend, *, collection_name: str, partition_name: str) -> None:
    """Milvus drops only a released partition; raises ``InvalidStateError`` for a loaded one."""
    if backend.get_load_state(collection_name, partition_name)["state"] == "Loaded":
        raise InvalidStateError(
            f"partition {partition_name!r} of {collection_name!r} is loaded: release_partitions before dropping it",
            partition=partition_name,
        )
