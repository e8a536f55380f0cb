"""Flush: seal frozen growing segments into files and publish them with the WAL checkpoint LSN.

One name for one operation: the contract's ``flush`` is ``CollectionStore.flush``,
which *seals* the growing segment (it becomes an immutable sealed segment) and
advances the *checkpoint LSN* (the WAL position every published segment
includes). A flush runs in three steps, and ``CollectionStore.flush`` holds the
flush lock across all of them (one flush or compaction at a time):

1. under the write lock, freeze the growing segment and rotate the WAL, so the
   frozen rows are exactly the records up to the rotation's target LSN;
2. without the write lock (writes go on), ``write_sealed_segments`` writes each
   frozen segment's live rows, in key order, to a new segment folder;
3. under the write lock, ``publish_flush`` writes new deletion-mark files
   for every bitmap that changed, then publishes the new segments, the mark
   files and the checkpoint LSN in one catalog transaction.

Only then are WAL files up to the checkpoint LSN dropped. A crash before the
commit leaves unpublished files that the next open deletes as debris and a WAL
that still holds every record; a crash after it leaves stale files only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedb.storage.catalog import Catalog
from embedb.storage.deletions import DeletionMarks
from embedb.storage.segment import GrowingSegment, SegmentData, take_rows
from embedb.storage.segment_files import read_segment, write_deletions, write_segment
from embedb.storage.state import StoreLayout, StoreState


@dataclass(frozen=True)
class SealedFiles:
    """A frozen growing segment whose live rows are written to its folder, not yet published.

    ``keep`` are the growing segment's row numbers that were written, in key
    order; ``rows`` is their count (0: every row was deleted, nothing written).
    """

    growing: GrowingSegment
    keep: np.ndarray
    manifest: dict[str, Any]
    rows: int


def write_sealed_segments(
    to_seal: list[tuple[GrowingSegment, DeletionMarks]], *, layout: StoreLayout
) -> list[SealedFiles]:
    """Write the live rows of each frozen segment to a segment folder (temp + fsync + rename).

    The caller holds the flush lock but not the write lock: frozen
    segments take no more rows, and a delete meanwhile only replaces their
    marks (``publish_flush`` carries it over). Nothing is published here.
    """
    sealed: list[SealedFiles] = []
    for growing, marks in to_seal:
        data = growing.view()
        keep = np.nonzero(~marks.array[: data.num_rows])[0]
        keep = keep[np.argsort(data.pks[keep], kind="stable")]
        if keep.size == 0:
            sealed.append(SealedFiles(growing, keep, {}, 0))
            continue
        ordered = _rows_in_key_order(data, keep, growing.segment_id)
        manifest = write_segment(layout.segment(growing.segment_id), ordered)
        sealed.append(SealedFiles(growing, keep, manifest, ordered.num_rows))
    return sealed


def publish_flush(
    state: StoreState,
    sealed: list[SealedFiles],
    target_lsn: int,
    *,
    layout: StoreLayout,
    catalog: Catalog,
    collection_id: int,
) -> list[SegmentData]:
    """Publish ``sealed`` and the checkpoint ``target_lsn`` atomically; return the segments added.

    The caller holds the write lock (and the flush lock). One catalog
    transaction inserts the new segments, points every changed bitmap at its
    new deletion-mark file and advances the checkpoint; the state follows only
    once it has committed. The caller tells the observer and drops WAL files.
    """
    added: list[SegmentData] = []
    new_marks: dict[int, DeletionMarks] = {}
    for part in sealed:
        if part.rows == 0:
            continue
        segment_id = part.growing.segment_id
        data = read_segment(layout.segment(segment_id), part.manifest, segment_id=segment_id, verify=False)
        marks = next(m for g, m in state.frozen if g is part.growing)
        # Rows deleted since step 2 are marked in the sealed segment too.
        deleted = marks.array[part.keep]
        new_marks[segment_id] = DeletionMarks(deleted)
        new_marks[segment_id].dirty = bool(deleted.any())
        added.append(data)
    all_marks = {**state.marks, **new_marks}
    deletion_entries = persist_marks(layout, all_marks)
    with catalog.transaction() as cursor:
        for part in sealed:
            if part.rows == 0:
                continue
            cursor.execute(
                "INSERT INTO segments (collection_id, segment_id, row_count, min_lsn, max_lsn, manifest, deletions, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    part.growing.segment_id,
                    part.rows,
                    part.growing.min_lsn,
                    part.growing.max_lsn,
                    json.dumps(part.manifest),
                    json.dumps(deletion_entries.pop(part.growing.segment_id, None)),
                    time.time(),
                ),
            )
        for segment_id, entry in deletion_entries.items():
            cursor.execute(
                "UPDATE segments SET deletions = ? WHERE collection_id = ? AND segment_id = ?",
                (json.dumps(entry), collection_id, segment_id),
            )
        cursor.execute(
            "UPDATE collections SET checkpoint_lsn = ?, next_segment_id = ? WHERE id = ?",
            (target_lsn, state.next_segment_id, collection_id),
        )
    for data in added:
        state.sealed[data.segment_id] = data
    state.marks = all_marks
    for marks in state.marks.values():
        marks.dirty = False
    sealed_ids = {part.growing.segment_id for part in sealed}
    state.frozen = [(g, m) for g, m in state.frozen if g.segment_id not in sealed_ids]
    state.checkpoint_lsn = target_lsn
    state.cached_snapshot = None
    remove_stale_deletion_files(layout, state.marks)
    return added


def persist_marks(layout: StoreLayout, marks: dict[int, DeletionMarks]) -> dict[int, dict[str, Any]]:
    """Write a new generation file for every changed bitmap; return their catalog entries.

    The files are not published: the caller commits the entries in its catalog
    transaction, and clears ``dirty`` once that has committed.
    """
    entries = {}
    for segment_id, segment_marks in marks.items():
        if not segment_marks.dirty:
            continue
        segment_marks.generation += 1
        entries[segment_id] = write_deletions(layout.segment(segment_id), segment_marks.generation, segment_marks.array)
    return entries


def remove_stale_deletion_files(layout: StoreLayout, marks: dict[int, DeletionMarks]) -> None:
    """Delete each segment's deletion-mark files other than its published generation."""
    for segment_id, segment_marks in marks.items():
        keep = f"deleted.{segment_marks.generation}.npy"
        for stale in layout.segment(segment_id).glob("deleted.*.npy"):
            if stale.name != keep:
                stale.unlink(missing_ok=True)


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
