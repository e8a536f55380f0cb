"""Exact k-nearest-neighbour search over one segment: the oracle every ANN index is measured against.

Scores are "higher is closer" inside the query layer: the similarity for IP and
COSINE, the negated squared distance for L2 and HAMMING (over 0/1 bits the
squared distance is the number of differing bits), the Jaccard similarity for
JACCARD (``distances_for_output`` turns them back into what Milvus returns). Work is blocked so that a batch of queries
against millions of rows never allocates more than about 128 MB at once, and
stays one BLAS matrix product per block.
"""

from __future__ import annotations

import math

import numpy as np

from embedb.schema import MetricType

BLOCK_BYTES = 128 * 1024 * 1024
NO_ROW = -1


def prepare_queries(queries: np.ndarray, metric: MetricType) -> np.ndarray:
    """Queries as float32, unit length for COSINE."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if metric is not MetricType.COSINE:
        return queries
    if queries.shape[0] == 1:
        # The common single query in two NumPy calls instead of six (each costs 1-2 µs).
        squared = float(np.dot(queries[0], queries[0]))
        if 1e-30 < squared < math.inf:
            return queries / math.sqrt(squared)
    else:
        # What np.linalg.norm computes, without its wrapper's overhead (this is on every search).
        norms = np.sqrt(np.add.reduce(queries * queries, axis=1, keepdims=True))
        if not norms.size or (norms.min() > 1e-15 and np.isfinite(norms).all()):
            return queries / norms
    # In float64: a float32 sum of squares overflows from about 1e19 and underflows below 1e-23.
    wide = queries.astype(np.float64)
    norms = np.sqrt(np.add.reduce(wide * wide, axis=1, keepdims=True))
    norms[norms == 0] = 1
    return (wide / norms).astype(np.float32)


def score_block(queries: np.ndarray, vectors: np.ndarray, norms: np.ndarray, metric: MetricType) -> np.ndarray:
    """Scores (nq, n) of prepared queries against rows of one block (a product beyond float32 is +inf: the best)."""
    with np.errstate(over="ignore"):
        scores = queries @ vectors.T
    if metric is MetricType.COSINE:
        scores /= np.where(norms == 0, 1, norms)[None, :]
    elif metric is MetricType.JACCARD:
        # over 0/1 bits: q.x counts the bits both have, |x|^2 the bits x has
        union = np.rint(norms * norms)[None, :] + np.einsum("ij,ij->i", queries, queries)[:, None] - scores
        scores /= np.where(union == 0, 1, union)
    elif metric.negated:
        # -(|q|^2 - 2 q.x + |x|^2): higher is closer
        scores *= 2
        scores -= (norms * norms)[None, :]
        scores -= np.einsum("ij,ij->i", queries, queries)[:, None]
    return scores


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, columns) of the k best per row, best first; short rows pad with -inf / NO_ROW."""
    nq, n = scores.shape
    if n == 0:
        return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), NO_ROW, dtype=np.int64)
    kk = min(k, n)
    part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk] if kk < n else np.broadcast_to(np.arange(n), (nq, n)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    if kk < k:
        best = np.pad(best, ((0, 0), (0, k - kk)), constant_values=NO_ROW)
        best_scores = np.pad(best_scores, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    best[np.isnan(best_scores) | np.isneginf(best_scores)] = NO_ROW  # +inf (an overflowing product) is still a hit
    return best_scores.astype(np.float32, copy=False), best.astype(np.int64, copy=False)


def exact_search(
    queries: np.ndarray,
    vectors: np.ndarray,
    norms: np.ndarray,
    metric: MetricType,
    k: int,
    allowed: np.ndarray | None,
    *,
    bounds: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (scores, row numbers) of prepared ``queries`` among the ``allowed`` rows of one segment.

    ``allowed`` is a bool mask over the rows, or None for all rows; ``bounds``
    (low, high) keeps only scores in (low, high] (a range search in one pass).
    Rows are numbered as in the segment; missing results are ``NO_ROW`` with
    score -inf.
    """
    nq = queries.shape[0]
    rows: np.ndarray | None = None
    if allowed is not None:
        count = int(allowed.sum())
        if count == 0:
            return top_k(np.empty((nq, 0), dtype=np.float32), k)
        if count < allowed.size // 2:
            rows = np.nonzero(allowed)[0]
    total = rows.size if rows is not None else vectors.shape[0]
    if total == 0:
        return top_k(np.empty((nq, 0), dtype=np.float32), k)
    block = max(1, BLOCK_BYTES // max(1, 4 * max(nq, vectors.shape[1])))
    best_scores: np.ndarray | None = None
    best_rows: np.ndarray | None = None
    for start in range(0, total, block):
        stop = min(total, start + block)
        if rows is not None:
            ids = rows[start:stop]
            scores = score_block(queries, vectors[ids], norms[ids], metric)
        else:
            ids = np.arange(start, stop)
            scores = score_block(queries, vectors[start:stop], norms[start:stop], metric)
            if allowed is not None:
                scores[:, ~allowed[start:stop]] = -np.inf
        if bounds is not None:
            scores[(scores <= bounds[0]) | (scores > bounds[1])] = -np.inf
        block_scores, columns = top_k(scores, k)
        block_rows = np.where(columns == NO_ROW, NO_ROW, ids[np.clip(columns, 0, None)])
        if best_scores is None or best_rows is None:
            best_scores, best_rows = block_scores, block_rows
        else:
            merged_scores = np.concatenate([best_scores, block_scores], axis=1)
            merged_rows = np.concatenate([best_rows, block_rows], axis=1)
            picked_scores, picked = top_k(merged_scores, k)
            best_rows = np.where(picked == NO_ROW, NO_ROW, np.take_along_axis(merged_rows, np.clip(picked, 0, None), axis=1))
            best_scores = picked_scores
    assert best_scores is not None and best_rows is not None
    return best_scores, best_rows


def distances_for_output(scores: np.ndarray, metric: MetricType) -> np.ndarray:
    """What Milvus calls distance: the similarity for IP/COSINE, the squared distance for L2, bits for HAMMING, 1 - similarity for JACCARD."""
    if metric is MetricType.HAMMING:
        return np.rint(np.maximum(-scores, 0.0))  # whole bits (Faiss's expanded L2 can be off by float rounding)
    if metric.negated:
        return np.maximum(-scores, 0.0)
    if metric is MetricType.JACCARD:
        return np.clip(1.0 - scores, 0.0, 1.0)
    return scores
