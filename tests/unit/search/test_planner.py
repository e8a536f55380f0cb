"""The planner: exact or ANN per segment, widened search lists under filters, range and grouping search."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from tests.unit.index.conftest import recall

from embedb.index import VectorIndex, make_index, range_bounds, resolve_spec
from embedb.query.exact import NO_ROW
from embedb.schema import MetricType
from embedb.search import CostModel, SearchRequest, SegmentPlanner, exact_segment_search, group_search, widen
from embedb.storage.segment import SegmentData, SegmentView
from embedb.storage.state import Snapshot

# The clustered base vectors and held-out queries of the ``data_32d`` fixture.
Data32d = tuple[np.ndarray, np.ndarray]
NEVER_EXACT = CostModel(gather_per_row=1e9, exact_per_row=1e9, exact_batch_per_row=1e9)


def _view(base: np.ndarray, *, segment_id: int = 1, deleted: np.ndarray | None = None, sealed: bool = True) -> SegmentView:
    n = base.shape[0]
    table = pa.table({"id": pa.array(np.arange(n), pa.int64()), "group": pa.array(np.arange(n) % 7, pa.int64())})
    data = SegmentData(
        segment_id=segment_id,
        table=table,
        pks=np.arange(n, dtype=np.int64),
        seqs=np.ones(n, dtype=np.int64),
        partitions=np.zeros(n, dtype=np.int32),
        vectors={"v": base},
        norms={"v": np.linalg.norm(base, axis=1).astype(np.float32)},
        sorted_by_pk=True,
    )
    marks = deleted if deleted is not None else np.zeros(n, dtype=bool)
    return SegmentView(data, marks, sealed=sealed, deleted_count=int(marks.sum()))


@pytest.fixture(scope="module")
def hnsw(data_32d: Data32d) -> VectorIndex:
    base, _ = data_32d
    index = make_index(resolve_spec("HNSW", MetricType.IP, {"M": 16, "efConstruction": 64}, dim=32), 32)
    index.build(base)
    return index


def _request(queries: np.ndarray, k: int = 10, **params: object) -> SearchRequest:
    return SearchRequest(column_key="v", metric=MetricType.IP, queries=queries, k=k, params={"ef": 64, **params})


def test_segments_without_a_published_index_are_searched_exactly(data_32d: Data32d, hnsw: VectorIndex) -> None:
    base, queries = data_32d
    planner = SegmentPlanner(lambda segment_id, key: hnsw if segment_id == 1 else None)
    request = _request(queries[:3])
    assert planner.plan(_view(base, segment_id=2), request, None)[0] == "exact"
    assert planner.plan(_view(base, sealed=False), request, None)[0] == "exact", "growing rows are not numbered like the index"
    assert planner.plan(_view(base), request, None) == ("ann", {"ef": 64})
    np.testing.assert_array_equal(
        planner(_view(base, segment_id=2), request, None)[1], exact_segment_search(_view(base), request, None)[1]
    )


def test_few_matching_rows_are_scanned_and_many_go_to_the_kernel_with_a_wider_list(data_32d: Data32d, hnsw: VectorIndex) -> None:
    base, queries = data_32d
    planner = SegmentPlanner(lambda *_: hnsw)
    few = np.zeros(base.shape[0], dtype=bool)
    few[:40] = True
    assert planner.plan(_view(base), _request(queries[:1]), few)[0] == "exact"
    many = np.random.default_rng(0).random(len(base)) < 0.5
    how, params = SegmentPlanner(lambda *_: hnsw, NEVER_EXACT).plan(_view(base), _request(queries[:1]), many)
    assert how == "ann-filtered" and params["ef"] >= 64
    how, params = SegmentPlanner(lambda *_: hnsw, NEVER_EXACT).plan(_view(base), _request(queries[:1]), np.arange(4000) % 10 == 0)
    assert how == "ann-filtered" and params["ef"] == 250, "about 2.5 * k allowed rows in the list"


def test_widening_is_capped(hnsw: VectorIndex) -> None:
    assert widen(hnsw, {"ef": 64}, 10, 1, 1_000_000)["ef"] == 32_768
    assert widen(hnsw, {"ef": 300}, 10, 500_000, 1_000_000)["ef"] == 300, "never narrower than asked"


@pytest.mark.parametrize("percent", [1, 10, 50])
def test_filtered_and_deleted_rows_never_come_back_and_recall_holds(data_32d: Data32d, hnsw: VectorIndex, percent: int) -> None:
    base, queries = data_32d
    rng = np.random.default_rng(percent)
    deleted = rng.random(len(base)) < 0.1
    allowed = (rng.random(len(base)) < percent / 100) & ~deleted
    view = _view(base, deleted=deleted)
    truth = exact_segment_search(view, _request(queries), allowed)[1]
    for planner in (SegmentPlanner(lambda *_: hnsw), SegmentPlanner(lambda *_: hnsw, NEVER_EXACT)):
        rows = planner(view, _request(queries), allowed)[1]
        assert allowed[rows[rows != NO_ROW]].all()
        assert recall(rows, truth) >= 0.95


def test_range_search_keeps_the_best_rows_inside_the_bounds(data_32d: Data32d, hnsw: VectorIndex) -> None:
    base, queries = data_32d
    bounds = range_bounds({"radius": 0.2, "range_filter": 0.6}, MetricType.IP)
    assert bounds is not None
    view = _view(base)
    request = _request(queries[:20], k=15, _range=bounds)
    all_scores = queries[:20] @ base.T
    inside = (all_scores > 0.2) & (all_scores <= 0.6)
    expected = np.minimum(inside.sum(axis=1), 15)
    truth = np.full((20, 15), NO_ROW)
    for q in range(20):
        ranked = np.nonzero(inside[q])[0][np.argsort(-all_scores[q][inside[q]], kind="stable")]
        truth[q, : expected[q]] = ranked[: expected[q]]
    _, exact_rows = SegmentPlanner(lambda *_: None)(view, request, None)
    np.testing.assert_array_equal((exact_rows != NO_ROW).sum(axis=1), expected)
    assert recall(exact_rows, truth) == 1.0, "the exact path skips rows closer than range_filter, not the best ones"
    scores, rows = SegmentPlanner(lambda *_: hnsw)(view, request, None)
    found = rows != NO_ROW
    assert ((scores[found] > 0.2) & (scores[found] <= 0.6)).all()
    assert recall(rows, truth) >= 0.9


def test_group_search_returns_the_best_groups_each_up_to_its_size(data_32d: Data32d) -> None:
    base, queries = data_32d
    view = _view(base)
    snapshot = Snapshot((view,), 1)
    request = _request(queries[:4], k=3)
    scores, segments, rows = group_search(
        snapshot, request, row_filter=None, partition_ids=None, searcher=SegmentPlanner(lambda *_: None),
        group_field="group", group_size=2, groups=3, offset=1, strict=True,
    )
    assert rows.shape == (4, 4)
    groups = np.arange(base.shape[0]) % 7
    for q in range(4):
        order = np.argsort(-(queries[q] @ base.T))
        ranked_groups = list(dict.fromkeys(groups[order].tolist()))
        got = groups[rows[q]].tolist()
        assert got[0] == got[1] == ranked_groups[1] and got[2] == got[3] == ranked_groups[2], "offset skips the best group"
        assert (segments[q] == 0).all() and np.all(np.diff(scores[q][:2]) <= 0)
