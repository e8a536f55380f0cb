"""What the layers above storage learn from it: ``StorageObserver``.

The owner of a ``StorageEngine`` (``embedb.engine.Database``) passes one
observer in when it builds the engine; the engine hands it to every collection
store it opens. Storage never imports the layers above it and keeps no list of
callbacks: one object, given at construction, is told of every change.

An observer is called on the write path (a seal, a compaction, a backfill
chunk), so it must be quick: queue work, never do it inline. What an observer
raises is never raised into the write that triggered it (the write has already
committed); the store logs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from embedb.storage.engine import CollectionInfo
    from embedb.storage.segment import SegmentData
    from embedb.storage.store import CollectionStore


class StorageObserver(Protocol):
    """Told of every store the engine opens and every change to a store's sealed segments."""

    def store_opened(self, info: CollectionInfo, store: CollectionStore) -> None:
        """A collection's store was opened (once per store, before any other event of it)."""

    def segments_changed(self, collection_id: int, added: list[SegmentData], removed: list[int]) -> None:
        """Sealed segments were published (a seal or a compaction) or dropped."""

    def column_added(self, collection_id: int, data: SegmentData, key: str) -> None:
        """A vector column (``key``) was added to a sealed segment (a backfill chunk)."""


class NoObserver:
    """An observer that ignores everything: a bare storage engine (tools, tests)."""

    def store_opened(self, info: CollectionInfo, store: CollectionStore) -> None:
        return None

    def segments_changed(self, collection_id: int, added: list[SegmentData], removed: list[int]) -> None:
        return None

    def column_added(self, collection_id: int, data: SegmentData, key: str) -> None:
        return None
