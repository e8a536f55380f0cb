"""What a shard's parts and the router share: an operation's deliberate error as a value, and the read-write lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from embedb.errors import EmbedbError

# A read's filter as the router compiled it, beside its text: (the context it was compiled in, the compiled filter).
SHIPPED_FILTER = "_compiled_filter"


@dataclass(frozen=True)
class CollectionView:
    """What the router reads of a collection from the first shard, once per decision: how to order its rows
    (``schema``), how to compile its filters as a shard does (``filter_context``: indexed fields, time zone),
    and which shards hold it (``collection_id`` and ``num_shards``, for ``routing.holding``)."""

    schema: Any
    filter_context: tuple[frozenset[str], str]
    collection_id: int
    num_shards: int | None


@dataclass(frozen=True)
class Failed:
    """An operation's deliberate error, carried back as a value."""

    error: EmbedbError


class ReadWriteLock:
    """Many readers or one writer; a waiting writer is not starved by new readers."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._writer or self._waiting_writers:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._condition.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()


def outcome_of(run: Callable[[], Any]) -> Any:
    """``run()``'s result, or ``Failed`` with the ``EmbedbError`` it raised (which every shard and replay meets alike)."""
    try:
        return run()
    except EmbedbError as error:
        return Failed(error)
