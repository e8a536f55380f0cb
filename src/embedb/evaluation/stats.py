"""The statistics behind a promotion verdict: paired tests, intervals, and always-valid sequential tests.

Everything here is a pure function of counts or arrays, written with numpy and the
standard library so that the math is visible (scipy is used only by the tests, to check
it). Randomness comes only from the ``seed`` arguments, so a verdict is reproducible.

Fixed-sample tools, valid when the data are looked at once:

- :func:`paired_randomization_test`: sign-flip permutation test of per-query differences.
- :func:`bootstrap_mean_ci`: percentile bootstrap interval of a mean (of paired differences).
- :func:`binomial_test`: exact binomial test (interleaving wins over non-tied queries).
- :func:`wilson_interval`, :func:`newcombe_interval`: score intervals for a proportion
  and for a difference of two proportions.
- :func:`two_proportion_z_test`: pooled z-test of two click-through rates.

Sequential tools, valid however often the data are looked at — a mixture sequential
probability ratio test (mSPRT). We chose the mSPRT over an alpha-spending group-sequential
design because an online report is looked at whenever someone opens it: the mSPRT needs
neither a planned number of looks nor a maximum sample size, yet a decision taken at any
look, however chosen, is wrong with probability at most alpha. The mixture likelihood
ratio ``Λ_n = ∫ L_n(θ) / L_n(θ0) dπ(θ)`` is a non-negative martingale with mean 1 under
the null hypothesis, so Ville's inequality gives ``P(sup_n Λ_n >= 1/alpha) <= alpha``;
``min(1, 1/Λ_n)`` is therefore an always-valid p-value (promoting at the first look where
it falls below alpha is valid; a caller that wants it never to rise again can keep its
running minimum), and inverting the test gives a
confidence sequence (an interval that holds at every n at once). The price is width: for
the same data it is less sensitive than a fixed-horizon test evaluated once.

- :func:`msprt_bernoulli`: exact, with a beta mixture (interleaving win rate).
- :func:`msprt_two_proportions`: normal mixture on the difference of two rates (split
  tests), as in Johari et al., "Always valid inference" (2017); it rests on the normal
  approximation of the difference, so it is asymptotic rather than exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

from embedb.errors import InvalidArgumentError

Alternative = Literal["two-sided", "greater", "less"]

EXACT_RANDOMIZATION_MAX_N = 16
"""Up to this many pairs the randomization test enumerates all 2**n sign flips."""

_CHUNK_ELEMENTS = 250_000  # one block of resamples stays small enough to reuse its memory


@dataclass(frozen=True)
class SequentialResult:
    """The state of an mSPRT after the data seen so far.

    ``estimate`` is the win rate (Bernoulli) or the difference ``rate_b - rate_a``;
    ``p_value`` is always valid (``min(1, 1/Λ)``); ``ci`` is the confidence sequence at
    the alpha asked for: it holds simultaneously for every n.
    """

    estimate: float
    log_likelihood_ratio: float
    p_value: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class ZTestResult:
    """A two-proportion z-test: ``difference = rate_b - rate_a``, its z score and p-value."""

    difference: float
    z: float
    p_value: float


def paired_randomization_test(
    differences: Sequence[float] | npt.ArrayLike, *, n_resamples: int = 10_000, seed: int = 0
) -> float:
    """Return the two-sided p-value of "the mean paired difference is zero" by sign flipping.

    Under the null hypothesis the two systems are exchangeable on every query, so each
    difference is as likely to carry either sign. The statistic is the mean difference;
    the p-value is the share of sign assignments whose mean is at least as far from zero.
    Up to :data:`EXACT_RANDOMIZATION_MAX_N` pairs every assignment is enumerated (exact);
    beyond, ``n_resamples`` random ones are drawn and the p-value is
    ``(1 + hits) / (1 + n_resamples)``, which never understates it.

    Raises:
        InvalidArgumentError: no differences, a non-finite one, or ``n_resamples < 1``.
    """
    values = _finite_vector("differences", differences)
    _check_positive_int("n_resamples", n_resamples)
    n = values.size
    observed = abs(float(values.sum()))
    # Sums computed in a different order differ by rounding; count those as ties.
    tolerance = 1e-9 * float(np.abs(values).sum())
    if n <= EXACT_RANDOMIZATION_MAX_N:
        patterns = np.arange(2**n)[:, None] >> np.arange(n) & 1
        sums = (2 * patterns - 1) @ values
        return float(np.count_nonzero(np.abs(sums) >= observed - tolerance) / 2**n)
    rng = np.random.default_rng(seed)
    total = float(values.sum())
    hits = 0
    for size in _chunks(n_resamples, n):
        # With signs 2b - 1 for bits b, the flipped sum is 2 (b @ values) - sum(values).
        bits = rng.integers(0, 2, size=(size, n), dtype=np.int8)
        hits += int(np.count_nonzero(np.abs(2.0 * (bits @ values) - total) >= observed - tolerance))
    return (1 + hits) / (1 + n_resamples)


def bootstrap_mean_ci(
    values: Sequence[float] | npt.ArrayLike, *, alpha: float = 0.05, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Return the percentile bootstrap ``1 - alpha`` interval of the mean of ``values``.

    Pass per-query differences to get the paired bootstrap interval of a mean difference:
    resampling queries keeps each query's pair together.

    Raises:
        InvalidArgumentError: no values, a non-finite one, a bad alpha or ``n_resamples``.
    """
    data = _finite_vector("values", values)
    _check_alpha(alpha)
    _check_positive_int("n_resamples", n_resamples)
    rng = np.random.default_rng(seed)
    means = np.concatenate(
        [
            data[rng.integers(0, data.size, size=(size, data.size), dtype=np.int32)].mean(axis=1)
            for size in _chunks(n_resamples, data.size)
        ]
    )
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def binomial_test(successes: int, n: int, *, p: float = 0.5, alternative: Alternative = "two-sided") -> float:
    """Return the exact binomial p-value of ``successes`` out of ``n`` against rate ``p``.

    "greater" and "less" are the upper and lower tails. "two-sided" sums the probability
    of every outcome no more likely than the observed one (the rule scipy uses); for
    ``p = 0.5`` that is twice the smaller tail.

    Raises:
        InvalidArgumentError: negative counts, ``successes > n``, ``p`` outside (0, 1),
            or an unknown alternative.
    """
    _check_counts(successes, n)
    if not 0.0 < p < 1.0:
        raise InvalidArgumentError(f"p must be in (0, 1), got {p!r}", p=p)
    pmf = _binomial_pmf(n, p)
    if alternative == "greater":
        tail = pmf[successes:].sum()
    elif alternative == "less":
        tail = pmf[: successes + 1].sum()
    elif alternative == "two-sided":
        # The relative slack keeps outcomes exactly as likely as the observed one from
        # dropping out through rounding.
        tail = pmf[pmf <= pmf[successes] * (1 + 1e-7)].sum()
    else:
        raise InvalidArgumentError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}", alternative=alternative
        )
    return min(1.0, float(tail))


