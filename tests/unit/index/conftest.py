"""Cheap clustered data and the exact oracle, for index tests."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.query.exact import exact_search
from embedb.schema import MetricType


def clustered(n: int, dim: int, *, seed: int = 0) -> np.ndarray:
    """``n`` float32 vectors in about sqrt(n) Gaussian clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(4, int(np.sqrt(n))), dim)).astype(np.float32)
    picks = rng.integers(0, centres.shape[0], n)
    return (centres[picks] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)).astype(np.float32)


def unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def exact_rows(base: np.ndarray, queries: np.ndarray, metric: MetricType, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The oracle: exact top-k row numbers (base already normalised for COSINE)."""
    norms = np.linalg.norm(base, axis=1).astype(np.float32)
    return exact_search(queries, base, norms, metric, k, allowed)[1]


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len((set(a) & set(b)) - {-1}) for a, b in zip(found.tolist(), truth.tolist(), strict=True))
    return hits / max(1, int((truth >= 0).sum()))


@pytest.fixture(scope="session")
def data_32d() -> tuple[np.ndarray, np.ndarray]:
    """(base 4000 x 32, queries 100 x 32), unit length."""
    vectors = unit(clustered(4100, 32, seed=3))
    return np.ascontiguousarray(vectors[:4000]), np.ascontiguousarray(vectors[4000:])
