"""Drift of embeddings: has the current sample moved away from the reference one?

Three tests, each with a p-value that is valid under the null hypothesis that the
reference and current embeddings are exchangeable (drawn from one distribution),
and one decision over them with a Bonferroni bound, so the false-alarm rate of
``detect_drift`` is at most ``alpha`` whatever the tests' dependence:

- **classifier** (as Evidently's embedding drift): a linear classifier learns to
  tell current from reference on half of each sample; its ROC AUC on the other
  half is the statistic. The p-value permutes the held-out labels (the classifier
  never saw them, so under the null every labelling of the held-out scores is
  equally likely). The classifier is shrinkage LDA: ``w = (S + λI)⁻¹ (μ₁ - μ₀)``.
- **mmd**: the maximum mean discrepancy with a Gaussian kernel (bandwidth: the
  median pairwise distance of the pooled sample), by permutation of the pooled rows.
- **ood** (out of domain): the share of current items whose nearest stored
  neighbour is farther than the reference's ``quantile`` (95%) nearest-neighbour
  distance. Under the null the number of current items beyond the j-th largest of
  the reference values has an exact distribution (the exceedance law of Gumbel:
  ``P(X = x) = C(x + j - 1, x) C(m - x + n - j, m - x) / C(n + m, m)``), which
  gives the p-value with no approximation.

Pure functions of arrays; randomness only from ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from embedb.errors import InvalidArgumentError
from embedb.evaluation.stats import check_seed

DRIFT_TESTS = ("classifier", "mmd", "ood")
MMD_TOLERANCE = 1e-12
DEFAULT_PERMUTATIONS = 999
MIN_ROWS = 10


@dataclass(frozen=True)
class DriftTest:
    """One test's statistic and p-value; ``detected`` is ``p_value < alpha_each`` (the Bonferroni share)."""

    name: str
    statistic: float
    p_value: float
    detected: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classifier_test(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> tuple[float, float, dict[str, Any]]:
    """(held-out ROC AUC of a linear domain classifier, its permutation p-value, detail)."""
    x0, x1 = _matrix("reference", reference), _matrix("current", current)
    rng = np.random.default_rng(seed)
    train0, test0 = _halves(len(x0), rng)
    train1, test1 = _halves(len(x1), rng)
    a, b = x0[train0], x1[train1]
    mean0, mean1 = a.mean(axis=0), b.mean(axis=0)
    scatter = np.cov(np.vstack([a - mean0, b - mean1]), rowvar=False, bias=True).reshape(x0.shape[1], x0.shape[1])
    shrink = 0.1 * float(np.trace(scatter)) / scatter.shape[0] + 1e-12
    weights = np.linalg.solve(scatter + shrink * np.eye(scatter.shape[0]), mean1 - mean0)
    scores = np.concatenate([x0[test0] @ weights, x1[test1] @ weights])
    labels = np.concatenate([np.zeros(len(test0), dtype=bool), np.ones(len(test1), dtype=bool)])
    ranks = _ranks(scores)
    observed = _auc(ranks, labels)
    shuffled = np.array([_auc(ranks, rng.permutation(labels)) for _ in range(permutations)])
    p_value = (1 + int(np.count_nonzero(shuffled >= observed))) / (permutations + 1)
    return observed, p_value, {"held_out_reference": len(test0), "held_out_current": len(test1)}


def mmd_test(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> tuple[float, float, dict[str, Any]]:
    """(squared MMD with a Gaussian kernel, its permutation p-value, detail)."""
    x0, x1 = _matrix("reference", reference), _matrix("current", current)
    pooled = np.vstack([x0, x1])
    squares = np.einsum("ij,ij->i", pooled, pooled)
    distances = np.maximum(squares[:, None] + squares[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    upper = distances[np.triu_indices(len(pooled), k=1)]
    bandwidth = float(np.median(upper[upper > 0])) if np.any(upper > 0) else 1.0
    kernel = np.exp(-distances / bandwidth)
    n0, n1 = len(x0), len(x1)
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.zeros(n0, dtype=bool), np.ones(n1, dtype=bool)])
    columns = [labels] + [rng.permutation(labels) for _ in range(permutations)]
    signs = np.stack([np.where(c, 1.0 / n1, -1.0 / n0) for c in columns], axis=1)  # MMD² = aᵀ K a
    values = np.einsum("ij,ij->j", signs, kernel @ signs)
    observed = float(values[0])
    # Kernel entries are at most 1: differences below this are rounding (identical samples give MMD² ~ 1e-32).
    p_value = (1 + int(np.count_nonzero(values[1:] >= observed - MMD_TOLERANCE))) / (permutations + 1)
    return observed, p_value, {"bandwidth": bandwidth}


def ood_test(
    reference_distances: npt.ArrayLike, current_distances: npt.ArrayLike, *, quantile: float = 0.95
) -> tuple[float, float, dict[str, Any]]:
    """(share of current items beyond the reference's ``quantile`` distance, exact p-value, detail).

    Distances are each item's distance to its nearest stored neighbour (larger is farther).
    """
    reference = np.sort(_vector("reference distances", reference_distances))[::-1]
    current = _vector("current distances", current_distances)
    if not 0.5 <= quantile < 1.0:
        raise InvalidArgumentError(f"quantile must be in [0.5, 1), got {quantile}", argument="quantile")
    n, m = len(reference), len(current)
    j = max(1, math.floor(n * (1.0 - quantile)))  # the threshold is the j-th largest reference distance
    threshold = float(reference[j - 1])
    beyond = int(np.count_nonzero(current > threshold))
    p_value = _exceedance_tail(beyond, j, n, m)
    return beyond / m, p_value, {"threshold": threshold, "expected_rate": j / (n + 1), "beyond": beyond}


def detect_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    reference_distances: npt.ArrayLike | None = None,
    current_distances: npt.ArrayLike | None = None,
    tests: Sequence[str] | None = None,
    alpha: float = 0.05,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """Run ``tests`` (all three by default; ``ood`` needs the nearest-neighbour distances) and decide.

    Returns ``{"detected", "p_value", "alpha", "tests": {name: DriftTest dict}}``: drift is
    detected when some test's p-value is below ``alpha / len(tests)``; ``p_value`` is the
    smallest one times the number of tests (capped at 1).
    """
    chosen = checked_tests(tests, with_distances=reference_distances is not None and current_distances is not None)
    check_seed(seed)
    if not 0.0 < alpha < 1.0:
        raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha}", argument="alpha")
    if isinstance(permutations, bool) or not isinstance(permutations, int) or not 99 <= permutations <= 100_000:
        raise InvalidArgumentError(
            f"permutations must be an integer in [99, 100000], got {permutations!r}", argument="permutations"
        )
    each = alpha / len(chosen)
    results = []
    for name in chosen:
        if name == "classifier":
            statistic, p_value, detail = classifier_test(reference, current, permutations=permutations, seed=seed)
        elif name == "mmd":
            statistic, p_value, detail = mmd_test(reference, current, permutations=permutations, seed=seed + 1)
        else:
            assert reference_distances is not None and current_distances is not None
            statistic, p_value, detail = ood_test(reference_distances, current_distances)
        results.append(DriftTest(name, statistic, p_value, p_value < each, detail))
    smallest = min(test.p_value for test in results)
    return {
        "detected": any(test.detected for test in results),
        "p_value": min(1.0, smallest * len(results)),
        "alpha": alpha,
        "tests": {test.name: test.to_dict() for test in results},
    }


def checked_tests(tests: Sequence[str] | None, *, with_distances: bool) -> tuple[str, ...]:
    if tests is None:
        return DRIFT_TESTS if with_distances else ("classifier", "mmd")
    if isinstance(tests, str) or not all(isinstance(name, str) for name in tests) or not tests:
        raise InvalidArgumentError(f"tests must be a non-empty list of {list(DRIFT_TESTS)}", argument="tests")
    unknown = sorted(set(tests) - set(DRIFT_TESTS))
    if unknown:
        raise InvalidArgumentError(f"unknown drift tests {unknown}; known: {list(DRIFT_TESTS)}", argument="tests")
    if "ood" in tests and not with_distances:
        raise InvalidArgumentError("the ood test needs nearest-neighbour distances of both samples", argument="tests")
    return tuple(dict.fromkeys(tests))


def _matrix(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    matrix = as_float_matrix(values, name)
    if matrix.ndim != 2 or len(matrix) < MIN_ROWS or not np.all(np.isfinite(matrix)):
        raise InvalidArgumentError(
            f"the {name} sample must be at least {MIN_ROWS} finite vectors, got shape {matrix.shape}", argument=name
        )
    return matrix


def as_float_matrix(values: Any, name: str) -> npt.NDArray[np.float64]:
    """``values`` as a float64 array; ``InvalidArgumentError`` for ragged or non-numeric input."""
    try:
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"the {name} sample must be equal-length lists of numbers", argument=name) from None


def _vector(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    vector = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(vector) < MIN_ROWS or not np.all(np.isfinite(vector)):
        raise InvalidArgumentError(f"{name}: at least {MIN_ROWS} finite values are needed", argument=name)
    return vector


def _halves(n: int, rng: np.random.Generator) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    order = rng.permutation(n)
    return order[: n // 2], order[n // 2 :]


def _ranks(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks 1..n with ties given their mean rank."""
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    if len(values) < len(scores):
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    return ranks


def _auc(ranks: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float:
    """ROC AUC from ranks (Mann-Whitney U over the product of the class sizes)."""
    n1 = int(np.count_nonzero(positive))
    n0 = len(positive) - n1
    return (float(ranks[positive].sum()) - n1 * (n1 + 1) / 2.0) / (n0 * n1)


def _exceedance_tail(beyond: int, j: int, n: int, m: int) -> float:
    """P(X >= beyond): X current items (of m) exceed the j-th largest of n exchangeable reference values."""

    def log_pmf(x: int) -> float:
        return _log_comb(x + j - 1, x) + _log_comb(m - x + n - j, m - x) - _log_comb(n + m, m)

    tail = sum(math.exp(log_pmf(x)) for x in range(beyond, m + 1))
    return min(1.0, tail)


def _log_comb(a: int, b: int) -> float:
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)
