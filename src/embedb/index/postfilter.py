"""Filtering after the search, for kernels that cannot take a row mask (hnswlib, Annoy).

The adapter asks its kernel for more neighbours than wanted — about
``k / selectivity`` times a margin — drops the rows the mask excludes, and asks
again with twice as many while some query still has fewer than ``k`` allowed
hits and the kernel could return more. Faiss indexes never come here: they
filter inside the kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from embedb.query import NO_ROW, top_k

OVERFETCH_MARGIN = 2.0

KernelSearch = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def search_then_filter(
    kernel: KernelSearch, queries: np.ndarray, k: int, allowed: np.ndarray | None, ntotal: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k allowed (scores, rows) from an unfiltered ``kernel(queries, fetch)``; see the module docstring."""
    if allowed is None:
        return kernel(queries, min(k, ntotal))
    count = int(np.count_nonzero(allowed))
    if count == 0 or ntotal == 0:
        return top_k(np.empty((queries.shape[0], 0), dtype=np.float32), k)
    fetch = min(ntotal, max(k, math.ceil(k * ntotal / count * OVERFETCH_MARGIN)))
    while True:
        scores, rows = kernel(queries, fetch)
        keep = rows >= 0
        keep[keep] = allowed[rows[keep]]
        enough = bool((keep.sum(axis=1) >= min(k, count)).all())
        if enough or fetch >= ntotal:
            break
        fetch = min(ntotal, fetch * 2)
    scores = np.where(keep, scores, -np.inf).astype(np.float32, copy=False)
    best_scores, picked = top_k(scores, k)
    safe = np.clip(picked, 0, None)
    best_rows = np.where(picked == NO_ROW, NO_ROW, np.take_along_axis(rows, safe, axis=1))
    return best_scores, best_rows
