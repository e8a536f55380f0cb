"""Searching a SPARSE_FLOAT_VECTOR field: inner products over each segment's inverted lists.

``sparse_queries`` reads the query vectors (dicts, pairs, SciPy rows);
``SparseSearcher`` is the ``SegmentSearcher`` ``search_snapshot`` calls per
segment: it scores every row sharing a dimension with the query through the
segment's ``SparseSegmentIndex`` (built on first use, remembered with the
segment), leaves out rows that share none (as Milvus's inverted index does), and
keeps a range search's (low, high] bounds. Exact: this is the index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedb.errors import DataError
from embedb.query import top_k
from embedb.search.execute import SearchRequest
from embedb.storage import SegmentView
from embedb.storage.sparse_vectors import SparseRow, SparseSegmentIndex, sparse_row

Scorer = Callable[[SparseSegmentIndex, SparseRow, np.ndarray | None], np.ndarray]


def sparse_queries(data: Any) -> list[SparseRow]:
    """Query vectors of a sparse field: one (a dict, pairs, a SciPy row) or a list of them; ``DataError`` otherwise."""
    if hasattr(data, "tocsr") and hasattr(data, "shape"):
        matrix = data.tocsr()
        return [sparse_row(matrix[i], f"query {i}") for i in range(matrix.shape[0])]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, (list, tuple)) or not data:
        raise DataError("search needs at least one sparse query vector (a dict of dimension -> weight)")
    if all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and not isinstance(pair[0], (list, tuple)) for pair in data
    ):
        data = [data]  # one query given as (dimension, weight) pairs
    return [sparse_row(item, f"query {i}") for i, item in enumerate(data)]


def segment_index(view: SegmentView, field: str) -> SparseSegmentIndex:
    """The inverted lists of a segment's sparse column, built once per segment's rows."""
    key = ("sparse_index", field)
    index: SparseSegmentIndex | None = view.data.memo.get(key)
    if index is None:
        index = SparseSegmentIndex(view.data.table.column(field))
        view.data.memo[key] = index
    return index


def inner_product(index: SparseSegmentIndex, query: SparseRow, _lengths: np.ndarray | None) -> np.ndarray:
    return index.inner_products(query)


class SparseSearcher:
    """Top-k rows of one segment by a sparse score (inner product, or BM25 through ``scorer``)."""

    def __init__(self, field: str, queries: list[SparseRow], scorer: Scorer = inner_product) -> None:
        self.field = field
        self.queries = queries
        self.scorer = scorer

    def __call__(
        self, view: SegmentView, request: SearchRequest, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        index = segment_index(view, self.field)
        bounds = request.params.get("_range")
        scores = np.full((len(self.queries), index.num_rows), -np.inf, dtype=np.float32)
        for q, query in enumerate(self.queries):
            touched = np.zeros(index.num_rows, dtype=bool)
            for dim in query[0].tolist():
                touched[index.postings(dim)[0]] = True
            if allowed is not None:
                touched &= allowed[: index.num_rows]
            if not touched.any():
                continue
            row_scores = self.scorer(index, query, None)
            scores[q, touched] = row_scores[touched]
            if bounds is not None:
                low, high = bounds
                scores[q, (scores[q] <= low) | (scores[q] > high)] = -np.inf
        return top_k(scores, request.k)


__all__ = ["SparseSearcher", "segment_index", "sparse_queries"]