def wilson_interval(successes: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Return the Wilson score ``1 - alpha`` interval of a proportion.

    Unlike the Wald interval it stays inside [0, 1] and keeps its coverage near 0 and 1.
    With ``n == 0`` nothing is known and the interval is (0, 1).

    Raises:
        InvalidArgumentError: negative counts, ``successes > n`` or a bad alpha.
    """
    _check_counts(successes, n)
    _check_alpha(alpha)
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1 - alpha / 2)
    rate = successes / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half_width = z / denominator * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def newcombe_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, alpha: float = 0.05
) -> tuple[float, float]:
    """Return the ``1 - alpha`` interval of ``rate_b - rate_a`` from the two Wilson intervals.

    Newcombe's hybrid score method (1998, method 10): each side adds the distances from
    each rate to the matching end of its Wilson interval in quadrature.

    Raises:
        InvalidArgumentError: negative counts, successes above n, an empty arm or a bad alpha.
    """
    _check_counts(successes_a, n_a)
    _check_counts(successes_b, n_b)
    if n_a == 0 or n_b == 0:
        raise InvalidArgumentError("both arms need at least one observation", n_a=n_a, n_b=n_b)
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson_interval(successes_a, n_a, alpha=alpha)
    low_b, high_b = wilson_interval(successes_b, n_b, alpha=alpha)
    difference = rate_b - rate_a
    return (
        difference - math.hypot(rate_b - low_b, high_a - rate_a),
        difference + math.hypot(high_b - rate_b, rate_a - low_a),
    )


def two_proportion_z_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, alternative: Alternative = "two-sided"
) -> ZTestResult:
    """Test "arm A and arm B have the same rate" with the pooled two-proportion z-test.

    ``z = (rate_b - rate_a) / sqrt(pooled * (1 - pooled) * (1/n_a + 1/n_b))``; "greater"
    means the alternative ``rate_b > rate_a``. With no variance at all (every observation
    a success, or none) the data carry no evidence and ``z = 0``, ``p = 1``.

    Raises:
        InvalidArgumentError: negative counts, successes above n, an empty arm, or an
            unknown alternative.
    """
    _check_counts(successes_a, n_a)
    _check_counts(successes_b, n_b)
    if n_a == 0 or n_b == 0:
        raise InvalidArgumentError("both arms need at least one observation", n_a=n_a, n_b=n_b)
    difference = successes_b / n_b - successes_a / n_a
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    z = difference / math.sqrt(variance) if variance > 0 else 0.0
    normal = NormalDist()
    if alternative == "two-sided":
        p_value = math.erfc(abs(z) / math.sqrt(2)) if variance > 0 else 1.0
    elif alternative == "greater":
        p_value = 1 - normal.cdf(z) if variance > 0 else 1.0
    elif alternative == "less":
        p_value = normal.cdf(z) if variance > 0 else 1.0
    else:
        raise InvalidArgumentError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}", alternative=alternative
        )
    return ZTestResult(difference=difference, z=z, p_value=p_value)


def msprt_bernoulli(
    successes: int, n: int, *, p0: float = 0.5, mixture_sd: float = 0.1, alpha: float = 0.05
) -> SequentialResult:
    """Run the beta-mixture sequential test of "the success rate is ``p0``" (exact).

    The mixture is the beta distribution with mean ``p0`` and standard deviation
    ``mixture_sd``: the size of effect the test is tuned to find fastest. With ``s``
    successes and ``f`` failures, ``Λ = B(a + s, b + f) / B(a, b) / (p0**s (1 - p0)**f)``,
    which is an exact likelihood-ratio martingale, so no normal approximation is involved.

    Returns:
        The win rate, ``log Λ``, the always-valid p-value and the confidence sequence.

    Raises:
        InvalidArgumentError: bad counts, ``p0`` outside (0, 1), a bad alpha, or
            ``mixture_sd`` not in (0, sqrt(p0 (1 - p0))).
    """
    _check_counts(successes, n)
    _check_alpha(alpha)
    if not 0.0 < p0 < 1.0:
        raise InvalidArgumentError(f"p0 must be in (0, 1), got {p0!r}", p0=p0)
    if not 0.0 < mixture_sd < math.sqrt(p0 * (1 - p0)):
        raise InvalidArgumentError(
            f"mixture_sd must be in (0, {math.sqrt(p0 * (1 - p0)):.3f}) for p0={p0}, got {mixture_sd!r}",
            mixture_sd=mixture_sd,
        )
    failures = n - successes
    concentration = p0 * (1 - p0) / mixture_sd**2 - 1  # a + b of the beta with that mean and sd
    a, b = p0 * concentration, (1 - p0) * concentration
    log_marginal = _log_beta(a + successes, b + failures) - _log_beta(a, b)

    def log_ratio(rate: float) -> float:
        # Only ever called with 0 < rate < 1.
        return log_marginal - successes * math.log(rate) - failures * math.log1p(-rate)

    threshold = math.log(1 / alpha)
    estimate = successes / n if n else p0
    # log Λ(rate) is convex in rate and below -log(1/alpha) at the estimate (the mixture never
    # beats the maximum likelihood), so the confidence sequence is one interval around it.
    low = 0.0 if successes == 0 else _bisect(log_ratio, threshold, inside=estimate, outside=0.0)
    high = 1.0 if failures == 0 else _bisect(log_ratio, threshold, inside=estimate, outside=1.0)
    log_lr = log_ratio(p0)
    return SequentialResult(estimate, log_lr, min(1.0, math.exp(-log_lr)), (low, high))


def msprt_two_proportions(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, mixture_sd: float = 0.05, alpha: float = 0.05
) -> SequentialResult:
    """Run the normal-mixture sequential test of "arm A and arm B have the same rate".

    With ``θ = rate_b - rate_a`` estimated with variance ``V`` and a normal mixture of
    standard deviation ``τ = mixture_sd`` over θ, ``Λ = sqrt(V / (V + τ²)) exp(θ² τ² / (2 V (V + τ²)))``.
    The test uses the pooled variance (the variance under the null hypothesis); the
    confidence sequence ``θ ± sqrt(V (V + τ²) / τ² (2 log(1/alpha) + log((V + τ²) / V)))``
    uses the unpooled variance with each rate shrunk by half a success, so that an arm
    with no clicks yet does not claim zero variance. ``τ`` should be the size of
    difference worth detecting; the test is valid for any ``τ``, only its speed changes.

    Returns:
        The difference, ``log Λ``, the always-valid p-value and the confidence sequence.

    Raises:
        InvalidArgumentError: bad counts, an empty arm, a bad alpha or ``mixture_sd <= 0``.
    """
    test = two_proportion_z_test(successes_a, n_a, successes_b, n_b)
    _check_alpha(alpha)
    if not mixture_sd > 0:
        raise InvalidArgumentError(f"mixture_sd must be positive, got {mixture_sd!r}", mixture_sd=mixture_sd)
    tau2 = mixture_sd**2
    pooled = (successes_a + successes_b) / (n_a + n_b)
    null_variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    difference = test.difference
    if null_variance > 0:
        log_lr = 0.5 * math.log(null_variance / (null_variance + tau2)) + difference**2 * tau2 / (
            2 * null_variance * (null_variance + tau2)
        )
    else:
        log_lr = 0.0
    shrunk_a, shrunk_b = (successes_a + 0.5) / (n_a + 1), (successes_b + 0.5) / (n_b + 1)
    variance = shrunk_a * (1 - shrunk_a) / n_a + shrunk_b * (1 - shrunk_b) / n_b
    half_width = math.sqrt(
        variance * (variance + tau2) / tau2 * (2 * math.log(1 / alpha) + math.log((variance + tau2) / variance))
    )
    ci = (max(-1.0, difference - half_width), min(1.0, difference + half_width))
    return SequentialResult(difference, log_lr, min(1.0, math.exp(-log_lr)), ci)


def check_seed(seed: int) -> None:
    """Return if ``seed`` can seed NumPy's generator (an integer in [0, 2**63)); raise ``InvalidArgumentError``."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InvalidArgumentError(f"seed must be an integer in [0, 2**63), got {seed!r}", argument="seed")


def _binomial_pmf(n: int, p: float) -> npt.NDArray[np.float64]:
    k = np.arange(n + 1, dtype=np.float64)
    # log C(n, k) as a running sum of log((n - j + 1) / j): vectorised and exact to rounding.
    log_comb = np.concatenate(([0.0], np.cumsum(np.log((n - k[1:] + 1) / k[1:]))))
    return np.asarray(np.exp(log_comb + k * math.log(p) + (n - k) * math.log1p(-p)), dtype=np.float64)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _bisect(function: Callable[[float], float], level: float, *, inside: float, outside: float) -> float:
    # Finds where a convex function leaves {value < level} between inside and outside.
    for _ in range(40):  # an interval of width 1 shrinks below 1e-12
        middle = (inside + outside) / 2
        if function(middle) < level:
            inside = middle
        else:
            outside = middle
    return inside


def _chunks(total: int, row_length: int) -> list[int]:
    rows = max(1, _CHUNK_ELEMENTS // max(1, row_length))
    return [min(rows, total - start) for start in range(0, total, rows)]


def _finite_vector(name: str, values: Sequence[float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{name} must be a sequence of numbers: {error}", field=name) from None
    if array.ndim != 1 or array.size == 0:
        raise InvalidArgumentError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}", field=name)
    if not np.isfinite(array).all():
        position = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InvalidArgumentError(f"{name}[{position}] is not a finite number", field=name, position=position)
    return array


def _check_counts(successes: int, n: int) -> None:
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise InvalidArgumentError(f"{name} must be a non-negative integer, got {value!r}", field=name)
    if successes > n:
        raise InvalidArgumentError(f"successes ({successes}) cannot exceed n ({n})", successes=successes, n=n)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha!r}", alpha=alpha)


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}", field=name)
