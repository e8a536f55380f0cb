"""``Client``: the contract plus the conveniences every connection offers.

``Backend`` (``embedb.contract``) declares the operations; ``Client`` adds what
is built from them and needs no adapter of its own: a ``Collection`` handle,
pymilvus-style iterators and a wait for index builds. Every adapter (embedded,
HTTP) is a ``Client``; none of these methods is an operation, so none travels
over a protocol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from embedb.collection import Collection
from embedb.contract import Backend, results
from embedb.iterators import QueryIterator, SearchIterator


class Client(Backend):
    """A connection to an EmbeDB database (what ``embedb.connect`` returns)."""

    def __enter__(self) -> Self:
        return self

    def wait_for_index(
        self,
        collection_name: str,
        index_name: str,
        *,
        timeout: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> results.IndexDescription:
        """Poll ``describe_index`` until the index is not building any more (or ``timeout`` s passed); return it.

        ``progress(indexed_rows, rows_to_index)`` follows the build (``embedb.progress("index")`` draws it).
        """
        try:
            return self._wait_for_index(collection_name, index_name, timeout, progress)
        finally:
            close = getattr(progress, "close", None)  # an embedb.progress bar stops drawing whatever the outcome
            if callable(close):
                close()

    def _wait_for_index(
        self,
        collection_name: str,
        index_name: str,
        timeout: float | None,
        progress: Callable[[int, int], None] | None,
    ) -> results.IndexDescription:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            description = self.describe_index(collection_name, index_name)
            if progress is not None:
                indexed = int(description["indexed_rows"])
                progress(indexed, indexed + int(description["pending_index_rows"]))
            if description["state"] != "InProgress" or not description.get("builds_enabled", True):
                return description
            if deadline is not None and time.monotonic() >= deadline:
                return description
            time.sleep(0.05)

    # ---------------------------------------------------------- conveniences

    def collection(self, name: str) -> Collection:
        """A handle on one collection with the same methods minus the name."""
        self.describe_collection(name)
        return Collection(self, name)

    def query_iterator(
        self,
        collection_name: str,
        *,
        batch_size: int = 1000,
        limit: int = -1,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> QueryIterator:
        """Page through every matching row in primary-key order without holding them all."""
        return QueryIterator(
            self,
            collection_name,
            batch_size=batch_size,
            limit=limit,
            filter=filter,
            output_fields=output_fields,
            partition_names=partition_names,
        )

    def search_iterator(
        self,
        collection_name: str,
        data: Any,
        *,
        batch_size: int = 1000,
        limit: int = -1,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> SearchIterator:
        """Page through the hits of one query, closest first, by a distance cursor (not capped like ``search``)."""
        return SearchIterator(
            self,
            collection_name,
            data,
            batch_size=batch_size,
            limit=limit,
            filter=filter,
            output_fields=output_fields,
            search_params=search_params,
            anns_field=anns_field,
            partition_names=partition_names,
        )
