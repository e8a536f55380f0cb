"""The compiled HNSW kernel (embedb._native.Graph) against Faiss's own search of the very same graph, and the oracle.

The kernel walks the graph Faiss built; these tests hold it to the same answers
(recall equal to Faiss's at every ef, within a query or two), to the filter
(never a row outside ``allowed``), to both metrics, to dimensions that are not a
multiple of the SIMD width, to threads, and to the arrays it is given (a
corrupt graph is refused before a search can read out of bounds). The index
adapter falls back to Faiss's search when the kernel is not built; that path is
tested here too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import faiss as faiss_module
import numpy as np
import pytest
from tests.unit.index.conftest import clustered, exact_rows, recall, unit

from embedb.errors import StorageError
from embedb.index import faiss_index
from embedb.index.faiss_index import FaissIndex, NativeGraph, native_graph
from embedb.index.vector_index import IndexSpec
from embedb.schema import MetricType
from embedb.search.planner import WIDEN

K = 10
faiss: Any = faiss_module  # its bundled stubs lack SearchParametersHNSW and downcast types


def test_make_install_compiled_the_kernel() -> None:
    assert faiss_index.NativeGraph is not None, "setup.py builds embedb._native; is a C compiler installed?"


def _hnsw(base: np.ndarray, metric: MetricType, *, m: int = 12) -> FaissIndex:
    index = FaissIndex(IndexSpec("HNSW", metric, {"M": m, "efConstruction": 80}), base.shape[1])
    index.build(base)
    return index


def _faiss_search(index: FaissIndex, queries: np.ndarray, ef: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Faiss's own search of the index's graph (the reference the kernel must match)."""
    raw: Any = index._index
    bitmap = None if allowed is None else np.packbits(allowed, bitorder="little")
    selector = None if bitmap is None else faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
    params: Any = faiss.SearchParametersHNSW(efSearch=ef, sel=selector) if selector else faiss.SearchParametersHNSW(efSearch=ef)
    _, rows = raw.search(queries, K, params=params)
    return np.asarray(rows)


@pytest.mark.parametrize("metric", [MetricType.COSINE, MetricType.L2, MetricType.IP])
@pytest.mark.parametrize("dim", [32, 13])
def test_the_kernel_finds_what_faiss_finds_on_the_same_graph(metric: MetricType, dim: int) -> None:
    vectors = clustered(3100, dim, seed=dim)
    if metric is MetricType.COSINE:
        vectors = unit(vectors)
    base, queries = np.ascontiguousarray(vectors[:3000]), np.ascontiguousarray(vectors[3000:])
    index = _hnsw(base, metric)
    truth = exact_rows(base, queries, metric, K)
    for ef in (10, 32, 128):
        scores, rows = index.search(queries, K, {"ef": ef}, None)
        assert abs(recall(rows, truth) - recall(_faiss_search(index, queries, ef), truth)) <= 0.02
        # Scores are the metric's, higher is closer: recomputed from the rows they name.
        found = base[rows]
        expected = np.einsum("qkd,qd->qk", found, queries)
        if metric is MetricType.L2:
            expected = -np.sum((found - queries[:, None, :]) ** 2, axis=2)
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
        assert np.all(np.diff(scores, axis=1) <= 1e-6), "best first"
    assert recall(index.search(queries, K, {"ef": 128}, None)[1], truth) >= 0.95


