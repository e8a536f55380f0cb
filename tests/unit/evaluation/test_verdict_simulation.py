"""The verdicts by simulation: false promotions in A/A experiments, peeking, and power.

Every experiment is simulated with a fixed seed, so the rates below are the same on
every run. The A/A bound is alpha = 0.05 plus a Monte Carlo margin: with R simulated
experiments, a rule whose true false-promotion rate is exactly 0.05 shows a rate above
``false_promotion_limit(R)`` (the 99th percentile of Binomial(R, 0.05) / R; 0.0775 for
R = 400) only 1% of the time. Peeking means evaluating the verdict after every 50 new
observations and counting an experiment as a false promotion if *any* look said
PROMOTE — the most optimistic reader there is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from embedb.evaluation.verdict import Decision, Verdict, interleaving_verdict, offline_verdict, split_verdict

RUNS = 400
LOOK_EVERY = 50


def false_promotion_limit(runs: int, *, alpha: float = 0.05, confidence: float = 0.99) -> float:
    """The ``confidence`` quantile of Binomial(runs, alpha) / runs."""
    cumulative = 0.0
    for count in range(runs + 1):
        cumulative += math.comb(runs, count) * alpha**count * (1 - alpha) ** (runs - count)
        if cumulative >= confidence:
            return count / runs
    return 1.0


def test_the_margin_is_what_the_docstring_says() -> None:
    assert false_promotion_limit(RUNS) == 0.0775


# --- offline: paired per-query metrics -------------------------------------------------


def _offline_promotion_rate(shift: float, *, seed: int, queries: int = 300) -> float:
    # Per-query nDCG: a query difficulty shared by both models plus model-specific noise
    # (per-query differences have a standard deviation near 0.14, as between real models).
    rng = np.random.default_rng(seed)
    promotions = 0
    for run in range(RUNS):
        difficulty = rng.beta(2, 3, queries)
        baseline = np.clip(difficulty + rng.normal(0, 0.1, queries), 0, 1)
        candidate = np.clip(difficulty + shift + rng.normal(0, 0.1, queries), 0, 1)
        verdict = offline_verdict(baseline, candidate, metric_name="ndcg@10", seed=run, n_resamples=1000)
        promotions += verdict.decision is Decision.PROMOTE
    return promotions / RUNS


def test_offline_aa_rarely_promotes() -> None:
    rate = _offline_promotion_rate(0.0, seed=1)
    # Measured: 0.05 (20 of 400). PROMOTE is one-sided, so about alpha / 2 = 0.025 is
    # expected; 1000 runs of this stream give 0.034, the first 400 ran high by chance.
    assert rate <= false_promotion_limit(RUNS)


def test_offline_finds_a_three_point_ndcg_gain() -> None:
    assert _offline_promotion_rate(0.03, seed=2) >= 0.8  # measured: 0.965 at 300 queries


# --- split tests: click-through rates ---------------------------------------------------


def _peek(verdict_at: Callable[[int, int], Verdict], length: int, *, stop_on_keep: bool) -> tuple[float, float]:
    """Look at run ``run`` after every LOOK_EVERY observations; return the shares promoted and kept.

    Without ``stop_on_keep`` the reader ignores KEEP and waits for a PROMOTE (the A/A
    worst case); with it, a KEEP ends the experiment as it would in production.
    """
    promoted = kept = 0
    for run in range(RUNS):
        for n in range(LOOK_EVERY, length + 1, LOOK_EVERY):
            decision = verdict_at(run, n).decision
            if decision is Decision.PROMOTE:
                promoted += 1
                break
            if decision is Decision.KEEP and stop_on_keep:
                kept += 1
                break
    return promoted / RUNS, kept / RUNS


def _split_promotions(
    rate_a: float,
    rate_b: float,
    *,
    users: int,
    seed: int,
    verdict_at: Callable[[int, int, int], Verdict],
    stop_on_keep: bool = False,
) -> tuple[float, float]:
    """Simulate RUNS split tests of ``users`` per arm and peek at each; return shares promoted and kept."""
    rng = np.random.default_rng(seed)
    clicks_a = np.cumsum(rng.random((RUNS, users)) < rate_a, axis=1)
    clicks_b = np.cumsum(rng.random((RUNS, users)) < rate_b, axis=1)
    return _peek(
        lambda run, n: verdict_at(int(clicks_a[run, n - 1]), int(clicks_b[run, n - 1]), n),
        users,
        stop_on_keep=stop_on_keep,
    )


def _sequential_split(a: int, b: int, n: int) -> Verdict:
    return split_verdict(a, n, b, n)


def _naive_split(a: int, b: int, n: int) -> Verdict:
    return split_verdict(a, n, b, n, sequential=False, horizon=n)


def test_split_aa_with_peeking_stays_below_alpha_sequentially() -> None:
    promoted, _ = _split_promotions(0.30, 0.30, users=3000, seed=3, verdict_at=_sequential_split)
    assert promoted <= false_promotion_limit(RUNS)  # measured: 0.01 over 60 looks


def test_split_aa_with_peeking_inflates_a_fixed_test() -> None:
    promoted, _ = _split_promotions(0.30, 0.30, users=3000, seed=3, verdict_at=_naive_split)
    assert promoted > false_promotion_limit(RUNS)  # measured: 0.1725 over 60 looks


def test_split_fixed_horizon_looked_at_once_stays_below_alpha() -> None:
    rng = np.random.default_rng(4)
    clicks = rng.binomial(2000, 0.30, size=(RUNS, 2))
    verdicts = [split_verdict(int(a), 2000, int(b), 2000, sequential=False, horizon=2000) for a, b in clicks]
    rate = sum(verdict.decision is Decision.PROMOTE for verdict in verdicts) / RUNS
    assert rate <= false_promotion_limit(RUNS)  # measured: 0.0275


def test_split_sequential_finds_a_six_point_gain() -> None:
    # 0.30 vs 0.36 click-through, looking every 50 users, at most 2000 users per arm.
    def verdict_at(a: int, b: int, n: int) -> Verdict:
        return split_verdict(a, n, b, n, n_max=2000)

    promoted, kept = _split_promotions(0.30, 0.36, users=2000, seed=5, verdict_at=verdict_at, stop_on_keep=True)
    assert promoted >= 0.8  # measured: 0.915 (the other 0.085 reached n_max: KEEP)
    assert promoted + kept == 1.0, "n_max ends every experiment"


# --- interleaving: wins over non-tied queries -----------------------------------------


def _interleaving_promotions(
    win_a: float, win_b: float, *, queries: int, seed: int, verdict_at: Callable[[int, int, int], Verdict]
) -> float:
    rng = np.random.default_rng(seed)
    draws: npt.NDArray[np.float64] = rng.random((RUNS, queries))
    wins_a = np.cumsum(draws < win_a, axis=1)
    wins_b = np.cumsum((draws >= win_a) & (draws < win_a + win_b), axis=1)

    def at(run: int, n: int) -> Verdict:
        a, b = int(wins_a[run, n - 1]), int(wins_b[run, n - 1])
        return verdict_at(a, b, n - a - b)

    promoted, _ = _peek(at, queries, stop_on_keep=False)
    return promoted


def test_interleaving_aa_with_peeking_stays_below_alpha_sequentially() -> None:
    rate = _interleaving_promotions(0.3, 0.3, queries=2000, seed=6, verdict_at=interleaving_verdict)
    assert rate <= false_promotion_limit(RUNS)  # measured: 0.01 over 40 looks


def test_interleaving_aa_with_peeking_inflates_a_fixed_test() -> None:
    def naive(a: int, b: int, ties: int) -> Verdict:
        return interleaving_verdict(a, b, ties, sequential=False, horizon=max(1, a + b))

    rate = _interleaving_promotions(0.3, 0.3, queries=2000, seed=6, verdict_at=naive)
    assert rate > false_promotion_limit(RUNS)  # measured: 0.1275 over 40 looks


def test_interleaving_sequential_finds_a_better_challenger() -> None:
    # The challenger wins 35% of queries, the champion 25% (a 58% share of non-tied ones).
    rate = _interleaving_promotions(0.25, 0.35, queries=1000, seed=7, verdict_at=interleaving_verdict)
    assert rate >= 0.8  # measured: 0.89 within 1000 queries


# --- confidence sequences hold at every look at once ------------------------------------


def test_confidence_sequences_cover_the_truth_at_every_look() -> None:
    rng = np.random.default_rng(8)
    split_misses = interleaving_misses = 0
    for _ in range(RUNS):
        clicks_a = np.cumsum(rng.random(2000) < 0.30)
        clicks_b = np.cumsum(rng.random(2000) < 0.36)
        wins_b = np.cumsum(rng.random(1200) < 0.58)  # non-tied queries only
        looks = range(LOOK_EVERY, 2001, LOOK_EVERY)
        split_misses += any(
            not (lo <= 0.06 <= hi)
            for lo, hi in (split_verdict(int(clicks_a[n - 1]), n, int(clicks_b[n - 1]), n).ci or (-1, 1) for n in looks)
        )
        truth = 2 * 0.58 - 1
        interleaving_misses += any(
            not (lo <= truth <= hi)
            for lo, hi in (
                interleaving_verdict(n - int(wins_b[n - 1]), int(wins_b[n - 1]), 0).ci or (-1, 1)
                for n in range(LOOK_EVERY, 1201, LOOK_EVERY)
            )
        )
    assert split_misses / RUNS <= false_promotion_limit(RUNS)  # measured: 0.015 over 40 looks
    assert interleaving_misses / RUNS <= false_promotion_limit(RUNS)  # measured: 0.02 over 24 looks
