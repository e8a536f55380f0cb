"""The storage of one collection: WAL, growing segment, sealed segments, snapshots.

Writes go WAL first, then into memory, under the collection's write lock; the
caller is acknowledged once the WAL record is durable (group commit). Readers
never lock: ``snapshot()`` returns an immutable list of segment views whose
deletion marks are pinned, so a concurrent write, seal or compaction never
changes a running query. ``flush()`` seals the growing segment into files,
persists deletion marks and advances the WAL checkpoint LSN in one catalog
transaction; ``compact()`` merges sealed segments and swaps them in atomically.

``CollectionStore`` owns the state (``state.StoreState``), the WAL writer and
the two locks, and runs the write path; the other steps live beside it and get
what they need explicitly: ``recovery`` (open), ``flush`` (seal and
publish), ``compaction`` (plan and merge), ``vector_columns`` and
``partial_columns`` (backfills, chunk by chunk).

Locks, always taken in this order:

- the flush lock serialises what replaces sealed segments or their files
  (flush, compaction, vector-column changes, close); it is held for long;
- the write lock (re-entrant) guards the state: every write, and the short
  steps of the above that read or swap segments. Readers take it only to
  build a new snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from embedb.config import Settings
from embedb.errors import ClosedError, DuplicateKeyError, ReadOnlyError
from embedb.storage.catalog import Catalog
from embedb.storage.compaction import merge_group, plan_compaction
from embedb.storage.flush import publish_flush, write_sealed_segments
from embedb.storage.records import RecordKind, RowBatch, encode_batch, encode_json, encode_keys
from embedb.storage.recovery import recover
from embedb.storage.segment import SegmentData, SegmentView
from embedb.storage.state import Snapshot, StoreLayout
from embedb.storage.vector_columns import SameTransaction, append_rows, drop_column

if TYPE_CHECKING:
    from embedb.storage.catalog import CollectionInfo

log = logging.getLogger(__name__)


class StorageObserver(Protocol):
    """Told of every store the engine opens and every change to a store's sealed segments."""

    def store_opened(self, info: CollectionInfo, store: CollectionStore) -> None:
        """A collection's store was opened (once per store, before any other event of it)."""

    def segments_changed(self, collection_id: int, added: list[SegmentData], removed: list[int]) -> None:
        """Sealed segments were published (a seal or a compaction) or dropped."""

    def column_added(self, collection_id: int, data: SegmentData, key: str) -> None:
        """A vector column (``key``) was added to a sealed segment (the chunk that completed it)."""


class NoObserver:
    """An observer that ignores everything: a bare storage engine (tools, tests)."""

    def store_opened(self, info: CollectionInfo, store: CollectionStore) -> None:
        return None

    def segments_changed(self, collection_id: int, added: list[SegmentData], removed: list[int]) -> None:
        return None

    def column_added(self, collection_id: int, data: SegmentData, key: str) -> None:
        return None


class WritePreconditionFailed(Exception):
    """A write's precondition was false under the write lock: nothing was written; prepare it again."""


def _require(precondition: Callable[[], bool] | None) -> None:
    if precondition is not None and not precondition():
        raise WritePreconditionFailed


