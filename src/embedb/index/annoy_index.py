"""Annoy's random-projection forest behind ``VectorIndex`` (index type ``ANNOY``; optional: ``embedb[indexes]``).

Annoy has no batch search and no row filter: queries run one by one and the
mask is applied after the search (``embedb.index.postfilter``). Annoy memory-maps
its file, so a loaded index costs little memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import annoy
import numpy as np

from embedb.errors import StorageError
from embedb.index.postfilter import search_then_filter
from embedb.index.vector_index import BuildCancelled, IndexSpec
from embedb.query import NO_ROW
from embedb.schema import MetricType

BUILD_CHUNK_ROWS = 16_384


class AnnoyIndex:
    """One Annoy forest over a segment's rows."""

    filters_in_kernel = False

    def __init__(self, spec: IndexSpec, dim: int) -> None:
        self.spec = spec
        self.dim = dim
        self._l2 = spec.metric is MetricType.L2
        self._index: Any = None
        self._rows = 0
        self._nbytes = 0

    def _new(self) -> Any:
        return annoy.AnnoyIndex(self.dim, "euclidean" if self._l2 else "dot")

    @property
    def ntotal(self) -> int:
        return self._rows

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
        """Add every row (item i is row i), then grow the forest on every core."""
        index = self._new()
        rows = int(vectors.shape[0])
        for start in range(0, rows, BUILD_CHUNK_ROWS):
            if should_stop is not None and should_stop():
                raise BuildCancelled("index build cancelled")
            chunk = np.asarray(vectors[start : start + BUILD_CHUNK_ROWS], dtype=np.float32).tolist()
            for offset, vector in enumerate(chunk):
                index.add_item(start + offset, vector)
            if progress is not None:
                progress(start + len(chunk))
        index.build(self.spec.params["n_trees"], n_jobs=-1)
        self._index = index
        self._rows = rows

    def _kernel(self, search_k: int) -> Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]:
        def run(queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray]:
            nq = queries.shape[0]
            scores = np.full((nq, fetch), -np.inf, dtype=np.float32)
            rows = np.full((nq, fetch), NO_ROW, dtype=np.int64)
            for i, query in enumerate(queries.tolist()):
                ids, distances = self._index.get_nns_by_vector(query, fetch, search_k=search_k, include_distances=True)
                found = len(ids)
                rows[i, :found] = ids
                values = np.asarray(distances, dtype=np.float32)
                scores[i, :found] = -(values * values) if self._l2 else values
            return scores, rows

        return run

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, Any], allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k via Annoy, one query at a time, filtered after the search."""
        search_k = int(params.get("search_k", -1))
        return search_then_filter(self._kernel(search_k), queries, k, allowed, self.ntotal)

    def save(self, path: Path) -> None:
        if not self._index.save(str(path)):
            raise StorageError(f"{path}: Annoy could not write the index", file=str(path))
        self._nbytes = path.stat().st_size

    def load(self, path: Path) -> None:
        index = self._new()
        try:
            loaded = index.load(str(path))
        except OSError as error:
            raise StorageError(f"{path}: Annoy cannot read this index file ({error})", file=str(path)) from None
        if not loaded:
            raise StorageError(f"{path}: Annoy cannot read this index file", file=str(path))
        self._index = index
        self._rows = int(index.get_n_items())
        self._nbytes = path.stat().st_size