def test_the_filter_is_in_the_kernel(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    index = _hnsw(base, MetricType.COSINE)
    rng = np.random.default_rng(4)
    for share in (0.5, 0.1, 0.01):
        allowed = np.less(rng.random(base.shape[0]), share)
        ef = int(np.ceil(WIDEN * K / share))  # what the planner asks for: about WIDEN * k allowed rows in the walk
        _, rows = index.search(queries, K, {"ef": ef}, allowed)
        found = rows[rows >= 0]
        assert allowed[found].all(), "a row outside the filter came back"
        truth = exact_rows(base, queries, MetricType.COSINE, K, allowed)
        assert recall(rows, truth) >= 0.9
        # The walk is Faiss's at the same ef: the filter changes what is kept, not where the search goes.
        assert abs(recall(rows, truth) - recall(_faiss_search(index, queries, ef, allowed), truth)) <= 0.03
    nothing = np.zeros(base.shape[0], dtype=bool)
    scores, rows = index.search(queries, K, {"ef": 16}, nothing)
    assert (rows == -1).all() and np.isneginf(scores).all()


def test_fewer_rows_than_k_pad_with_missing_slots() -> None:
    base = unit(clustered(5, 8, seed=1))
    index = _hnsw(base, MetricType.COSINE)
    scores, rows = index.search(base[:2].copy(), K, {"ef": 16}, None)
    assert sorted(rows[0][:5].tolist()) == [0, 1, 2, 3, 4] and (rows[:, 5:] == -1).all()
    assert np.isneginf(scores[:, 5:]).all() and rows[0][0] == 0 and rows[1][0] == 1


def test_threads_and_batches_answer_like_single_queries(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    index = _hnsw(base, MetricType.COSINE)
    graph = index._graph
    batch_scores, batch_rows = np.empty((queries.shape[0], K), np.float32), np.empty((queries.shape[0], K), np.int64)
    graph.search(queries, K, 48, None, batch_scores, batch_rows, 4)
    single = np.vstack([index.search(queries[i : i + 1], K, {"ef": 48}, None)[1] for i in range(queries.shape[0])])
    np.testing.assert_array_equal(batch_rows, single)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(20):
                np.testing.assert_array_equal(index.search(queries, K, {"ef": 48}, None)[1], single)
        except BaseException as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []


def test_the_graph_is_built_in_random_order_and_keeps_each_row(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, _ = data_32d
    index = _hnsw(base, MetricType.COSINE)
    labels = faiss.vector_to_array(index._index.id_map)
    assert sorted(labels.tolist()) == list(range(base.shape[0])), "every row is one node"
    assert not np.array_equal(labels, np.arange(base.shape[0])), "inserted out of the segment's order"
    _, rows = index.search(base[:50].copy(), 1, {"ef": 32}, None)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.98, "a row finds itself"


def test_save_load_and_older_files_without_labels(tmp_path: Path, data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    index = _hnsw(base, MetricType.COSINE)
    index.save(tmp_path / "new.faiss")
    loaded = FaissIndex(index.spec, base.shape[1])
    loaded.load(tmp_path / "new.faiss")
    assert loaded._graph is not None
    np.testing.assert_array_equal(loaded.search(queries, K, {"ef": 32}, None)[1], index.search(queries, K, {"ef": 32}, None)[1])
    # A file from before the random build order: a bare IndexHNSWFlat whose nodes are rows.
    bare = faiss.IndexHNSWFlat(base.shape[1], 12, faiss.METRIC_INNER_PRODUCT)
    bare.add(base)
    faiss.write_index(bare, str(tmp_path / "old.faiss"))
    old = FaissIndex(index.spec, base.shape[1])
    old.load(tmp_path / "old.faiss")
    assert old._graph is not None
    truth = exact_rows(base, queries, MetricType.COSINE, K)
    assert recall(old.search(queries, K, {"ef": 64}, None)[1], truth) >= 0.95


def test_a_corrupt_graph_is_refused_before_any_search(tmp_path: Path, data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, _ = data_32d
    index = _hnsw(base[:500].copy(), MetricType.COSINE)
    inner = faiss.downcast_index(index._index.index)
    neighbours = faiss.rev_swig_ptr(inner.hnsw.neighbors.data(), inner.hnsw.neighbors.size())
    neighbours[3] = 10_000  # a node that does not exist
    with pytest.raises(ValueError, match="names node 10000"):
        native_graph(index._index, MetricType.COSINE)
    inner = faiss.downcast_index(index._index.index)
    hnsw = inner.hnsw
    arrays = [faiss.vector_to_array(v) for v in (hnsw.levels, hnsw.offsets, hnsw.neighbors, hnsw.cum_nneighbor_per_level)]
    vectors = faiss.vector_to_array(faiss.downcast_index(inner.storage).codes).view(np.float32)
    levels, offsets, slots, cum = arrays
    assert NativeGraph is not None
    slots[3] = 0
    cum[0] = -4  # a layer that would start before the node's first slot
    with pytest.raises(ValueError, match="layer 0 must start at 0"):
        NativeGraph(vectors, base.shape[1], levels, offsets, slots, cum, int(hnsw.entry_point), int(hnsw.max_level), True)
    cum[0] = 0
    levels[7] = int(hnsw.max_level) + 5
    with pytest.raises(ValueError, match="node 7"):
        NativeGraph(vectors, base.shape[1], levels, offsets, slots, cum, int(hnsw.entry_point), int(hnsw.max_level), True)
    faiss.write_index(index._index, str(tmp_path / "bad.faiss"))
    with pytest.raises(StorageError, match=r"bad\.faiss"):  # Faiss's reader or the kernel refuses it
        FaissIndex(index.spec, base.shape[1]).load(tmp_path / "bad.faiss")


def test_bad_buffers_are_typed_errors(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    graph = _hnsw(base, MetricType.COSINE)._graph
    scores, rows = np.empty((1, K), np.float32), np.empty((1, K), np.int64)
    with pytest.raises(ValueError, match="multiple of dim"):
        graph.search(queries[0, :31].copy(), K, 16, None, scores, rows)
    with pytest.raises(ValueError, match="scores"):
        graph.search(queries[:2].copy(), K, 16, None, scores, rows)
    with pytest.raises(ValueError, match="k and ef"):
        graph.search(queries[:1].copy(), 0, 16, None, scores, rows)
    with pytest.raises(ValueError, match="not C-contiguous"):
        graph.search(queries[:1].copy(), K, 16, None, scores, np.empty((1, 2 * K), np.int64)[:, ::2])


def test_without_the_kernel_faiss_searches(monkeypatch: pytest.MonkeyPatch, data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    monkeypatch.setattr(faiss_index, "NativeGraph", None)
    index = _hnsw(base, MetricType.COSINE)
    assert index._graph is None
    truth = exact_rows(base, queries, MetricType.COSINE, K)
    _, rows = index.search(queries, K, {"ef": 64}, None)
    assert recall(rows, truth) >= 0.95
    allowed = np.less(np.random.default_rng(2).random(base.shape[0]), 0.2)
    _, rows = index.search(queries, K, {"ef": 200}, allowed)
    assert allowed[rows[rows >= 0]].all()


def test_unprepared_queries_are_normalised_and_checked_in_the_kernel(data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    base, queries = data_32d
    index = _hnsw(base, MetricType.COSINE)
    scores, rows = index.search(queries, K, {"ef": 32}, None)
    found = index.search_unprepared(np.ascontiguousarray(queries * 7.5), K, {"ef": 32}, normalize=True)
    assert found is not None
    np.testing.assert_array_equal(found[1], rows)
    np.testing.assert_allclose(found[0], scores, rtol=1e-5, atol=1e-6)
    assert found[2] == 0
    bad = queries.copy()
    bad[3, 5] = np.inf
    assert index.search_unprepared(bad, K, {"ef": 32}, normalize=True) is None, "a non-finite query is left to the caller"
    few = _hnsw(base[:4].copy(), MetricType.COSINE)
    assert (few.search_unprepared(queries[:2].copy(), K, {"ef": 32}, normalize=True) or (None, None, 0))[2] == 2 * (K - 4)


@pytest.mark.parametrize("keys", [np.arange(100, 112, dtype=np.int64), np.array([f"doc-{i}" for i in range(12)], dtype=object)])
@pytest.mark.parametrize("metric", [MetricType.COSINE, MetricType.L2])
def test_native_hits_match_the_python_ones(monkeypatch: pytest.MonkeyPatch, keys: np.ndarray, metric: MetricType) -> None:
    from embedb.search import hits as hits_module

    rows = np.array([[3, 1, 0], [11, 2, 7]], dtype=np.int64)
    scores = np.array([[0.9, 0.5, -0.25], [-0.5, -1.0, -2.0]], dtype=np.float32)
    native = hits_module.plain_hits(keys, rows, scores, metric)
    monkeypatch.setattr(hits_module, "native_hits", None)
    python = hits_module.plain_hits(keys, rows, scores, metric)
    assert native == python
    assert native[0][0]["id"] == keys[3] and type(native[0][0]["id"]) is type(python[0][0]["id"])
    native[0][0]["entity"]["x"] = 1
    assert native[0][1]["entity"] == {}, "every hit has its own entity dict"