class CollectionStore:
    """Durable rows of one collection. Thread-safe."""

    def __init__(
        self,
        *,
        collection_id: int,
        layout: StoreLayout,
        catalog: Catalog,
        settings: Settings,
        vector_dims: dict[str, int],
        pk_is_int: bool,
        read_only: bool,
        observer: StorageObserver | None = None,
    ) -> None:
        self.collection_id = collection_id
        self.observer: StorageObserver = observer or NoObserver()
        self.layout = layout
        self.catalog = catalog
        self.settings = settings
        self.read_only = read_only
        self._write_lock = threading.RLock()
        self._flush_lock = threading.Lock()
        self._closed = False
        recovered = recover(
            collection_id=collection_id,
            layout=layout,
            catalog=catalog,
            settings=settings,
            vector_dims=vector_dims,
            pk_is_int=pk_is_int,
            read_only=read_only,
        )
        self._state = recovered.state
        self._wal = recovered.wal

    def _notify(self, added: list[SegmentData], removed: list[int]) -> None:
        try:
            self.observer.segments_changed(self.collection_id, added, removed)
        except Exception:  # the change has committed; an observer must not fail the write path
            log.exception("storage observer failed on a segment change")

    @contextlib.contextmanager
    def writes_held(self) -> Iterator[Snapshot]:
        """Hold every write of this collection while the block runs; yields the rows as they stand."""
        with self._write_lock:
            yield self.snapshot()

    # ---------------------------------------------------------------- reads

    def snapshot(self) -> Snapshot:
        """The current rows, pinned; cheap when nothing changed since the last call."""
        state = self._state
        current = state.cached_snapshot
        if current is not None:
            return current
        with self._write_lock:
            if state.cached_snapshot is None:
                views = [
                    SegmentView(data, state.marks[sid].array, sealed=True, deleted_count=state.marks[sid].count)
                    for sid, data in sorted(state.sealed.items())
                ]
                for growing, marks in [*state.frozen, (state.growing, state.growing_marks)]:
                    if growing.num_rows:
                        data = growing.view()
                        deleted = marks.array[: data.num_rows]
                        views.append(SegmentView(data, deleted, sealed=False, deleted_count=marks.count))
                state.cached_snapshot = Snapshot(tuple(views), state.last_lsn)
            return state.cached_snapshot

    @property
    def last_lsn(self) -> int:
        return self._state.last_lsn

    @property
    def growing_rows(self) -> int:
        return self._state.growing.num_rows

    def live_keys_mask(self, keys: np.ndarray, snapshot: Snapshot | None = None) -> np.ndarray:
        """A bool per key: is there a live row with that key?"""
        found = np.zeros(keys.shape[0], dtype=bool)
        for view in (snapshot or self.snapshot()).segments:
            positions, rows = view.data.locate(keys)
            if positions.size:
                found[positions[~view.deleted[rows]]] = True
        return found

    # --------------------------------------------------------------- writes

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError("this data directory is open read-only")
        if self._closed:
            raise ClosedError("the collection's storage is closed")

    def insert(
        self, batch: RowBatch, *, check_duplicates: bool = True, precondition: Callable[[], bool] | None = None
    ) -> int:
        """Append new rows; raise ``DuplicateKeyError`` (writing nothing) if a key is live already.

        ``precondition`` runs under the write lock, right before the WAL append: when
        it returns False, ``WritePreconditionFailed`` is raised and nothing is written
        (the layer above re-prepares the batch against what changed).
        """
        self._check_writable()
        payload = encode_batch(batch)
        with self._write_lock:
            _require(precondition)
            if check_duplicates:
                keys = batch.primary_keys
                existing = keys[self.live_keys_mask(keys)]
                if existing.size:
                    shown = ", ".join(repr(k.item()) for k in existing[:5])
                    raise DuplicateKeyError(
                        f"{existing.size} primary key(s) already exist: {shown}; use upsert to replace rows",
                        keys=[k.item() for k in existing[:20]],
                    )
            lsn, _ = self._log_and_apply(RecordKind.INSERT, payload)
        self._wal_sync(lsn)
        return lsn

    def upsert(self, batch: RowBatch, *, precondition: Callable[[], bool] | None = None) -> int:
        """Replace the rows with these keys (or add them), in one atomic WAL record (``precondition``: see ``insert``)."""
        self._check_writable()
        payload = encode_batch(batch)
        with self._write_lock:
            _require(precondition)
            lsn, _ = self._log_and_apply(RecordKind.UPSERT, payload)
        self._wal_sync(lsn)
        return lsn

    def delete(self, keys: np.ndarray) -> int:
        """Delete live rows by key; return how many rows were deleted."""
        self._check_writable()
        keys = np.unique(keys)
        with self._write_lock:
            count = int(self.live_keys_mask(keys).sum())
            if count == 0:
                return 0
            lsn, _ = self._log_and_apply(RecordKind.DELETE, encode_keys(keys))
        self._wal_sync(lsn)
        return count

    def drop_partition(self, partition_id: int) -> int:
        """Delete every row of a partition; return how many."""
        self._check_writable()
        with self._write_lock:
            lsn, deleted = self._log_and_apply(RecordKind.DROP_PARTITION, encode_json({"partition_id": partition_id}))
        self._wal_sync(lsn)
        return deleted

    def _wal_sync(self, lsn: int) -> None:
        assert self._wal is not None
        self._wal.sync_to(lsn)

    def _log_and_apply(self, kind: RecordKind, payload: bytes | memoryview) -> tuple[int, int]:
        """Append a record to the WAL and apply it; return its LSN and the rows it deleted.

        The caller holds the write lock; the record is not yet durable (``_wal_sync``).
        A store closed meanwhile (its collection dropped) refuses: ``_check_writable`` ran before the lock.
        """
        self._check_writable()
        assert self._wal is not None
        lsn = self._wal.append(kind, payload)
        deleted = self._state.apply(kind, payload, lsn)
        self._state.last_lsn = lsn
        return lsn, deleted

    # ---------------------------------------------------------------- flush

    def needs_flush(self) -> bool:
        if self.read_only or self._wal is None:
            return False
        s = self.settings
        state = self._state
        return bool(
            state.frozen
            or state.growing.num_rows >= s.segment_max_rows
            or state.growing.nbytes >= s.segment_max_bytes
            or self._wal.bytes_in_log >= s.wal_max_bytes
        )

    def flush(self) -> None:
        """Seal in-memory rows into segment files and advance the WAL checkpoint LSN.

        The steps and what a crash between them leaves are in ``storage.flush``.
        """
        self._check_writable()
        assert self._wal is not None
        state = self._state
        with self._flush_lock:
            with self._write_lock:
                if state.last_lsn == state.checkpoint_lsn and not state.frozen:
                    return
                state.freeze_growing()
                to_seal = list(state.frozen)
                target_lsn = self._wal.rotate()
            sealed = write_sealed_segments(to_seal, layout=self.layout)
            with self._write_lock:
                added = publish_flush(
                    state,
                    sealed,
                    target_lsn,
                    layout=self.layout,
                    catalog=self.catalog,
                    collection_id=self.collection_id,
                )
                self._notify(added, [])
            self._wal.drop_files_through(target_lsn)

    # ------------------------------------------------------------ compaction

    def compaction_plan(self) -> list[list[int]]:
        """Groups of sealed segments worth merging: deletion-heavy ones, and runs of small ones."""
        return plan_compaction(self._state, self.settings)

    def compact(self) -> int:
        """Merge what ``compaction_plan`` proposes; return the number of segments merged away."""
        self._check_writable()
        merged = 0
        with self._flush_lock:
            for group in self.compaction_plan():
                added = merge_group(
                    self._state,
                    group,
                    write_lock=self._write_lock,
                    layout=self.layout,
                    catalog=self.catalog,
                    collection_id=self.collection_id,
                )
                self._notify(added, group)
                merged += len(group)
        return merged

    # -------------------------------------------------------- vector columns

    def sealed_segments(self) -> list[SegmentData]:
        """The sealed segments now (rows may be deleted; see ``snapshot`` for marks)."""
        with self._write_lock:
            return list(self._state.sealed.values())

    def vector_rows_done(self, segment_id: int, key: str) -> int:
        """Rows of a sealed segment's vector column ``key`` that are durable (0: none, or no such segment).

        The segment's row count once the column is complete; in between, the
        rows of the chunks ``add_vector_rows`` recorded, which a crash keeps.
        """
        data = self._state.sealed.get(segment_id)
        if data is None:
            return 0
        if key in data.vectors:
            return data.num_rows
        partial = self._state.partials.get((segment_id, key))
        return partial.rows_done if partial is not None else 0

    def add_vector_rows(
        self,
        segment_id: int,
        key: str,
        start: int,
        matrix: np.ndarray,
        *,
        same_transaction: SameTransaction | None = None,
    ) -> bool:
        """Write rows ``start...`` of a sealed segment's new vector column ``key`` durably; return whether they were.

        Rows come in order: ``start`` is ``vector_rows_done(segment_id, key)``.
        The rows are fsync'd, then committed in one catalog transaction together
        with ``same_transaction(cursor)`` (the caller's own bookkeeping); the rows
        that complete the column publish it in that transaction, and the index
        layer hears of it. After a crash, exactly the committed rows are kept.
        Returns False, writing nothing and not calling ``same_transaction``, when
        the segment is gone (compacted or dropped) or the column is complete.
        Raises ``ValueError`` (nothing written) for rows out of order, of another
        width than the rows before, or past the segment's end.
        """
        self._check_writable()
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        with self._flush_lock:
            data = self._state.sealed.get(segment_id)
            if data is None or key in data.vectors:
                return False
            updated = append_rows(
                self._state,
                data,
                key,
                start,
                matrix,
                write_lock=self._write_lock,
                layout=self.layout,
                catalog=self.catalog,
                collection_id=self.collection_id,
                same_transaction=same_transaction,
            )
        if updated is not None:
            try:
                self.observer.column_added(self.collection_id, updated, key)
            except Exception:  # the column has committed; an observer must not fail the backfill
                log.exception("storage observer failed on a new column")
        return True

    def drop_vector_column(self, key: str) -> int:
        """Remove a vector column from every sealed segment (seal first); return how many segments had it."""
        self._check_writable()
        self.flush()
        with self._flush_lock:
            return drop_column(
                self._state,
                key,
                write_lock=self._write_lock,
                layout=self.layout,
                catalog=self.catalog,
                collection_id=self.collection_id,
            )

    # ---------------------------------------------------------------- misc

    def segment_folder(self, segment_id: int) -> Path:
        return self.layout.segment(segment_id)

    def stats(self) -> dict[str, Any]:
        snapshot = self.snapshot()
        state = self._state
        return {
            "row_count": snapshot.live_count,
            "sealed_segments": len(state.sealed),
            "growing_rows": state.growing.num_rows + sum(g.num_rows for g, _ in state.frozen),
            "deleted_rows": sum(v.data.num_rows - v.live_count for v in snapshot.segments),
            "last_lsn": state.last_lsn,
            "checkpoint_lsn": state.checkpoint_lsn,
            "wal_bytes": self._wal.bytes_in_log if self._wal else None,
        }

    def close(self) -> None:
        with self._flush_lock, self._write_lock:
            if self._closed:
                return
            self._closed = True
            if self._wal is not None:
                self._wal.close()
