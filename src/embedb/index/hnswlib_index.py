"""hnswlib's HNSW graph behind ``VectorIndex`` (index type ``HNSWLIB``; optional: ``embedb[indexes]``).

hnswlib takes a row filter only as a Python callback per candidate, which
holds the GIL for every visited node, so this adapter filters after the search
instead (``embedb.index.postfilter``). Its ``ef`` is a setting of the whole
index, so searches on one hnswlib index take turns; use the Faiss ``HNSW`` for
concurrent traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from embedb.errors import StorageError
from embedb.index.postfilter import search_then_filter
from embedb.index.vector_index import DEFAULT_EF, BuildCancelled, IndexSpec
from embedb.schema import MetricType

BUILD_CHUNK_ROWS = 16_384
BUILD_ORDER_SEED = 0x5EED


class HnswlibIndex:
    """One hnswlib index over a segment's rows."""

    filters_in_kernel = False

    def __init__(self, spec: IndexSpec, dim: int) -> None:
        self.spec = spec
        self.dim = dim
        self._space = "l2" if spec.metric is MetricType.L2 else "ip"
        self._index: Any = None
        self._nbytes = 0
        self._lock = threading.Lock()

    @property
    def ntotal(self) -> int:
        return int(self._index.get_current_count()) if self._index is not None else 0

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def build(
        self,
        vectors: np.ndarray,
        *,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Insert every row (labels are row numbers) in a seeded random order, a chunk at a time.

        The order matters as it does for the Faiss graph (``embedb.index.faiss_index``).
        """
        rows = int(vectors.shape[0])
        index = hnswlib.Index(space=self._space, dim=self.dim)
        index.init_index(max_elements=max(rows, 1), M=self.spec.params["M"], ef_construction=self.spec.params["efConstruction"], random_seed=100)
        order = np.random.default_rng(BUILD_ORDER_SEED).permutation(rows)
        for start in range(0, rows, BUILD_CHUNK_ROWS):
            if should_stop is not None and should_stop():
                raise BuildCancelled("index build cancelled")
            picked = order[start : start + BUILD_CHUNK_ROWS]
            index.add_items(np.ascontiguousarray(vectors[picked], dtype=np.float32), picked, num_threads=-1)
            if progress is not None:
                progress(min(start + BUILD_CHUNK_ROWS, rows))
        self._index = index

    def _kernel(self, ef: int) -> Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]:
        def run(queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
            with self._lock:
                self._index.set_ef(max(ef, fetch))
                labels, distances = self._index.knn_query(queries, k=fetch, num_threads=-1 if queries.shape[0] > 1 else 1)
            rows = labels.astype(np.int64, copy=False)
            distances = distances.astype(np.float32, copy=False)
            scores = -distances if self._space == "l2" else 1.0 - distances
            return scores.astype(np.float32, copy=False), rows

        return run

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, Any], allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k via hnswlib, filtered after the search."""
        ef = int(params.get("ef", max(k, DEFAULT_EF)))
        return search_then_filter(self._kernel(ef), queries, k, allowed, self.ntotal)

    def save(self, path: Path) -> None:
        self._index.save_index(str(path))
        self._nbytes = path.stat().st_size

    def load(self, path: Path) -> None:
        index = hnswlib.Index(space=self._space, dim=self.dim)
        try:
            index.load_index(str(path))
        except RuntimeError as error:
            raise StorageError(f"{path}: hnswlib cannot read this index file ({error})", file=str(path)) from None
        self._index = index
        self._nbytes = path.stat().st_size
