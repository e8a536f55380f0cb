"""The storage of one collection: WAL, growing segment, sealed segments, snapshots.

Writes go WAL first, then into memory, under the collection's write lock; the
caller is acknowledged once the WAL record is durable (group commit). Readers
never lock: ``snapshot()`` returns an immutable list of segment views whose
deletion marks are pinned, so a concurrent write, seal or compaction never
changes a running query. ``checkpoint()`` seals the growing segment into files,
persists deletion marks and advances the WAL checkpoint in one catalog
transaction; ``compact()`` merges sealed segments and swaps them in atomically.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedb.config import Settings
from embedb.errors import DuplicateKeyError, ReadOnlyError, StorageError
from embedb.storage.catalog import Catalog
from embedb.storage.deletions import DeletionMarks
from embedb.storage.events import NoObserver, StorageObserver
from embedb.storage.records import (
    RecordKind,
    RowBatch,
    decode_batch,
    decode_json,
    decode_keys,
    encode_batch,
    encode_json,
    encode_keys,
)
from embedb.storage.segment import (
    GrowingSegment,
    SegmentData,
    SegmentView,
    concat_segments,
    take_rows,
    vector_norms,
)
from embedb.storage.segment_files import (
    add_vector_column,
    read_deletions,
    read_segment,
    write_deletions,
    write_segment,
)
from embedb.storage.wal import WalWriter, list_wal_files, read_log

log = logging.getLogger(__name__)

READ_ONLY_LOAD_ATTEMPTS = 20


class _CatalogMoved(Exception):
    """A read-only load met a file the writer removed after the catalog state the load started from."""


@dataclass(frozen=True)
class _CatalogState:
    checkpoint_lsn: int
    next_segment_id: int
    segments: tuple[tuple[int, str, str | None], ...]  # (segment_id, manifest JSON, deletions JSON)


@dataclass(frozen=True)
class Snapshot:
    """What a reader sees: segment views with pinned deletion marks, and the LSN they include."""

    segments: tuple[SegmentView, ...]
    lsn: int

    @property
    def live_count(self) -> int:
        return sum(view.live_count for view in self.segments)


@dataclass(frozen=True)
class StoreLayout:
    """Where one collection's files live, relative to the data directory."""

    root: Path

    @property
    def wal(self) -> Path:
        return self.root / "wal"

    @property
    def segments(self) -> Path:
        return self.root / "segments"

    def segment(self, segment_id: int) -> Path:
        return self.segments / f"{segment_id:010d}"


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
        self._vector_dims = dict(vector_dims)
        self._pk_is_int = pk_is_int
        self._write_lock = threading.RLock()
        self._checkpoint_lock = threading.Lock()
        self._sealed: dict[int, SegmentData] = {}
        self._marks: dict[int, DeletionMarks] = {}
        self._frozen: list[tuple[GrowingSegment, DeletionMarks]] = []
        self._snapshot: Snapshot | None = None
        self._closed = False
        self._load()

    # ------------------------------------------------------------------ open

    def _load(self) -> None:
        if not self.read_only:
            self._load_once(self._catalog_state(), {})
            return
        # A read-only open races the writer: a seal or a compaction can delete a segment
        # or a WAL file between our catalog read and our open. Such a load is noticed
        # (a file is missing, or the log no longer holds the file our first record would
        # be in) and, if the catalog has moved meanwhile, done again; segment files
        # read by a failed attempt are immutable and kept, so each retry is short.
        files_read: dict[tuple[Any, ...], Any] = {}
        for _ in range(READ_ONLY_LOAD_ATTEMPTS):
            try:
                self._load_once(self._catalog_state(), files_read)
                return
            except _CatalogMoved:
                continue
        raise StorageError(
            f"collection {self.collection_id}: the writer removed files under each of "
            f"{READ_ONLY_LOAD_ATTEMPTS} read-only loads; open again when it is less busy"
        )

    def _catalog_state(self) -> _CatalogState:
        """The checkpoint and the sealed segments, read in one catalog transaction."""
        with self.catalog.read_transaction():
            row = self.catalog.query_one(
                "SELECT checkpoint_lsn, next_segment_id FROM collections WHERE id = ?", (self.collection_id,)
            )
            segments = self.catalog.query(
                "SELECT segment_id, manifest, deletions FROM segments WHERE collection_id = ? ORDER BY segment_id",
                (self.collection_id,),
            )
        assert row is not None, "the engine opens only collections that are in the catalog"
        return _CatalogState(
            int(row["checkpoint_lsn"]),
            int(row["next_segment_id"]),
            tuple((int(seg["segment_id"]), seg["manifest"], seg["deletions"]) for seg in segments),
        )

    def _load_once(self, state: _CatalogState, files_read: dict[tuple[Any, ...], Any]) -> None:
        """Load ``state``'s segments and replay the log after its checkpoint.

        ``files_read`` keeps what was read from immutable files (a segment by its
        manifest, deletion marks by their entry) for the next attempt of a read-only load.
        """
        self._sealed, self._marks = {}, {}
        self._checkpoint_lsn = state.checkpoint_lsn
        self._next_segment_id = state.next_segment_id
        verify = self.settings.verify_checksums
        column_files: dict[int, set[str]] = {}
        try:
            for segment_id, manifest_json, deletions_json in state.segments:
                folder = self.layout.segment(segment_id)
                manifest = json.loads(manifest_json)
                data = files_read.get((segment_id, manifest_json))
                if data is None:
                    data = files_read[(segment_id, manifest_json)] = read_segment(
                        folder, manifest, segment_id=segment_id, verify=verify
                    )
                column_files[segment_id] = set(manifest["files"])
                entry = json.loads(deletions_json) if deletions_json else None
                marks_key = (segment_id, manifest_json, deletions_json)
                if marks_key not in files_read:
                    files_read[marks_key] = read_deletions(folder, entry, data.num_rows, verify=verify)
                deleted = files_read[marks_key].copy()  # the log replay may mark more rows
                self._sealed[segment_id] = data
                self._marks[segment_id] = DeletionMarks(deleted, generation=_generation(entry))
        except OSError as error:  # StorageError and CorruptionError included
            self._raise_if_moved(state, error)
            raise
        if not self.read_only:
            self._remove_debris(column_files)
        self._growing = self._new_growing()
        self._growing_marks = DeletionMarks(np.zeros(0, dtype=bool))
        last_lsn = self._checkpoint_lsn
        try:
            for record in read_log(self.layout.wal, after_lsn=self._checkpoint_lsn, repair=not self.read_only):
                self._apply(RecordKind(record.kind), record.payload, record.lsn)
                last_lsn = record.lsn
        except OSError as error:
            self._raise_if_moved(state, error)
            raise
        if self.read_only and not self._log_reaches_back_to(self._checkpoint_lsn + 1):
            # Log files are only ever deleted, oldest first, and only once a checkpoint covers
            # them: the one holding our first record went before read_log could list it.
            self._raise_if_moved(state, None)
        self._last_lsn = last_lsn
        self._wal = None if self.read_only else WalWriter(self.layout.wal, next_lsn=last_lsn + 1, fsync=self._fsync)

    def _log_reaches_back_to(self, lsn: int) -> bool:
        """Whether the WAL folder still holds the file a record with ``lsn`` would be in."""
        return any(int(path.stem) <= lsn for path in list_wal_files(self.layout.wal))

    def _raise_if_moved(self, state: _CatalogState, error: OSError | None) -> None:
        """In a read-only load, raise ``_CatalogMoved`` when the writer changed the catalog since ``state``."""
        if self.read_only and self._catalog_state() != state:
            raise _CatalogMoved() from error

    @property
    def _fsync(self) -> bool:
        return self.settings.durability.value == "fsync"

    def _remove_debris(self, column_files: dict[int, set[str]]) -> None:
        """Delete segment folders, vector columns and deletion files the catalog does not name (a crash's leftovers)."""
        if not self.layout.segments.exists():
            return
        for folder in self.layout.segments.iterdir():
            try:
                segment_id = int(folder.name)
            except ValueError:
                segment_id = -1
            if segment_id not in self._sealed:
                shutil.rmtree(folder, ignore_errors=True)
                continue
            keep = f"deleted.{self._marks[segment_id].generation}.npy"
            for stale in folder.glob("deleted.*"):
                if stale.name != keep:
                    stale.unlink()
            for pattern in ("vector.*", "norm.*"):
                for stale in folder.glob(pattern):
                    if stale.name not in column_files[segment_id]:
                        stale.unlink()

    def _new_growing(self) -> GrowingSegment:
        segment_id = self._next_segment_id
        self._next_segment_id += 1
        return GrowingSegment(segment_id, self._vector_dims, self._pk_is_int, capacity_hint=self._growing_capacity())

    def _growing_capacity(self) -> int:
        """Rows a growing segment holds when a checkpoint is due (the size to reserve up front)."""
        row_bytes = 24 + sum(4 * (dim + 1) for dim in self._vector_dims.values())
        return max(1024, min(self.settings.segment_max_rows, self.settings.segment_max_bytes // row_bytes))

    # ------------------------------------------------------------- observer

    def _notify(self, added: list[SegmentData], removed: list[int]) -> None:
        try:
            self.observer.segments_changed(self.collection_id, added, removed)
        except Exception:  # the change has committed; an observer must not fail the write path
            log.exception("storage observer failed on a segment change")

    # ---------------------------------------------------------------- reads

    def snapshot(self) -> Snapshot:
        """The current rows, pinned; cheap when nothing changed since the last call."""
        current = self._snapshot
        if current is not None:
            return current
        with self._write_lock:
            if self._snapshot is None:
                views = [
                    SegmentView(data, self._marks[sid].array, sealed=True, deleted_count=self._marks[sid].count)
                    for sid, data in sorted(self._sealed.items())
                ]
                for growing, marks in [*self._frozen, (self._growing, self._growing_marks)]:
                    if growing.num_rows:
                        data = growing.view()
                        deleted = marks.array[: data.num_rows]
                        views.append(SegmentView(data, deleted, sealed=False, deleted_count=marks.count))
                self._snapshot = Snapshot(tuple(views), self._last_lsn)
            return self._snapshot

    @property
    def last_lsn(self) -> int:
        return self._last_lsn

    @property
    def growing_rows(self) -> int:
        return self._growing.num_rows

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
            from embedb.errors import ClosedError

            raise ClosedError("the collection's storage is closed")

    def insert(self, batch: RowBatch, *, check_duplicates: bool = True) -> int:
        """Append new rows; raise ``DuplicateKeyError`` (writing nothing) if a key is live already."""
        self._check_writable()
        payload = encode_batch(batch)
        with self._write_lock:
            if check_duplicates:
                keys = batch.primary_keys
                existing = keys[self.live_keys_mask(keys)]
                if existing.size:
                    shown = ", ".join(repr(k.item()) for k in existing[:5])
                    raise DuplicateKeyError(
                        f"{existing.size} primary key(s) already exist: {shown}; use upsert to replace rows",
                        keys=[k.item() for k in existing[:20]],
                    )
            lsn = self._log_and_apply(RecordKind.INSERT, payload)
        self._wal_sync(lsn)
        return lsn

    def upsert(self, batch: RowBatch) -> int:
        """Replace the rows with these keys (or add them), in one atomic WAL record."""
        self._check_writable()
        payload = encode_batch(batch)
        with self._write_lock:
            lsn = self._log_and_apply(RecordKind.UPSERT, payload)
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
            lsn = self._log_and_apply(RecordKind.DELETE, encode_keys(keys))
        self._wal_sync(lsn)
        return count

    def drop_partition(self, partition_id: int) -> int:
        """Delete every row of a partition; return how many."""
        self._check_writable()
        with self._write_lock:
            lsn = self._log_and_apply(RecordKind.DROP_PARTITION, encode_json({"partition_id": partition_id}))
            deleted = self._last_apply_count
        self._wal_sync(lsn)
        return deleted

    def _wal_sync(self, lsn: int) -> None:
        assert self._wal is not None
        self._wal.sync_to(lsn)

    def _log_and_apply(self, kind: RecordKind, payload: bytes | memoryview) -> int:
        assert self._wal is not None
        lsn = self._wal.append(kind, payload)
        self._apply(kind, payload, lsn)
        self._last_lsn = lsn
        return lsn

    def _apply(self, kind: RecordKind, payload: bytes | memoryview, lsn: int) -> None:
        """Apply one record to memory; the same code runs live and during recovery."""
        self._last_apply_count = 0
        if kind is RecordKind.INSERT:
            self._append_rows(decode_batch(payload), lsn)
        elif kind is RecordKind.UPSERT:
            batch = decode_batch(payload)
            self._delete_keys(batch.primary_keys, lsn)
            self._append_rows(batch, lsn)
        elif kind is RecordKind.DELETE:
            self._last_apply_count = self._delete_keys(decode_keys(payload), lsn)
        elif kind is RecordKind.DROP_PARTITION:
            partition_id = int(decode_json(payload)["partition_id"])  # type: ignore[call-overload]
            self._last_apply_count = self._delete_where(lambda data: data.partitions == partition_id, lsn)
        self._snapshot = None

    def _all_segments(self) -> list[tuple[SegmentData, DeletionMarks]]:
        pairs = [(data, self._marks[sid]) for sid, data in self._sealed.items()]
        pairs.extend((growing.view(), marks) for growing, marks in self._frozen)
        pairs.append((self._growing.view(), self._growing_marks))
        return pairs

    def _delete_keys(self, keys: np.ndarray, lsn: int) -> int:
        deleted = 0
        for data, marks in self._all_segments():
            _, rows = data.locate(keys)
            if rows.size:
                rows = rows[data.seqs[rows] < lsn]
                deleted += marks.mark(rows)
        return deleted

    def _delete_where(self, predicate: Callable[[SegmentData], np.ndarray], lsn: int) -> int:
        deleted = 0
        for data, marks in self._all_segments():
            if data.num_rows:
                rows = np.nonzero(predicate(data) & (data.seqs < lsn))[0]
                deleted += marks.mark(rows)
        return deleted

    def _append_rows(self, batch: RowBatch, lsn: int) -> None:
        if set(batch.vectors) != set(self._growing.vector_dims):
            # The set of vector columns changed (a new embedding version): start a
            # new growing segment so every segment has uniform columns.
            self._vector_dims = {key: m.shape[1] for key, m in batch.vectors.items()}
            self._freeze_growing()
        self._growing.append(batch, lsn)
        self._growing_marks.grow(self._growing.num_rows)

    def _freeze_growing(self) -> None:
        if self._growing.num_rows:
            self._frozen.append((self._growing, self._growing_marks))
            self._growing = self._new_growing()
            self._growing_marks = DeletionMarks(np.zeros(0, dtype=bool))
        else:
            self._growing = GrowingSegment(
                self._growing.segment_id, self._vector_dims, self._pk_is_int, capacity_hint=self._growing_capacity()
            )
        self._snapshot = None

    # ----------------------------------------------------------- checkpoint

    def needs_checkpoint(self) -> bool:
        if self.read_only or self._wal is None:
            return False
        s = self.settings
        return bool(
            self._frozen
            or self._growing.num_rows >= s.segment_max_rows
            or self._growing.nbytes >= s.segment_max_bytes
            or self._wal.bytes_in_log >= s.wal_max_bytes
        )

    def checkpoint(self) -> None:
        """Seal in-memory rows into segment files and advance the WAL checkpoint (``flush``)."""
        self._check_writable()
        assert self._wal is not None
        with self._checkpoint_lock:
            with self._write_lock:
                if self._last_lsn == self._checkpoint_lsn and not self._frozen:
                    return
                self._freeze_growing()
                to_seal = list(self._frozen)
                target_lsn = self._wal.rotate()
            sealed: list[tuple[GrowingSegment, np.ndarray, dict[str, Any], int]] = []
            for growing, marks in to_seal:
                data = growing.view()
                keep = np.nonzero(~marks.array[: data.num_rows])[0]
                keep = keep[np.argsort(data.pks[keep], kind="stable")]
                if keep.size == 0:
                    sealed.append((growing, keep, {}, 0))
                    continue
                ordered = _rows_in_key_order(data, keep, growing.segment_id)
                manifest = write_segment(self.layout.segment(growing.segment_id), ordered)
                sealed.append((growing, keep, manifest, ordered.num_rows))
            with self._write_lock:
                self._publish_checkpoint(sealed, target_lsn)
            self._wal.drop_files_through(target_lsn)

    def _publish_checkpoint(
        self, sealed: list[tuple[GrowingSegment, np.ndarray, dict[str, Any], int]], target_lsn: int
    ) -> None:
        added: list[SegmentData] = []
        new_marks: dict[int, DeletionMarks] = {}
        for growing, keep, manifest, rows in sealed:
            if rows == 0:
                continue
            folder = self.layout.segment(growing.segment_id)
            data = read_segment(folder, manifest, segment_id=growing.segment_id, verify=False)
            marks = next(m for g, m in self._frozen if g is growing)
            deleted = marks.array[keep]
            new_marks[growing.segment_id] = DeletionMarks(deleted)
            new_marks[growing.segment_id].dirty = bool(deleted.any())
            added.append(data)
        all_marks = {**self._marks, **new_marks}
        deletion_entries = self._persist_marks(all_marks)
        with self.catalog.transaction() as cursor:
            for growing, _keep, manifest, rows in sealed:
                if rows == 0:
                    continue
                cursor.execute(
                    "INSERT INTO segments (collection_id, segment_id, row_count, min_lsn, max_lsn, manifest, deletions, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.collection_id,
                        growing.segment_id,
                        rows,
                        growing.min_lsn,
                        growing.max_lsn,
                        json.dumps(manifest),
                        json.dumps(deletion_entries.pop(growing.segment_id, None)),
                        time.time(),
                    ),
                )
            for segment_id, entry in deletion_entries.items():
                cursor.execute(
                    "UPDATE segments SET deletions = ? WHERE collection_id = ? AND segment_id = ?",
                    (json.dumps(entry), self.collection_id, segment_id),
                )
            cursor.execute(
                "UPDATE collections SET checkpoint_lsn = ?, next_segment_id = ? WHERE id = ?",
                (target_lsn, self._next_segment_id, self.collection_id),
            )
        for data in added:
            self._sealed[data.segment_id] = data
        self._marks = all_marks
        for marks in self._marks.values():
            marks.dirty = False
        sealed_ids = {g.segment_id for g, *_ in sealed}
        self._frozen = [(g, m) for g, m in self._frozen if g.segment_id not in sealed_ids]
        self._checkpoint_lsn = target_lsn
        self._snapshot = None
        self._remove_stale_deletion_files()
        self._notify(added, [])

    def _persist_marks(self, marks: dict[int, DeletionMarks]) -> dict[int, dict[str, Any]]:
        """Write a new generation file for every changed bitmap; return their catalog entries."""
        entries = {}
        for segment_id, segment_marks in marks.items():
            if not segment_marks.dirty:
                continue
            segment_marks.generation += 1
            entries[segment_id] = write_deletions(
                self.layout.segment(segment_id), segment_marks.generation, segment_marks.array
            )
        return entries

    def _remove_stale_deletion_files(self) -> None:
        for segment_id, marks in self._marks.items():
            keep = f"deleted.{marks.generation}.npy"
            for stale in self.layout.segment(segment_id).glob("deleted.*.npy"):
                if stale.name != keep:
                    stale.unlink(missing_ok=True)

    # ------------------------------------------------------------ compaction

    def compaction_plan(self) -> list[list[int]]:
        """Groups of sealed segments worth merging: deletion-heavy ones, and runs of small ones."""
        s = self.settings
        by_columns: dict[tuple[str, ...], list[int]] = {}
        for segment_id, data in sorted(self._sealed.items()):
            by_columns.setdefault(tuple(sorted(data.vectors)), []).append(segment_id)
        plans: list[list[int]] = []
        for ids in by_columns.values():
            heavy = [i for i in ids if self._marks[i].count > s.compaction_deleted_ratio * self._sealed[i].num_rows]
            small = [i for i in ids if i not in heavy and self._sealed[i].num_rows < s.compaction_min_segment_rows]
            groups: list[list[int]] = [[]]
            rows = 0
            for segment_id in heavy + small:
                live = self._sealed[segment_id].num_rows - self._marks[segment_id].count
                if groups[-1] and rows + live > s.segment_max_rows:
                    groups.append([])
                    rows = 0
                groups[-1].append(segment_id)
                rows += live
            # Rewriting one segment alone pays only when it drops deleted rows; a lone small
            # segment would get a new id and be planned again, forever.
            plans.extend(group for group in groups if len(group) > 1 or (group and group[0] in heavy))
        return plans

    def compact(self) -> int:
        """Merge what ``compaction_plan`` proposes; return the number of segments merged away."""
        self._check_writable()
        merged = 0
        with self._checkpoint_lock:
            for group in self.compaction_plan():
                merged += self._compact_group(group)
        return merged

    def _compact_group(self, group: list[int]) -> int:
        with self._write_lock:
            sources = [self._sealed[i] for i in group]
            start_marks = [self._marks[i].array for i in group]
            segment_id = self._next_segment_id
            self._next_segment_id += 1
        stacked = concat_segments(sources, segment_id=segment_id)
        live = np.nonzero(~np.concatenate(start_marks))[0]
        order = live[np.argsort(stacked.pks[live], kind="stable")]
        manifest: dict[str, Any] = {}
        if order.size:
            merged_data = take_rows(stacked, order, segment_id=segment_id, sort_by_pk=False)
            manifest = write_segment(self.layout.segment(segment_id), merged_data)
        with self._write_lock:
            now_deleted = np.concatenate([self._marks[i].array for i in group])[order]
            new_marks = DeletionMarks(now_deleted)
            new_marks.dirty = bool(now_deleted.any())
            added: list[SegmentData] = []
            entry = None
            if order.size:
                entry = self._persist_marks({segment_id: new_marks}).get(segment_id)
                added.append(
                    read_segment(self.layout.segment(segment_id), manifest, segment_id=segment_id, verify=False)
                )
            with self.catalog.transaction() as cursor:
                cursor.executemany(
                    "DELETE FROM segments WHERE collection_id = ? AND segment_id = ?",
                    [(self.collection_id, i) for i in group],
                )
                if order.size:
                    cursor.execute(
                        "INSERT INTO segments (collection_id, segment_id, row_count, min_lsn, max_lsn, manifest, deletions, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            self.collection_id,
                            segment_id,
                            int(order.size),
                            int(stacked.seqs.min()),
                            int(stacked.seqs.max()),
                            json.dumps(manifest),
                            json.dumps(entry),
                            time.time(),
                        ),
                    )
                cursor.execute(
                    "UPDATE collections SET next_segment_id = MAX(next_segment_id, ?) WHERE id = ?",
                    (self._next_segment_id, self.collection_id),
                )
            for i in group:
                del self._sealed[i]
                del self._marks[i]
            for data in added:
                self._sealed[segment_id] = data
                new_marks.dirty = False
                self._marks[segment_id] = new_marks
            self._snapshot = None
        for i in group:
            # Readers holding an older snapshot keep their memory maps; unlinking is safe.
            shutil.rmtree(self.layout.segment(i), ignore_errors=True)
        self._notify(added, group)
        return len(group)

    # ---------------------------------------------------------------- misc

    # -------------------------------------------------------- vector columns

    def sealed_segments(self) -> list[SegmentData]:
        """The sealed segments now (rows may be deleted; see ``snapshot`` for marks)."""
        with self._write_lock:
            return list(self._sealed.values())

    def add_vector_column(self, segment_id: int, key: str, matrix: np.ndarray) -> bool:
        """Give a sealed segment one more vector column (row-aligned); return False if the segment is gone.

        The file is written first, then published in one catalog update; a crash
        in between leaves an unreferenced file that the next open removes.
        """
        self._check_writable()
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        with self._checkpoint_lock:
            data = self._sealed.get(segment_id)
            if data is None:
                return False
            if key in data.vectors:
                return True
            if matrix.shape[0] != data.num_rows:
                raise ValueError(f"segment {segment_id} has {data.num_rows} rows, the new column {matrix.shape[0]}")
            row = self.catalog.query_one(
                "SELECT manifest FROM segments WHERE collection_id = ? AND segment_id = ?",
                (self.collection_id, segment_id),
            )
            assert row is not None, "a sealed segment in memory is in the catalog"
            folder = self.layout.segment(segment_id)
            manifest = add_vector_column(folder, json.loads(row["manifest"]), key, matrix, vector_norms(matrix))
            with self._write_lock:
                with self.catalog.transaction() as cursor:
                    cursor.execute(
                        "UPDATE segments SET manifest = ? WHERE collection_id = ? AND segment_id = ?",
                        (json.dumps(manifest), self.collection_id, segment_id),
                    )
                updated = read_segment(folder, manifest, segment_id=segment_id, verify=False)
                self._sealed[segment_id] = updated
                self._snapshot = None
        try:
            self.observer.column_added(self.collection_id, updated, key)
        except Exception:  # the column has committed; an observer must not fail the backfill
            log.exception("storage observer failed on a new column")
        return True

    def drop_vector_column(self, key: str) -> int:
        """Remove a vector column from every sealed segment (seal first); return how many segments had it."""
        self._check_writable()
        self.checkpoint()
        dropped = 0
        with self._checkpoint_lock:
            for segment_id, data in list(self._sealed.items()):
                if key not in data.vectors:
                    continue
                row = self.catalog.query_one(
                    "SELECT manifest FROM segments WHERE collection_id = ? AND segment_id = ?",
                    (self.collection_id, segment_id),
                )
                assert row is not None
                manifest = json.loads(row["manifest"])
                names = manifest["vectors"].pop(key)
                for name in names.values():
                    manifest["files"].pop(name, None)
                folder = self.layout.segment(segment_id)
                with self._write_lock:
                    with self.catalog.transaction() as cursor:
                        cursor.execute(
                            "UPDATE segments SET manifest = ? WHERE collection_id = ? AND segment_id = ?",
                            (json.dumps(manifest), self.collection_id, segment_id),
                        )
                    self._sealed[segment_id] = read_segment(folder, manifest, segment_id=segment_id, verify=False)
                    self._snapshot = None
                # Readers holding an older snapshot keep their memory maps; unlinking is safe.
                for name in names.values():
                    (folder / name).unlink(missing_ok=True)
                dropped += 1
        return dropped

    def segment_folder(self, segment_id: int) -> Path:
        return self.layout.segment(segment_id)

    def stats(self) -> dict[str, Any]:
        snapshot = self.snapshot()
        return {
            "row_count": snapshot.live_count,
            "sealed_segments": len(self._sealed),
            "growing_rows": self._growing.num_rows + sum(g.num_rows for g, _ in self._frozen),
            "deleted_rows": sum(v.data.num_rows - v.live_count for v in snapshot.segments),
            "last_lsn": self._last_lsn,
            "checkpoint_lsn": self._checkpoint_lsn,
            "wal_bytes": self._wal.bytes_in_log if self._wal else None,
        }

    def close(self) -> None:
        with self._checkpoint_lock, self._write_lock:
            if self._closed:
                return
            self._closed = True
            if self._wal is not None:
                self._wal.close()


def _rows_in_key_order(data: SegmentData, keep: np.ndarray, segment_id: int) -> SegmentData:
    """The rows ``keep`` (already in key order) of a growing segment, ready to be sealed.

    Keys inserted in ascending order, none deleted, is the common case of a
    bulk load: then the rows are written from the growing buffers as they are,
    instead of through a copy of every vector.
    """
    pks = data.pks
    if keep.size == data.num_rows and (pks.size < 2 or bool(np.all(pks[1:] > pks[:-1]))):
        return SegmentData(
            segment_id=segment_id,
            table=data.table.combine_chunks(),
            pks=pks,
            seqs=data.seqs,
            partitions=data.partitions,
            vectors=data.vectors,
            norms=data.norms,
            sorted_by_pk=True,
        )
    return take_rows(data, keep, segment_id=segment_id, sort_by_pk=False)


def _generation(entry: dict[str, Any] | None) -> int:
    if not entry:
        return 0
    return int(entry["file"].split(".")[1])
