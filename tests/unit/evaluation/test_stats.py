"""The statistics against scipy, exact enumeration and published values."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.integrate as scipy_integrate
import scipy.stats as scipy_stats

from embedb.errors import InvalidArgumentError
from embedb.evaluation import stats


def _exact_sign_flip_p(differences: np.ndarray) -> float:
    observed = abs(differences.sum())
    flips = np.array(list(itertools.product([-1.0, 1.0], repeat=differences.size)))
    return float(np.mean(np.abs(flips @ differences) >= observed - 1e-9))


@pytest.mark.parametrize("n", [2, 5, 9, 14])
def test_randomization_test_is_exact_for_small_n(n: int) -> None:
    differences = np.random.default_rng(n).normal(0.2, 1.0, n)
    p_value = stats.paired_randomization_test(differences)
    assert p_value == pytest.approx(_exact_sign_flip_p(differences))
    # scipy's paired permutation test (swapping within pairs) enumerates the same 2**n flips.
    reference = scipy_stats.permutation_test(
        (differences + 1.0, np.ones(n)),
        lambda x, y: np.mean(x - y),
        permutation_type="samples",
        n_resamples=np.inf,
    )
    assert p_value == pytest.approx(min(1.0, reference.pvalue))


def test_randomization_test_monte_carlo_matches_enumeration() -> None:
    differences = np.random.default_rng(7).normal(0.35, 1.0, 18)  # above the exact limit
    exact = _exact_sign_flip_p(differences)
    estimate = stats.paired_randomization_test(differences, n_resamples=20_000, seed=1)
    assert abs(estimate - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4
    assert stats.paired_randomization_test(differences, n_resamples=500, seed=3) == stats.paired_randomization_test(
        differences, n_resamples=500, seed=3
    )


def test_randomization_test_edge_cases() -> None:
    assert stats.paired_randomization_test([0.0, 0.0, 0.0]) == 1.0
    # Five equal positive differences: only all-plus and all-minus are as extreme.
    assert stats.paired_randomization_test([0.1] * 5) == pytest.approx(2 / 32)
    # Monte Carlo p-values never reach zero.
    assert stats.paired_randomization_test([1.0] * 40, n_resamples=999) == pytest.approx(1 / 1000)


def test_bootstrap_interval_agrees_with_the_normal_interval() -> None:
    values = np.random.default_rng(11).normal(0.03, 0.15, 500)
    low, high = stats.bootstrap_mean_ci(values, alpha=0.05, n_resamples=20_000, seed=2)
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert low == pytest.approx(values.mean() - half, abs=0.0015)
    assert high == pytest.approx(values.mean() + half, abs=0.0015)
    assert stats.bootstrap_mean_ci(values, seed=5) == stats.bootstrap_mean_ci(values, seed=5)
    assert stats.bootstrap_mean_ci([0.4]) == (0.4, 0.4)


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I.
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_interval_published_values(successes: int, n: int, expected: tuple[float, float]) -> None:
    low, high = stats.wilson_interval(successes, n)
    assert (round(low, 4), round(high, 4)) == expected


def test_wilson_interval_edges() -> None:
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    low, high = stats.wilson_interval(29, 29)
    assert high == 1.0 and low == pytest.approx(1 - stats.wilson_interval(0, 29)[1])
    narrow, wide = stats.wilson_interval(30, 100, alpha=0.2), stats.wilson_interval(30, 100, alpha=0.01)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


def test_newcombe_interval_published_value() -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", 56/70 vs 48/80: difference 0.2000, method 10 gives 0.0524 to 0.3339.
    low, high = stats.newcombe_interval(48, 80, 56, 70)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(
    ("successes", "n", "p"),
    [(7, 20, 0.5), (3, 20, 0.3), (312, 540, 0.5), (0, 10, 0.2), (50, 100, 0.5), (997, 2000, 0.47)],
)
def test_binomial_test_matches_scipy(successes: int, n: int, p: float, alternative: stats.Alternative) -> None:
    expected = scipy_stats.binomtest(successes, n, p, alternative=alternative).pvalue
    assert stats.binomial_test(successes, n, p=p, alternative=alternative) == pytest.approx(expected, rel=1e-9)


def test_two_proportion_z_test_matches_the_chi_square_test() -> None:
    table = np.array([[300, 700], [345, 655]])  # arm A, arm B: clicks, no clicks
    chi2, p_value, _, _ = scipy_stats.chi2_contingency(table, correction=False)
    result = stats.two_proportion_z_test(300, 1000, 345, 1000)
    assert result.z**2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(p_value)
    assert result.difference == pytest.approx(0.045)
    greater = stats.two_proportion_z_test(300, 1000, 345, 1000, alternative="greater")
    assert greater.p_value == pytest.approx(p_value / 2)
    assert stats.two_proportion_z_test(0, 10, 0, 12).p_value == 1.0


def test_msprt_bernoulli_is_the_beta_mixture_likelihood_ratio() -> None:
    successes, n, sd = 70, 120, 0.1
    concentration = 0.25 / sd**2 - 1
    prior = scipy_stats.beta(concentration / 2, concentration / 2)
    mixture, _ = scipy_integrate.quad(
        lambda rate: (2 * rate) ** successes * (2 * (1 - rate)) ** (n - successes) * prior.pdf(rate), 0, 1
    )
    result = stats.msprt_bernoulli(successes, n, mixture_sd=sd)
    assert result.log_likelihood_ratio == pytest.approx(math.log(mixture), rel=1e-7)
    assert result.p_value == pytest.approx(min(1.0, 1 / mixture))
    low, high = result.ci
    assert low < successes / n < high
    # The interval's ends are where the test of that rate sits exactly on the threshold.
    for end in (low, high):
        log_lr = (
            result.log_likelihood_ratio + successes * math.log(0.5 / end) + (n - successes) * math.log(0.5 / (1 - end))
        )
        assert log_lr == pytest.approx(math.log(20), abs=1e-6)


def test_msprt_bernoulli_without_data_or_with_one_sided_data() -> None:
    empty = stats.msprt_bernoulli(0, 0)
    assert (empty.p_value, empty.ci) == (1.0, (0.0, 1.0))
    all_wins = stats.msprt_bernoulli(40, 40)
    assert all_wins.p_value < 0.001 and all_wins.ci[1] == 1.0 and all_wins.ci[0] > 0.5


def test_msprt_two_proportions_is_the_normal_mixture_likelihood_ratio() -> None:
    a, n_a, b, n_b, tau = 300, 1000, 355, 1000, 0.05
    pooled = (a + b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    estimate = b / n_b - a / n_a
    normal = scipy_stats.norm
    mixture, _ = scipy_integrate.quad(
        lambda theta: (
            normal.pdf(estimate, theta, math.sqrt(variance))
            / normal.pdf(estimate, 0, math.sqrt(variance))
            * normal.pdf(theta, 0, tau)
        ),
        -1,
        1,
        points=[0.0, estimate],
    )
    result = stats.msprt_two_proportions(a, n_a, b, n_b, mixture_sd=tau)
    assert result.log_likelihood_ratio == pytest.approx(math.log(mixture), rel=1e-6)
    assert result.ci[0] < estimate < result.ci[1]
    # Always valid costs width: the confidence sequence is wider than the fixed-n interval.
    fixed = stats.newcombe_interval(a, n_a, b, n_b)
    assert result.ci[0] < fixed[0] and result.ci[1] > fixed[1]


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="finite"):
        stats.paired_randomization_test([0.1, math.inf])
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        stats.bootstrap_mean_ci([])
    with pytest.raises(InvalidArgumentError, match="alpha"):
        stats.wilson_interval(1, 2, alpha=1.5)
    with pytest.raises(InvalidArgumentError, match="cannot exceed"):
        stats.binomial_test(5, 4)
    with pytest.raises(InvalidArgumentError, match="alternative"):
        stats.binomial_test(1, 4, alternative="bigger")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="non-negative integer"):
        stats.two_proportion_z_test(-1, 10, 1, 10)
    with pytest.raises(InvalidArgumentError, match="at least one observation"):
        stats.two_proportion_z_test(0, 0, 1, 10)
    with pytest.raises(InvalidArgumentError, match="mixture_sd"):
        stats.msprt_bernoulli(1, 2, mixture_sd=0.6)
    with pytest.raises(InvalidArgumentError, match="n_resamples"):
        stats.paired_randomization_test([0.1], n_resamples=0)
