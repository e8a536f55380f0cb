"""Compaction: which sealed segments to merge, and merging a group into one new segment.

``plan_compaction`` proposes groups of sealed segments; ``merge_group`` writes
one group's live rows to a new segment and swaps it in for the group in one
catalog transaction. Readers are never blocked and never see a half swap: a
snapshot taken before keeps the old segments (their memory maps outlive the
unlinked files), one taken after sees only the new one.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from typing import Any

import numpy as np

from embedb.config import Settings
from embedb.storage.catalog import Catalog
from embedb.storage.deletions import DeletionMarks
from embedb.storage.flush import persist_marks
from embedb.storage.segment import SegmentData, concat_segments, take_rows
from embedb.storage.segment_files import read_segment, write_segment
from embedb.storage.state import StoreLayout, StoreState


def plan_compaction(state: StoreState, settings: Settings) -> list[list[int]]:
    """Groups of sealed segments worth merging: deletion-heavy ones, and runs of small ones.

    Segments are grouped only with others of the same vector columns, and a
    group holds at most ``segment_max_rows`` live rows. A segment with a column
    under construction is left alone: merging it would drop that column's
    finished chunks (``partial_columns``). It reads the state
    without a lock (the housekeeping thread asks often); ``merge_group`` works
    from what the segments are when it runs.
    """
    s = settings
    by_columns: dict[tuple[str, ...], list[int]] = {}
    building = {segment_id for segment_id, _ in list(state.partials)}
    for segment_id, data in sorted(state.sealed.items()):
        if segment_id in building:
            continue
        by_columns.setdefault(tuple(sorted(data.vectors)), []).append(segment_id)
    plans: list[list[int]] = []
    for ids in by_columns.values():
        heavy = [i for i in ids if state.marks[i].count > s.compaction_deleted_ratio * state.sealed[i].num_rows]
        small = [i for i in ids if i not in heavy and state.sealed[i].num_rows < s.compaction_min_segment_rows]
        groups: list[list[int]] = [[]]
        rows = 0
        for segment_id in heavy + small:
            live = state.sealed[segment_id].num_rows - state.marks[segment_id].count
            if groups[-1] and rows + live > s.segment_max_rows:
                groups.append([])
                rows = 0
            groups[-1].append(segment_id)
            rows += live
        # Rewriting one segment alone pays only when it drops deleted rows; a lone small
        # segment would get a new id and be planned again, forever.
        plans.extend(group for group in groups if len(group) > 1 or (group and group[0] in heavy))
    return plans


def merge_group(
    state: StoreState,
    group: list[int],
    *,
    write_lock: threading.RLock,
    layout: StoreLayout,
    catalog: Catalog,
    collection_id: int,
) -> list[SegmentData]:
    """Replace the sealed segments ``group`` by one segment of their live rows; return it (or ``[]``).

    The caller holds the flush lock, so no seal, compaction or column
    change runs meanwhile. ``write_lock`` is taken twice, briefly: to read the
    sources and reserve a segment id, and to swap. Merging and writing the new
    files happen between, while writes go on; rows deleted meanwhile are marked
    in the new segment's deletion marks. The swap is one catalog transaction
    (drop the group, add the merged segment); a crash before it leaves the new
    folder as debris, after it the old folders. When every row was deleted, the
    group is dropped and nothing is added. The caller tells the observer.
    """
    with write_lock:
        sources = [state.sealed[i] for i in group]
        start_marks = [state.marks[i].array for i in group]
        segment_id = state.allocate_segment_id()
    stacked = concat_segments(sources, segment_id=segment_id)
    live = np.nonzero(~np.concatenate(start_marks))[0]
    order = live[np.argsort(stacked.pks[live], kind="stable")]
    manifest: dict[str, Any] = {}
    if order.size:
        merged_data = take_rows(stacked, order, segment_id=segment_id, sort_by_pk=False)
        manifest = write_segment(layout.segment(segment_id), merged_data)
    with write_lock:
        now_deleted = np.concatenate([state.marks[i].array for i in group])[order]
        new_marks = DeletionMarks(now_deleted)
        new_marks.dirty = bool(now_deleted.any())
        added: list[SegmentData] = []
        entry = None
        if order.size:
            entry = persist_marks(layout, {segment_id: new_marks}).get(segment_id)
            added.append(read_segment(layout.segment(segment_id), manifest, segment_id=segment_id, verify=False))
        with catalog.transaction() as cursor:
            cursor.executemany(
                "DELETE FROM segments WHERE collection_id = ? AND segment_id = ?",
                [(collection_id, i) for i in group],
            )
            if order.size:
                cursor.execute(
                    "INSERT INTO segments (collection_id, segment_id, row_count, min_lsn, max_lsn, manifest, deletions, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        collection_id,
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
                (state.next_segment_id, collection_id),
            )
        for i in group:
            del state.sealed[i]
            del state.marks[i]
        for data in added:
            state.sealed[segment_id] = data
            new_marks.dirty = False
            state.marks[segment_id] = new_marks
        state.cached_snapshot = None
    for i in group:
        # Readers holding an older snapshot keep their memory maps; unlinking is safe.
        shutil.rmtree(layout.segment(i), ignore_errors=True)
    return added
