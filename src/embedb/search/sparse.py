"""Searching a SPARSE_FLOAT_VECTOR field: inner products over each segment's inverted lists.

``sparse_queries`` reads the query vectors (dicts, pairs, SciPy rows);
``SparseSearcher`` is the ``SegmentSearcher`` ``search_snapshot`` calls per
segment: it scores every row sharing a dimension with the query through the
segment's ``SparseSegmentIndex`` (built on first use, remembered with the
segment), leaves out rows that share none (as Milvus's inverted index does), and
keeps a range search's (low, high] bounds. Exact: this is the index.

A BM25 function's output field is searched with text: ``bm25_searcher`` turns
each query into term counts with the input field's analyzer and scores rows
with Okapi BM25 (``BM25Scorer``), the corpus statistics counted over every live
row of the snapshot (``corpus_stats``) whatever the filter, so a document's score
does not depend on how its rows are split into segments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from embedb.errors import DataError, InvalidArgumentError
from embedb.query import NO_ROW, top_k
from embedb.search.execute import SearchRequest
from embedb.storage import SegmentView
from embedb.storage.sparse_vectors import SparseRow, SparseSegmentIndex, sparse_row, tokenized_index
from embedb.text import DEFAULT_B, DEFAULT_K1, BM25Stats, bm25_weights, term_vector

Scorer = Callable[[SparseSegmentIndex, SparseRow], np.ndarray]  # every row's score for one query
IndexOf = Callable[[SegmentView], SparseSegmentIndex]  # a segment's inverted lists of the column searched


def sparse_queries(data: Any) -> list[SparseRow]:
    """Query vectors of a sparse field: one (a dict, pairs, a SciPy row) or a list of them; ``DataError`` otherwise.

    A dimension weighted 0 is dropped: it adds nothing to any score, so a row that
    shares only such dimensions with the query does not match it.
    """
    return [_weighted(row) for row in _parsed_queries(data)]


def _weighted(row: SparseRow) -> SparseRow:
    dims, weights = row
    kept = weights != 0
    return (dims, weights) if kept.all() else (dims[kept], weights[kept])


def _parsed_queries(data: Any) -> list[SparseRow]:
    if hasattr(data, "tocsr") and hasattr(data, "shape"):
        matrix = data.tocsr()
        return [sparse_row(matrix[i : i + 1], f"query {i}") for i in range(matrix.shape[0])]
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


def stored_lists(field: str) -> IndexOf:
    """The inverted lists of a stored sparse column (user vectors, or a BM25 function's counts)."""
    return lambda view: segment_index(view, field)


def tokenized_lists(source: str, key: str, tokens: Callable[[str], list[str]]) -> IndexOf:
    """The inverted lists of an analyzer version's term counts, made from each segment's ``source`` text once."""
    return lambda view: tokenized_index(view.data.memo, key, view.data.table.column(source), tokens)


def inner_product(index: SparseSegmentIndex, query: SparseRow) -> np.ndarray:
    return index.inner_products(query)


class SparseSearcher:
    """Top-k rows of one segment by a sparse score (inner product, or BM25 through ``scorer``)."""

    def __init__(
        self, field: str, queries: list[SparseRow], scorer: Scorer = inner_product, index_of: IndexOf | None = None
    ) -> None:
        self.field = field
        self.queries = queries
        self.scorer = scorer
        self.index_of = index_of or stored_lists(field)

    def __call__(
        self, view: SegmentView, request: SearchRequest, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        index = self.index_of(view)
        bounds = request.params.get("_range")
        k = request.k
        best_scores = np.full((len(self.queries), k), -np.inf, dtype=np.float32)
        best_rows = np.full((len(self.queries), k), NO_ROW, dtype=np.int64)
        for q, query in enumerate(self.queries):
            # The candidates: rows sharing a dimension with the query (and allowed); only they are ranked.
            postings = [index.postings(dim)[0] for dim in query[0].tolist()]
            candidates = np.unique(np.concatenate(postings)) if postings else np.empty(0, dtype=np.int64)
            if allowed is not None and candidates.size:
                candidates = candidates[allowed[candidates]]
            if not candidates.size:
                continue
            scores = self.scorer(index, query)[candidates]
            if bounds is not None:
                low, high = bounds
                scores[(scores <= low) | (scores > high)] = -np.inf
            top_scores, top_slots = top_k(scores[None, :], k)
            best_scores[q] = top_scores[0]
            best_rows[q] = np.where(top_slots[0] == NO_ROW, NO_ROW, candidates[np.clip(top_slots[0], 0, None)])
        return best_scores, best_rows


def corpus_stats(views: list[SegmentView], key: str, terms: set[int], index_of: IndexOf | None = None) -> BM25Stats:
    """BM25's statistics over the live rows of ``views``: row count, mean length, each term's document frequency.

    ``key`` names the column counted (the field, or an analyzer version's column key); ``index_of`` reads its lists.
    """
    index_of = index_of or stored_lists(key)
    rows = 0
    length = 0.0
    frequency = dict.fromkeys(terms, 0)
    for view in views:
        if view.data.num_rows == 0:
            continue
        index = index_of(view)
        live = ~view.deleted[: index.num_rows]
        segment_rows, segment_length = _live_totals(view, key, index, live)
        rows += segment_rows
        length += segment_length
        for term in terms:
            frequency[term] += int(np.count_nonzero(live[index.postings(term)[0]]))
    return BM25Stats(rows, length / rows if rows else 0.0, frequency)


def _live_totals(view: SegmentView, field: str, index: SparseSegmentIndex, live: np.ndarray) -> tuple[int, float]:
    """(live rows, their total length) of a segment, remembered per deletion count (its rows never change)."""
    key = ("bm25_live_totals", field, view.deleted_count)
    totals: tuple[int, float] | None = view.data.memo.get(key)
    if totals is None:
        totals = view.data.memo[key] = (int(np.count_nonzero(live)), float(index.row_sums[live].sum()))
    return totals


class BM25Scorer:
    """Okapi BM25 of each row of a segment for a query's term counts, with corpus-wide statistics."""

    def __init__(self, stats: BM25Stats, k1: float, b: float) -> None:
        self.stats = stats
        self.k1 = k1
        self.b = b

    def __call__(self, index: SparseSegmentIndex, query: SparseRow) -> np.ndarray:
        scores = np.zeros(index.num_rows, dtype=np.float64)
        for term, count in zip(query[0].tolist(), query[1].tolist(), strict=True):
            rows, frequencies = index.postings(term)
            if rows.size:
                weights = bm25_weights(
                    frequencies.astype(np.float64), index.row_sums[rows], self.stats, self.k1, self.b
                )
                scores[rows] += count * self.stats.idf(term) * weights
        return scores.astype(np.float32)


def bm25_searcher(
    views: list[SegmentView],
    field: str,
    tokens: Callable[[str], list[str]],
    data: Any,
    params: Mapping[str, Any],
    *,
    key: str | None = None,
    index_of: IndexOf | None = None,
) -> SparseSearcher:
    """A searcher ranking ``field`` (a BM25 function's output) by BM25 against query texts.

    ``key`` and ``index_of`` name and read the term counts of an analyzer version; by default the stored column.
    """
    texts = [data] if isinstance(data, str) else data
    if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(text, str) for text in texts):
        raise DataError(f"a BM25 search of field {field!r} takes query text (a string or a list of strings)")
    queries = [sparse_row(term_vector(tokens(text)), f"query {i}") for i, text in enumerate(texts)]
    terms = {int(term) for query in queries for term in query[0].tolist()}
    k1 = _bound(params, "bm25_k1", DEFAULT_K1, 0.0, 3.0)
    b = _bound(params, "bm25_b", DEFAULT_B, 0.0, 1.0)
    index_of = index_of or stored_lists(field)
    stats = corpus_stats(views, key or field, terms, index_of)
    return SparseSearcher(field, queries, BM25Scorer(stats, k1, b), index_of)


def _bound(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise InvalidArgumentError(f"{name}={value!r} is out of range: use a number in [{low}, {high}]", parameter=name)
    return float(value)


__all__ = [
    "BM25Scorer",
    "SparseSearcher",
    "bm25_searcher",
    "corpus_stats",
    "segment_index",
    "sparse_queries",
    "stored_lists",
    "tokenized_lists",
]
