"""Every index type against the exact oracle: recall@10 at stated parameters, filters in or after the kernel, save/load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.index.conftest import exact_rows, recall

from embedb.index import IndexSpec, make_index, resolve_spec
from embedb.schema import MetricType
from embedb.search import widen

# (index type, build params, search params, minimum recall@10 on 6000 x 32 clustered vectors)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], float]] = [
    ("FLAT", {}, {}, 1.0),
    ("HNSW", {"M": 16, "efConstruction": 64}, {"ef": 64}, 0.95),
    ("IVF_FLAT", {"nlist": 64}, {"nprobe": 16}, 0.95),
    ("IVF_SQ8", {"nlist": 64}, {"nprobe": 16}, 0.9),
    ("IVF_PQ", {"nlist": 64, "m": 8, "nbits": 8}, {"nprobe": 16}, 0.45),  # lossy codes; nbits is capped to 6 here
    ("HNSWLIB", {"M": 16, "efConstruction": 64}, {"ef": 64}, 0.95),
    ("ANNOY", {"n_trees": 16}, {"search_k": 8000}, 0.9),
]
IDS = [case[0] for case in CASES]


_BUILT: dict[tuple[str, MetricType, int, int], Any] = {}


def _build(index_type: str, params: dict[str, Any], metric: MetricType, base: np.ndarray) -> Any:
    """Build once per (type, metric, data) for the whole module: the tests only read indexes."""
    key = (index_type, metric, base.shape[0], int(abs(base[0, 0]) * 1e6))
    if key not in _BUILT:
        spec = resolve_spec(index_type, metric, params, dim=base.shape[1])
        index = make_index(spec, base.shape[1])
        index.build(base)
        _BUILT[key] = index
    return _BUILT[key]


@pytest.mark.parametrize(("index_type", "build", "search", "minimum"), CASES, ids=IDS)
@pytest.mark.parametrize("metric", [MetricType.COSINE, MetricType.L2])
def test_recall_against_exact(
    data_32d: tuple[np.ndarray, np.ndarray], index_type: str, build: dict[str, Any], search: dict[str, Any], minimum: float, metric: MetricType
) -> None:
    base, queries = data_32d
    if metric is MetricType.L2:
        base, queries = base * 3.0, queries * 3.0  # not unit length: L2 must not lean on normalisation
    index = _build(index_type, build, metric, base)
    scores, rows = index.search(queries, 10, search, None)
    assert rows.shape == scores.shape == (queries.shape[0], 10)
    assert recall(rows, exact_rows(base, queries, metric, 10)) >= minimum
    assert np.all(np.diff(scores, axis=1) <= 1e-5), "best first"


@pytest.mark.parametrize(("index_type", "build", "search", "minimum"), CASES, ids=IDS)
@pytest.mark.parametrize("percent", [1, 10, 50])
def test_filtered_recall_with_the_mask(
    data_32d: tuple[np.ndarray, np.ndarray], index_type: str, build: dict[str, Any], search: dict[str, Any], minimum: float, percent: int
) -> None:
    base, queries = data_32d
    index = _build(index_type, build, MetricType.COSINE, base)
    allowed = np.random.default_rng(percent).random(len(base)) < percent / 100
    params = widen(index, search, 10, int(allowed.sum()), base.shape[0])
    _, rows = index.search(queries, 10, params, allowed)
    returned = rows[rows >= 0]
    assert allowed[returned].all(), "a filtered search returned a row outside the mask"
    truth = exact_rows(base, queries, MetricType.COSINE, 10, allowed)
    assert recall(rows, truth) >= min(minimum, 0.9)


@pytest.mark.parametrize(("index_type", "build", "search", "minimum"), CASES, ids=IDS)
def test_save_and_load_give_the_same_answers(
    tmp_path: Path, data_32d: tuple[np.ndarray, np.ndarray], index_type: str, build: dict[str, Any], search: dict[str, Any], minimum: float
) -> None:
    base, queries = data_32d
    index = _build(index_type, build, MetricType.COSINE, base)
    index.save(tmp_path / "index.bin")
    assert index.nbytes == (tmp_path / "index.bin").stat().st_size > 0
    loaded = make_index(index.spec, base.shape[1])
    loaded.load(tmp_path / "index.bin")
    assert loaded.ntotal == base.shape[0]
    before = index.search(queries, 10, search, None)
    after = loaded.search(queries, 10, search, None)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], rtol=1e-5)


def test_small_segments_get_smaller_codebooks(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    index = _build("IVF_PQ", {"nlist": 1024, "m": 8, "nbits": 12}, MetricType.IP, base[:2000])
    assert index.spec.params == {"nlist": 2000 // 39, "m": 8, "nbits": 5}  # 39 training points per centroid
    assert index.search(queries, 10, {"nprobe": 8}, None)[1].shape == (queries.shape[0], 10)


def test_k_larger_than_the_segment_pads_with_missing_rows(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    index = _build("HNSW", {"M": 8, "efConstruction": 40}, MetricType.IP, base[:50])
    scores, rows = index.search(queries[:2], 64, {"ef": 64}, None)
    assert (rows[:, 50:] == -1).all() and np.isneginf(scores[:, 50:]).all()
    assert sorted(rows[0, :50].tolist()) == list(range(50))


def test_a_mask_allowing_nothing_finds_nothing(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    for index_type, build, search, _ in CASES:
        index = _build(index_type, build, MetricType.IP, base[:1500])
        _, rows = index.search(queries[:3], 5, search, np.zeros(1500, dtype=bool))
        assert (rows == -1).all(), index_type


def test_a_build_stops_when_asked(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    from embedb.index import BuildCancelled

    base = np.vstack([data_32d[0], data_32d[0]])
    index = make_index(IndexSpec("HNSW", MetricType.IP, {"M": 8, "efConstruction": 40}), base.shape[1])
    seen: list[int] = []
    with pytest.raises(BuildCancelled):
        index.build(base, should_stop=lambda: bool(seen), progress=seen.append)
    assert seen == [4096]
