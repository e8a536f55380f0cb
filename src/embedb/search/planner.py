"""The search planner: per segment, exact scan or ANN with the filter bitmap in the kernel.

``SegmentPlanner`` is the ``SegmentSearcher`` that ``search_snapshot`` calls
for each segment with the rows a request may return (live, in the asked
partitions, matching the filter — or None for all rows):

- no published index (growing segment, small segment, build pending): exact;
- no mask: the index as asked (``ef``/``nprobe``/``search_k``);
- a mask: the search list is widened so that it still holds about
  ``WIDEN * k`` allowed rows (``ef >= WIDEN * k / selectivity``; ``nprobe``
  likewise over the inverted lists), and the mask goes into the kernel. When
  the cost model says that scanning the allowed rows is cheaper than the
  widened ANN search — few rows match — the segment is scanned exactly.

The constants were measured on this project's 2-core machine with
``benchmarks/planner_calibration.py`` (docs/benchmarks.md has the numbers):
costs are in units of one exact distance evaluation, which keeps them roughly
independent of the dimension. Range search (``radius``/``range_filter``) and
grouping (``group_by_field``) are post-processing over the same per-segment
search, widening the candidate list until the answer is complete.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from embedb.index import MAX_EF, VectorIndex
from embedb.query import NO_ROW, RowFilter, exact_search, top_k
from embedb.search.execute import SearchRequest, SegmentSearcher, exact_segment_search, search_snapshot
from embedb.storage import SegmentView, Snapshot

# Widened search lists aim at WIDEN * k allowed candidates (measured: 10% filter, k=10 needs ef ~ 250).
WIDEN = 2.5
MAX_GROUP_CANDIDATES = 65_536


@dataclass(frozen=True)
class CostModel:
    """Relative costs per query, in exact distance evaluations (see the module docstring)."""

    # Measured (benchmarks/planner_calibration.py): a filtered HNSW search costs about 3 single-query
    # exact rows (gather + product) per unit of ef; inside a batch an exact row costs about a tenth.
    gather_per_row: float = 1.0  # copying one allowed row out of the segment, once per batch
    exact_per_row: float = 1.0  # one query against one gathered row
    exact_batch_per_row: float = 0.2  # the same inside a batched matrix product
    hnsw_per_ef: float = 6.0  # graph search, per unit of ef
    ivf_per_code: float = 1.0  # scanning one code of an inverted list

    def exact_cost(self, count: int, nq: int) -> float:
        per_row = self.exact_per_row if nq == 1 else self.exact_batch_per_row
        return count * (self.gather_per_row + nq * per_row)

    def ann_cost(self, index: VectorIndex, params: Mapping[str, Any], n: int, nq: int) -> float:
        kind = index.spec.index_type
        if kind in ("HNSW", "HNSWLIB"):
            return nq * self.hnsw_per_ef * float(params["ef"])
        if "IVF_" in kind:
            nlist = index.spec.params["nlist"]
            return nq * (nlist + float(params["nprobe"]) * n / nlist * self.ivf_per_code)
        return nq * float(n)  # FLAT and ANNOY: a scan's worth


COSTS = CostModel()


def widen(index: VectorIndex, params: Mapping[str, Any], k: int, count: int, n: int) -> dict[str, Any]:
    """Search parameters whose candidate list still holds about ``WIDEN * k`` rows when ``count`` of ``n`` are allowed."""
    widened = dict(params)
    kind = index.spec.index_type
    wanted = WIDEN * k * n / max(count, 1)
    if kind in ("HNSW", "HNSWLIB"):
        widened["ef"] = int(min(MAX_EF, max(int(params.get("ef", k)), k, math.ceil(wanted))))
    elif "IVF_" in kind:
        nlist = index.spec.params["nlist"]
        per_list = n / nlist
        widened["nprobe"] = int(min(nlist, max(int(params.get("nprobe", 1)), math.ceil(wanted / per_list))))
    return widened


class SegmentPlanner:
    """A ``SegmentSearcher`` over the indexes that ``lookup(segment_id, column_key)`` returns."""

    def __init__(self, lookup: Callable[[int, str], VectorIndex | None], costs: CostModel = COSTS) -> None:
        self._lookup = lookup
        self.costs = costs

    def __call__(self, view: SegmentView, request: SearchRequest, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        bounds = request.params.get("_range")
        if bounds is not None:
            return self._range(view, request, allowed, bounds)
        return self.knn(view, request, allowed)

    def plan(self, view: SegmentView, request: SearchRequest, allowed: np.ndarray | None) -> tuple[str, dict[str, Any]]:
        """("exact" | "ann" | "ann-filtered", parameters): what ``knn`` will do, for tests and explain output."""
        index = self._lookup(view.data.segment_id, request.column_key) if view.sealed else None
        if index is None:
            return "exact", {}
        if allowed is None:
            return "ann", dict(request.params)
        n = view.data.num_rows
        count = int(np.count_nonzero(allowed))
        if count == n:
            return "ann", dict(request.params)
        widened = widen(index, request.params, request.k, count, n)
        nq = request.queries.shape[0]
        if count == 0 or self.costs.exact_cost(count, nq) <= self.costs.ann_cost(index, widened, n, nq):
            return "exact", {}
        return "ann-filtered", widened

    def knn(self, view: SegmentView, request: SearchRequest, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) of one segment, by the cheapest sound plan."""
        index = self._lookup(view.data.segment_id, request.column_key) if view.sealed else None
        if index is None:
            return exact_segment_search(view, request, allowed)
        if allowed is None:
            return index.search(request.queries, request.k, request.params, None)
        how, params = self.plan(view, request, allowed)
        if how == "exact":
            return exact_segment_search(view, request, allowed)
        return index.search(request.queries, request.k, params, None if how == "ann" else allowed)

    def _range(
        self, view: SegmentView, request: SearchRequest, allowed: np.ndarray | None, bounds: tuple[float, float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows whose score lies in (low, high]: one bounded scan, or ANN widening k until every query is complete."""
        if self.plan(view, request, allowed)[0] == "exact":
            data = view.data
            key = request.column_key
            return exact_search(request.queries, data.vectors[key], data.norms[key], request.metric, request.k, allowed, bounds=bounds)
        low, high = bounds
        k = request.k
        n = view.data.num_rows
        fetch = k
        while True:
            # Rows far down the ranking are what a range keeps: give the graph a list as deep as the fetch.
            params = request.params
            if "ef" in params:
                params = {**params, "ef": min(MAX_EF, max(int(params["ef"]), math.ceil(WIDEN * fetch)))}
            scores, rows = self.knn(view, replace(request, k=fetch, params=params), allowed)
            inside = (scores > low) & (scores <= high) & (rows != NO_ROW)
            last = scores[:, -1]
            complete = (inside.sum(axis=1) >= k) | (last <= low) | (rows[:, -1] == NO_ROW)
            if complete.all() or fetch >= n:
                break
            fetch = min(n, fetch * 4)
        best, picked = top_k(np.where(inside, scores, -np.inf).astype(np.float32), k)
        best_rows = np.where(picked == NO_ROW, NO_ROW, np.take_along_axis(rows, np.clip(picked, 0, None), axis=1))
        return best, best_rows


# ---------------------------------------------------------------- grouping


def group_search(
    snapshot: Snapshot,
    request: SearchRequest,
    *,
    row_filter: RowFilter | None,
    partition_ids: Sequence[int] | None,
    searcher: SegmentSearcher,
    group_field: str,
    group_size: int,
    groups: int,
    offset: int,
    strict: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grouping search: per query the best ``groups`` values of ``group_field``, up to ``group_size`` hits each.

    Returns (scores, segment positions, rows), each (nq, (groups - offset) * group_size),
    ordered group by group (groups by their best hit), padded with ``NO_ROW``.
    The candidate list grows until every query has its groups (full ones when
    ``strict``) or every live row was a candidate.
    """
    nq = request.queries.shape[0]
    live = max(1, snapshot.live_count)
    fetch = min(live, max(groups * group_size * 4, 64))
    while True:
        scores, segments, rows = search_snapshot(
            snapshot, replace(request, k=fetch), row_filter=row_filter, partition_ids=partition_ids, searcher=searcher
        )
        values = _group_values(snapshot, segments, rows, group_field)
        chosen = [_pick_groups(values[q], rows[q] != NO_ROW, group_size, groups) for q in range(nq)]
        complete = all(len(g) >= groups and (not strict or all(len(m) >= group_size for m in g)) for g in chosen)
        if complete or fetch >= min(live, MAX_GROUP_CANDIDATES):
            break
        fetch = min(live, MAX_GROUP_CANDIDATES, fetch * 4)
    width = max(0, groups - offset) * group_size
    out_scores = np.full((nq, width), -np.inf, dtype=np.float32)
    out_segments = np.full((nq, width), NO_ROW, dtype=np.int64)
    out_rows = np.full((nq, width), NO_ROW, dtype=np.int64)
    for q, picked in enumerate(chosen):
        slots = [slot for members in picked[offset:] for slot in members]
        out_scores[q, : len(slots)] = scores[q, slots]
        out_segments[q, : len(slots)] = segments[q, slots]
        out_rows[q, : len(slots)] = rows[q, slots]
    return out_scores, out_segments, out_rows


def _group_values(snapshot: Snapshot, segments: np.ndarray, rows: np.ndarray, field: str) -> list[list[Any]]:
    flat: list[Any] = [None] * rows.size
    flat_segments = segments.ravel()
    flat_rows = rows.ravel()
    found = flat_rows != NO_ROW
    for position in np.unique(flat_segments[found]):
        where = np.nonzero((flat_segments == position) & found)[0]
        column = snapshot.segments[int(position)].data.table.column(field)
        taken = column.take(flat_rows[where]).to_pylist()
        for slot, value in zip(where.tolist(), taken, strict=True):
            flat[slot] = value
    width = rows.shape[1]
    return [flat[q * width : (q + 1) * width] for q in range(rows.shape[0])]


def _pick_groups(values: list[Any], found: np.ndarray, group_size: int, groups: int) -> list[list[int]]:
    """Candidate slots per group, groups in order of their best candidate."""
    members: dict[Any, list[int]] = {}
    for slot, (value, ok) in enumerate(zip(values, found.tolist(), strict=True)):
        if not ok:
            continue
        bucket = members.get(value)
        if bucket is None:
            if len(members) >= groups:
                continue
            bucket = members[value] = []
        if len(bucket) < group_size:
            bucket.append(slot)
    return list(members.values())
