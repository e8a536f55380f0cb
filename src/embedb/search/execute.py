"""Executing a search over one snapshot: each segment searched (exactly, or as a planner says), then merged.

``search_snapshot`` runs a ``SearchRequest`` over every segment of a
``Snapshot`` through a ``SegmentSearcher`` — ``exact_segment_search`` here, or
the planner (``embedb.search.planner``), which picks exact or the segment's
index with the filter's mask — and merges the per-segment top-k lists, batched,
with one partial sort. A pure function of the snapshot: a concurrent write,
seal or compaction cannot change an answer half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embedb.query import NO_ROW, RowFilter, exact_search, row_mask, top_k
from embedb.schema import MetricType
from embedb.storage import SegmentData, SegmentView, Snapshot


@dataclass(frozen=True)
class SearchRequest:
    """One batched vector search, after validation."""

    column_key: str
    metric: MetricType
    queries: np.ndarray  # prepared: float32, unit length for COSINE
    k: int  # offset + limit
    params: Mapping[str, Any] = field(default_factory=dict)
    nullable: bool = False  # the field may hold null vectors (NaN rows), which no search returns
    sparse: bool = False  # a SPARSE_FLOAT_VECTOR field: ``queries`` is (nq, 0), the searcher holds the query vectors


SegmentSearcher = Callable[[SegmentView, SearchRequest, "np.ndarray | None"], tuple[np.ndarray, np.ndarray]]


def exact_segment_search(view: SegmentView, request: SearchRequest, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    data = view.data
    return exact_search(
        request.queries, data.vectors[request.column_key], data.norms[request.column_key], request.metric, request.k, allowed
    )


def vectors_present(data: SegmentData, key: str) -> np.ndarray | None:
    """The rows of a column that hold a vector (a null one is NaN, and so is its norm), or None when all do."""
    memo_key = ("vectors_present", key)
    if memo_key not in data.memo:
        null = np.isnan(data.norms[key])
        data.memo[memo_key] = ~null if null.any() else None
    present: np.ndarray | None = data.memo[memo_key]
    return present


def search_snapshot(
    snapshot: Snapshot,
    request: SearchRequest,
    *,
    row_filter: RowFilter | None,
    partition_ids: Sequence[int] | None,
    searcher: SegmentSearcher = exact_segment_search,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k over every segment: (scores, segment positions, rows), each (nq, k), best first."""
    nq = request.queries.shape[0]
    all_scores = []
    all_segments = []
    all_rows = []
    for position, view in enumerate(snapshot.segments):
        if view.data.num_rows == 0 or (not request.sparse and request.column_key not in view.data.vectors):
            continue
        if row_filter is None and partition_ids is None:
            allowed = None if view.live_count == view.data.num_rows else ~view.deleted
        else:
            allowed = row_mask(view, row_filter, partition_ids)
        if request.nullable:
            present = vectors_present(view.data, request.column_key)
            if present is not None:
                allowed = present if allowed is None else allowed & present
        if allowed is not None and not allowed.any():
            continue
        scores, rows = searcher(view, request, allowed)
        all_scores.append(scores)
        all_rows.append(rows)
        # np.zeros is a single C call; np.full costs several (this runs on every search).
        all_segments.append(np.zeros(rows.shape, dtype=np.int64) if position == 0 else np.full(rows.shape, position, dtype=np.int64))
    if not all_scores:
        empty = np.full((nq, request.k), NO_ROW, dtype=np.int64)
        return np.full((nq, request.k), -np.inf, dtype=np.float32), empty, empty.copy()
    if len(all_scores) == 1:
        return all_scores[0], all_segments[0], all_rows[0]
    scores = np.concatenate(all_scores, axis=1)
    segments = np.concatenate(all_segments, axis=1)
    rows = np.concatenate(all_rows, axis=1)
    best_scores, picked = top_k(scores, request.k)
    safe = np.clip(picked, 0, None)
    best_segments = np.where(picked == NO_ROW, NO_ROW, np.take_along_axis(segments, safe, axis=1))
    best_rows = np.where(picked == NO_ROW, NO_ROW, np.take_along_axis(rows, safe, axis=1))
    return best_scores, best_segments, best_rows
