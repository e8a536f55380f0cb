"""Faiss kernels: FLAT, HNSW, IVF_FLAT, IVF_SQ8 and IVF_PQ behind ``VectorIndex``.

Filters go into the kernel: the ``allowed`` mask is packed into a bitmap and
handed to Faiss as an ``IDSelectorBitmap`` in the search parameters, so the
graph or inverted lists only ever return allowed rows. Faiss releases the GIL
while it searches, so searches from several threads use several cores; a batch
of queries is one call (Faiss spreads it over OpenMP threads).

HNSW graphs are built with the rows inserted in a seeded random order (an
``IndexIDMap`` keeps each node's row): inserted in the segment's order —
often sorted or clustered — the graph is measurably worse (recall@10 0.962
instead of 0.970 at ef 32 on the WordNet set). They are searched by EmbeDB's
own kernel (``embedb._native.Graph``: no allocation per query, four distances
at a time, the filter bitmap over rows) when it was compiled, else by Faiss.

Small segments get smaller codebooks: ``nlist`` is capped at rows / 39 and
``nbits`` at log2(rows / 39) — Faiss's k-means wants 39 points per centroid —
and the effective values are recorded in the segment's spec.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np

from embedb.errors import StorageError
from embedb.index.vector_index import BuildCancelled, IndexSpec
from embedb.schema import MetricType

NativeGraph: type[Any] | None
try:
    from embedb._native import Graph as NativeGraph
except ImportError:  # built without a C compiler: HNSW searches use Faiss's own search
    NativeGraph = None

faiss: Any = _faiss  # its bundled stubs lack the SearchParameters keywords used here
_swig_ptr = faiss.swig_ptr

BUILD_CHUNK_ROWS = 4_096
BUILD_ORDER_SEED = 0x5EED
MIN_POINTS_PER_CENTROID = 39  # below this Faiss k-means warns that it has too few points
TRAIN_POINTS_PER_CENTROID = 256  # Faiss samples this many anyway


def effective_spec(spec: IndexSpec, rows: int) -> IndexSpec:
    """``spec`` with its IVF codebook sizes capped to what ``rows`` training points support."""
    params = dict(spec.params)
    if "nlist" in params:
        params["nlist"] = max(1, min(params["nlist"], rows // MIN_POINTS_PER_CENTROID))
    if "nbits" in params:
        params["nbits"] = max(1, min(params["nbits"], int(math.log2(max(rows / MIN_POINTS_PER_CENTROID, 2)))))
    return IndexSpec(spec.index_type, spec.metric, params)


class FaissIndex:
    """One Faiss index over a segment's rows; see the module docstring."""

    filters_in_kernel = True

    def __init__(self, spec: IndexSpec, dim: int) -> None:
        self.spec = spec
        self.dim = dim
        self._metric = faiss_metric(spec.metric)
        self._negate = spec.metric.negated
        self._index: Any = None
        self._graph: Any = None  # the native kernel's view of an HNSW graph, when it is there
        self._nbytes = 0
        self._plain_params: dict[int, Any] = {}
        self._params_lock = threading.Lock()

    # ---------------------------------------------------------------- build

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def _new_index(self, rows: int) -> Any:
        spec = effective_spec(self.spec, rows)
        self.spec = spec
        p = spec.params
        kind = spec.index_type
        if kind in ("FLAT", "BIN_FLAT"):
            return faiss.IndexFlat(self.dim, self._metric)
        if kind == "HNSW":
            graph = faiss.IndexHNSWFlat(self.dim, p["M"], self._metric)
            graph.hnsw.efConstruction = p["efConstruction"]
            return faiss.IndexIDMap(graph)  # nodes are added out of order (see the module docstring)
        quantizer = faiss.IndexFlat(self.dim, self._metric)
        if kind in ("IVF_FLAT", "BIN_IVF_FLAT"):
            index = faiss.IndexIVFFlat(quantizer, self.dim, p["nlist"], self._metric)
        elif kind == "IVF_SQ8":
            index = faiss.IndexIVFScalarQuantizer(quantizer, self.dim, p["nlist"], faiss.ScalarQuantizer.QT_8bit, self._metric)
        elif kind == "IVF_PQ":
            index = faiss.IndexIVFPQ(quantizer, self.dim, p["nlist"], p["m"], p["nbits"], self._metric)
        else:  # the registry only routes the types above here
            raise AssertionError(f"FaissIndex cannot build {kind}")
        return index  # Faiss's Python layer keeps a reference to the quantizer

    def build(
        self,
        vectors: np.ndarray,
        *,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Train (IVF) and add every row, in chunks so that a close or drop can stop it."""
        rows = int(vectors.shape[0])
        index = self._new_index(rows)
        if not index.is_trained:
            nlist = self.spec.params["nlist"]
            sample_rows = min(rows, max(nlist, 2 ** self.spec.params.get("nbits", 0)) * TRAIN_POINTS_PER_CENTROID)
            picks = np.sort(np.random.default_rng(0).choice(rows, size=sample_rows, replace=False))
            index.train(np.ascontiguousarray(vectors[picks], dtype=np.float32))
        order = np.random.default_rng(BUILD_ORDER_SEED).permutation(rows) if self.spec.index_type == "HNSW" else None
        for start in range(0, rows, BUILD_CHUNK_ROWS):
            if should_stop is not None and should_stop():
                raise BuildCancelled("index build cancelled")
            if order is None:
                index.add(np.ascontiguousarray(vectors[start : start + BUILD_CHUNK_ROWS], dtype=np.float32))
            else:
                picked = order[start : start + BUILD_CHUNK_ROWS]
                index.add_with_ids(np.ascontiguousarray(vectors[picked], dtype=np.float32), picked)
            if progress is not None:
                progress(min(start + BUILD_CHUNK_ROWS, rows))
        self._index = index
        self._graph = native_graph(index, self.spec.metric)

    # --------------------------------------------------------------- search

    def _search_params(self, params: Mapping[str, Any], selector: Any) -> Any:
        kind = self.spec.index_type
        if kind == "HNSW":
            ef = int(params.get("ef", 64))
            if selector is None:
                cached = self._plain_params.get(ef)
                if cached is None:
                    with self._params_lock:
                        cached = self._plain_params.setdefault(ef, faiss.SearchParametersHNSW(efSearch=ef))
                return cached
            return faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
        if "IVF_" in kind:
            nprobe = int(params.get("nprobe", 8))
            if selector is None:
                cached = self._plain_params.get(nprobe)
                if cached is None:
                    with self._params_lock:
                        cached = self._plain_params.setdefault(nprobe, faiss.SearchParametersIVF(nprobe=nprobe))
                return cached
            return faiss.SearchParametersIVF(nprobe=nprobe, sel=selector)
        return None if selector is None else faiss.SearchParameters(sel=selector)

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, Any], allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of prepared float32 queries, filtered in the kernel by ``allowed``."""
        if self._graph is not None:
            bitmap = None if allowed is None else np.packbits(allowed, bitorder="little")
            scores, rows, _ = self._graph_search(queries, k, params, bitmap, normalize=False)
            return scores, rows
        nq = queries.shape[0]
        scores = np.empty((nq, k), dtype=np.float32)
        rows = np.empty((nq, k), dtype=np.int64)
        selector = bitmap = None
        if allowed is not None:
            bitmap = np.packbits(allowed, bitorder="little")
            selector = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
        search_params = self._search_params(params, selector)
        # search_c skips the Python wrapper's re-checks; queries are contiguous float32 already.
        self._index.search_c(nq, _swig_ptr(queries), k, _swig_ptr(scores), _swig_ptr(rows), search_params)
        del bitmap  # kept alive until the kernel returned
        if self._negate:
            np.negative(scores, out=scores)
        missing = rows < 0
        if np.count_nonzero(missing):  # cheaper than rows.min() per call
            scores[missing] = -np.inf
        return scores, rows

    def search_unprepared(
        self, queries: np.ndarray, k: int, params: Mapping[str, Any], *, normalize: bool
    ) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The short search path: queries as given (float32, C order), made unit length here when ``normalize``.

        Returns (scores, rows, empty slots); None without the native kernel or
        when a query holds a NaN or an infinity (the caller's general path names it).
        """
        if self._graph is None:
            return None
        found = self._graph_search(queries, k, params, None, normalize=normalize)
        return None if found[2] < 0 else found

    def _graph_search(
        self, queries: np.ndarray, k: int, params: Mapping[str, Any], bitmap: np.ndarray | None, *, normalize: bool
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """One call of the native kernel: (scores, rows, empty slots, or -1 when a query is not finite)."""
        nq = queries.shape[0]
        scores = np.empty((nq, k), dtype=np.float32)
        rows = np.empty((nq, k), dtype=np.int64)
        threads = 1 if nq == 1 else faiss.omp_get_max_threads()  # what Faiss would use (embedb serve: 1)
        missing = self._graph.search(queries, k, int(params.get("ef", 64)), bitmap, scores, rows, threads, normalize)
        return scores, rows, missing

    # ---------------------------------------------------------- persistence

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))
        self._nbytes = path.stat().st_size

    def load(self, path: Path) -> None:
        try:
            self._index = faiss.read_index(str(path))
        except RuntimeError as error:
            raise StorageError(f"{path}: Faiss cannot read this index file ({error})", file=str(path)) from None
        if self._index.d != self.dim:
            raise StorageError(f"{path}: index dimension {self._index.d} does not match the column's {self.dim}", file=str(path))
        if isinstance(self._index, faiss.IndexIDMap):  # every node names one row of the segment, each row once
            labels = _view(self._index.id_map)
            if labels.size and (labels.min() < 0 or labels.max() >= labels.size or np.bincount(labels).max() > 1):
                raise StorageError(f"{path}: the index's node-to-row map is not a permutation of its rows", file=str(path))
        try:
            self._graph = native_graph(self._index, self.spec.metric) if self.spec.index_type == "HNSW" else None
        except ValueError as error:  # the kernel checks every offset and neighbour before it trusts a graph
            raise StorageError(f"{path}: HNSW graph is inconsistent ({error})", file=str(path)) from None
        self._nbytes = path.stat().st_size


def _view(vector: Any) -> np.ndarray:
    """A Faiss ``std::vector`` as a NumPy array over the same memory (valid while its index lives)."""
    return faiss.rev_swig_ptr(vector.data(), vector.size())


def faiss_metric(metric: MetricType) -> int:
    """Faiss's metric for ours: HAMMING is L2 over 0/1 bits, and Faiss's Jaccard is the similarity over them."""
    if metric is MetricType.JACCARD:
        return int(faiss.METRIC_Jaccard)
    return int(faiss.METRIC_L2 if metric.negated else faiss.METRIC_INNER_PRODUCT)


def native_graph(index: Any, metric: MetricType) -> Any:
    """The native kernel over an HNSW index (an ``IndexIDMap`` of one, or a bare one from older files), or None."""
    if NativeGraph is None or metric.is_binary:
        return None
    owner, labels = index, None  # the object that owns every array below (a downcast view does not)
    if isinstance(index, faiss.IndexIDMap):
        labels = _view(index.id_map)
        index = faiss.downcast_index(index.index)
    if not isinstance(index, faiss.IndexHNSWFlat) or index.ntotal == 0:
        return None
    hnsw = index.hnsw
    storage = faiss.downcast_index(index.storage)
    return NativeGraph(
        _view(storage.codes).view(np.float32),
        index.d,
        _view(hnsw.levels),
        _view(hnsw.offsets),
        _view(hnsw.neighbors),
        _view(hnsw.cum_nneighbor_per_level),
        int(hnsw.entry_point),
        int(hnsw.max_level),
        metric is not MetricType.L2,
        labels,
        owner,
    )
