"""What one collection store holds: where its files live, and its rows in memory.

``StoreState`` is the in-memory side of a ``CollectionStore``: the sealed
segments and their deletion marks, the frozen and growing segments, the LSNs
and the cached ``Snapshot``. ``apply`` turns one WAL record into changes of
that state; the same code runs on the write path and during recovery, so a
replayed log rebuilds exactly what the live writes had built.

``StoreState`` does no I/O and takes no lock. Its owner mutates it only under
the store's write lock; readers never touch it directly but take a
``Snapshot`` from the store, whose views pin the deletion arrays of their
moment (marks are copy-on-write, growing buffers are append-only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedb.config import Settings
from embedb.storage.deletions import DeletionMarks
from embedb.storage.partial_columns import PartialColumn
from embedb.storage.records import RecordKind, RowBatch, decode_batch, decode_json, decode_keys
from embedb.storage.segment import GrowingSegment, SegmentData, SegmentView


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


class StoreState:
    """The rows of one collection in memory. Not thread-safe: see the module docstring.

    ``sealed`` and ``marks`` are keyed by segment id and always have the same
    keys. ``frozen`` holds growing segments that stopped taking rows (their
    vector columns changed, or a checkpoint began) and wait to be sealed.
    ``partials`` are the vector columns under construction of sealed segments,
    by (segment id, column key), as the catalog recorded them.
    ``checkpoint_lsn`` is the last LSN the sealed segments cover; ``last_lsn``
    the last one applied. ``cached_snapshot`` is ``None`` whenever anything a
    reader could see has changed since it was built.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        vector_dims: dict[str, int],
        pk_is_int: bool,
        checkpoint_lsn: int,
        next_segment_id: int,
        sealed: dict[int, SegmentData],
        marks: dict[int, DeletionMarks],
        partials: dict[tuple[int, str], PartialColumn] | None = None,
    ) -> None:
        self.settings = settings
        self.vector_dims = dict(vector_dims)
        self.pk_is_int = pk_is_int
        self.checkpoint_lsn = checkpoint_lsn
        self.next_segment_id = next_segment_id
        self.last_lsn = checkpoint_lsn
        self.sealed = sealed
        self.marks = marks
        self.partials = partials if partials is not None else {}
        self.frozen: list[tuple[GrowingSegment, DeletionMarks]] = []
        self.cached_snapshot: Snapshot | None = None
        self.growing = self.new_growing()
        self.growing_marks = DeletionMarks(np.zeros(0, dtype=bool))

    # ------------------------------------------------------------ segments

    def allocate_segment_id(self) -> int:
        """A segment id never used before in this collection (the catalog learns it at the next publish)."""
        segment_id = self.next_segment_id
        self.next_segment_id += 1
        return segment_id

    def new_growing(self) -> GrowingSegment:
        return GrowingSegment(
            self.allocate_segment_id(), self.vector_dims, self.pk_is_int, capacity_hint=self.growing_capacity()
        )

    def growing_capacity(self) -> int:
        """Rows a growing segment holds when a checkpoint is due (the size to reserve up front)."""
        row_bytes = 24 + sum(4 * (dim + 1) for dim in self.vector_dims.values())
        return max(1024, min(self.settings.segment_max_rows, self.settings.segment_max_bytes // row_bytes))

    def freeze_growing(self) -> None:
        """Move the growing segment, if it has rows, to ``frozen`` and start a new one."""
        if self.growing.num_rows:
            self.frozen.append((self.growing, self.growing_marks))
            self.growing = self.new_growing()
            self.growing_marks = DeletionMarks(np.zeros(0, dtype=bool))
        else:
            self.growing = GrowingSegment(
                self.growing.segment_id, self.vector_dims, self.pk_is_int, capacity_hint=self.growing_capacity()
            )
        self.cached_snapshot = None

    # ------------------------------------------------------------- records

    def apply(self, kind: RecordKind, payload: bytes | memoryview, lsn: int) -> int:
        """Apply one WAL record to memory; return the rows a DELETE or DROP_PARTITION deleted (else 0).

        It does not set ``last_lsn``: the caller does, once the record counts as applied.
        """
        deleted = 0
        if kind is RecordKind.INSERT:
            self._append_rows(decode_batch(payload), lsn)
        elif kind is RecordKind.UPSERT:
            batch = decode_batch(payload)
            self._delete_keys(batch.primary_keys, lsn)
            self._append_rows(batch, lsn)
        elif kind is RecordKind.DELETE:
            deleted = self._delete_keys(decode_keys(payload), lsn)
        elif kind is RecordKind.DROP_PARTITION:
            partition_id = int(decode_json(payload)["partition_id"])  # type: ignore[call-overload]
            deleted = self._delete_where(lambda data: data.partitions == partition_id, lsn)
        self.cached_snapshot = None
        return deleted

    def _all_segments(self) -> list[tuple[SegmentData, DeletionMarks]]:
        pairs = [(data, self.marks[sid]) for sid, data in self.sealed.items()]
        pairs.extend((growing.view(), marks) for growing, marks in self.frozen)
        pairs.append((self.growing.view(), self.growing_marks))
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
        if set(batch.vectors) != set(self.growing.vector_dims):
            # The set of vector columns changed (a new embedding version): start a
            # new growing segment so every segment has uniform columns.
            self.vector_dims = {key: m.shape[1] for key, m in batch.vectors.items()}
            self.freeze_growing()
        self.growing.append(batch, lsn)
        self.growing_marks.grow(self.growing.num_rows)


@dataclass(frozen=True)
class Snapshot:
    """What a reader sees: segment views with pinned deletion marks, and the LSN they include."""

    segments: tuple[SegmentView, ...]
    lsn: int

    @property
    def live_count(self) -> int:
        return sum(view.live_count for view in self.segments)
