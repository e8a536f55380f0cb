"""Datasets of the search benchmarks: generated clustered vectors, and the WordNet MiniLM vectors.

``clustered_vectors`` draws Gaussian clusters of varied size and spread around
random centres — a stand-in for text embeddings, whose neighbours come from a
low-dimensional structure rather than from uniform noise. The WordNet set is
real all-MiniLM-L6-v2 output (see /work/shared/data/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

WORDNET = Path("/work/shared/data/wordnet")


def results_dir() -> Path:
    path = Path(__file__).parent / "results"
    path.mkdir(parents=True, exist_ok=True)
    return path


def clustered_vectors(n: int, dim: int, *, seed: int = 0, clusters: int | None = None) -> np.ndarray:
    """``n`` float32 vectors in Gaussian clusters (about sqrt(n) of them, sizes and spreads varying)."""
    rng = np.random.default_rng(seed)
    count = clusters or max(8, int(np.sqrt(n)))
    centres = rng.standard_normal((count, dim)).astype(np.float32)
    weights = rng.gamma(2.0, size=count)
    assignment = rng.choice(count, size=n, p=weights / weights.sum())
    spread = rng.uniform(0.4, 0.9, size=count).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 65_536):
        part = assignment[start : start + 65_536]
        noise = rng.standard_normal((part.size, dim)).astype(np.float32)
        out[start : start + part.size] = centres[part] + spread[part, None] * noise
    return out


@dataclass(frozen=True)
class Dataset:
    """Base vectors, held-out queries, exact top-100 ground truth, and a random ``bucket`` in [0, 100) per row."""

    name: str
    base: np.ndarray
    queries: np.ndarray
    truth: np.ndarray  # (nq, 100) base rows, best first (cosine)
    bucket: np.ndarray
    metric: str = "COSINE"


def exact_top(base: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Exact top-k rows by inner product (vectors are unit length), in blocks of queries."""
    rows = np.arange(base.shape[0]) if allowed is None else np.nonzero(allowed)[0]
    candidates = base[rows]
    out = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], 256):
        scores = queries[start : start + 256] @ candidates.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        out[start : start + 256] = rows[np.take_along_axis(part, order, axis=1)]
    return out


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)


def load_dataset(name: str, *, quick: bool = False, queries: int = 1000) -> Dataset:
    """``wordnet`` (116,659 x 384), ``clustered-100k`` (100k x 384) or ``clustered-1m`` (1M x 128); ``quick`` takes a fifth."""
    rng = np.random.default_rng(42)
    if name == "wordnet":
        base = np.load(WORDNET / "base_vectors.f16.npy").astype(np.float32)
        query_vectors = np.load(WORDNET / "query_vectors.npy").astype(np.float32)[:queries]
        truth = np.load(WORDNET / "query_gt_top100.npy").astype(np.int64)[:queries]
        if quick:
            base = base[: base.shape[0] // 5]
            truth = exact_top(base, query_vectors, 100)
    else:
        rows, dim = {"clustered-100k": (100_000, 384), "clustered-1m": (1_000_000, 128)}[name]
        if quick:
            rows //= 5
        data = _unit(clustered_vectors(rows + queries, dim, seed=11))
        base, query_vectors = np.ascontiguousarray(data[:rows]), np.ascontiguousarray(data[rows:])
        truth = exact_top(base, query_vectors, 100)
    bucket = rng.integers(0, 100, size=base.shape[0]).astype(np.int64)
    return Dataset(name + ("-quick" if quick else ""), base, query_vectors, truth, bucket)


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean fraction of the true top-k among the first k found (rows < 0 count as misses)."""
    hits = 0
    for got, want in zip(found[:, :k].tolist(), truth[:, :k].tolist(), strict=True):
        hits += len(set(got) & set(want))
    return hits / (truth.shape[0] * k)
