"""Verdicts on hand-made evidence: decisions, reasons, JSON, gates, modes and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from embedb.errors import InvalidArgumentError
from embedb.evaluation.verdict import (
    Decision,
    Verdict,
    gate_fails,
    interleaving_verdict,
    offline_verdict,
    shadow_summary,
    shadow_verdict,
    split_verdict,
)


def _paired(shift: float, *, queries: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # Shared query difficulty plus model noise: with shift 0 the two arms are exchangeable.
    rng = np.random.default_rng(seed)
    difficulty = rng.beta(2, 3, queries)
    baseline = np.clip(difficulty + rng.normal(0, 0.1, queries), 0, 1)
    return baseline, np.clip(difficulty + shift + rng.normal(0, 0.1, queries), 0, 1)


def _noise(queries: int = 40) -> tuple[np.ndarray, np.ndarray]:
    # Differences of +-0.1 around a mean of 0.002: nothing any test should call significant.
    baseline = np.linspace(0.2, 0.8, queries)
    return baseline, baseline + 0.002 + np.where(np.arange(queries) % 2 == 0, 0.1, -0.1)


def test_offline_promotes_a_clear_gain_and_says_why() -> None:
    verdict = offline_verdict(*_paired(0.05), metric_name="ndcg@10", seed=1)
    assert verdict.decision is Decision.PROMOTE
    assert verdict.ci is not None and verdict.ci[0] > 0
    assert verdict.p_value is not None and verdict.p_value < 0.05
    assert verdict.n == 300 and verdict.metric == "ndcg@10"
    assert verdict.reason.startswith("ndcg@10 ") and verdict.reason.endswith(": promote")
    assert "95% CI" in verdict.reason and "300 queries" in verdict.reason
    assert verdict.delta == pytest.approx(verdict.candidate - verdict.baseline)


def test_offline_keeps_a_clear_loss_and_waits_on_noise() -> None:
    worse = offline_verdict(*_paired(-0.05), metric_name="ndcg@10")
    assert worse.decision is Decision.KEEP and "significantly worse" in worse.reason
    noise = offline_verdict(*_noise(), metric_name="ndcg@10")
    assert noise.decision is Decision.UNDECIDED


def test_offline_min_delta_demands_a_large_enough_gain() -> None:
    baseline, candidate = _paired(0.02, queries=2000)
    assert offline_verdict(baseline, candidate, metric_name="ndcg@10").decision is Decision.PROMOTE
    too_small = offline_verdict(baseline, candidate, metric_name="ndcg@10", min_delta=0.05)
    assert too_small.decision is Decision.KEEP and "below the required 0.05" in too_small.reason
    unclear = offline_verdict(baseline, candidate, metric_name="ndcg@10", min_delta=0.02)
    assert unclear.decision is Decision.UNDECIDED


def test_offline_verdict_is_reproducible_for_a_seed() -> None:
    baseline, candidate = _paired(0.01, queries=100)
    assert offline_verdict(baseline, candidate, metric_name="m", seed=4) == offline_verdict(
        baseline, candidate, metric_name="m", seed=4
    )


def test_gate_fails_only_on_a_significant_regression_beyond_the_margin() -> None:
    regression = offline_verdict(*_paired(-0.05), metric_name="ndcg@10")
    assert gate_fails(regression)
    assert not gate_fails(regression, min_delta=0.2), "a drop proven smaller than the margin passes"
    assert not gate_fails(offline_verdict(*_noise(), metric_name="ndcg@10"))
    assert not gate_fails(offline_verdict(*_paired(0.05), metric_name="ndcg@10"))
    with pytest.raises(InvalidArgumentError, match="no interval"):
        gate_fails(shadow_verdict(shadow_summary([1.0], [1.0], [1.0])))


def test_to_dict_is_json() -> None:
    verdict = split_verdict(300, 1000, 360, 1000, sequential=False, horizon=1000)
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert data["decision"] == "promote"
    assert data["details"]["rate_ci_a"][0] < 0.30 < data["details"]["rate_ci_a"][1]
    waiting = split_verdict(3, 10, 4, 10, sequential=False, horizon=1000).to_dict()
    assert json.dumps(waiting, allow_nan=False) and waiting["delta"] is None


def test_interleaving_sequential_reason_reads_as_a_sentence() -> None:
    verdict = interleaving_verdict(228, 312, 60)
    assert verdict.decision is Decision.PROMOTE
    assert verdict.reason.startswith("challenger wins 312 of 540 non-tied queries (57.8%")
    assert "sequential mSPRT; 60 ties): promote" in verdict.reason
    assert verdict.ci is not None and 0 < verdict.ci[0] < verdict.delta < verdict.ci[1]
    assert verdict.delta == pytest.approx((312 - 228) / 540)


def test_interleaving_modes() -> None:
    # The fixed test needs fewer queries than the always-valid one for the same data...
    fixed = interleaving_verdict(120, 155, 25, sequential=False, horizon=250)
    assert fixed.decision is Decision.PROMOTE and fixed.test == "exact binomial test"
    assert interleaving_verdict(120, 155, 25).decision is Decision.UNDECIDED
    # ...but says nothing before its horizon, and ends the experiment at it.
    early = interleaving_verdict(10, 30, 5, sequential=False, horizon=250)
    assert early.decision is Decision.UNDECIDED and early.p_value is None and "40 of 250" in early.reason
    assert interleaving_verdict(130, 130, 0, sequential=False, horizon=250).decision is Decision.KEEP
    assert interleaving_verdict(130, 140, 0, n_max=250).decision is Decision.KEEP
    assert interleaving_verdict(160, 100, 0).decision is Decision.KEEP
    nothing_yet = interleaving_verdict(0, 0, 12)
    assert nothing_yet.decision is Decision.UNDECIDED and nothing_yet.reason.startswith("no non-tied queries")


def test_split_sequential_and_empty_arms() -> None:
    assert split_verdict(300, 1000, 360, 1000).decision is Decision.UNDECIDED
    assert split_verdict(600, 2000, 740, 2000).decision is Decision.PROMOTE
    assert split_verdict(740, 2000, 600, 2000).decision is Decision.KEEP
    assert split_verdict(600, 2000, 610, 2000, n_max=2000).decision is Decision.KEEP
    empty = split_verdict(0, 0, 3, 10)
    assert empty.decision is Decision.UNDECIDED and math.isnan(empty.baseline)


def test_shadow_alone_never_promotes() -> None:
    rng = np.random.default_rng(9)
    summary = shadow_summary(rng.uniform(0.6, 1.0, 500), rng.gamma(5, 2, 500), rng.gamma(5, 2.2, 500))
    assert summary.overlap_ci[0] < summary.mean_overlap < summary.overlap_ci[1]
    assert summary.p99_delta_ms == pytest.approx(summary.p99_b_ms - summary.p99_a_ms)
    alone = shadow_verdict(summary)
    assert alone.decision is Decision.UNDECIDED and "cannot promote on its own" in alone.reason
    offline = offline_verdict(*_paired(0.05), metric_name="ndcg@10")
    combined = shadow_verdict(summary, offline=offline, max_p99_increase_ms=50)
    assert combined.decision is Decision.PROMOTE and "shadow over 500 queries" in combined.reason
    assert combined.details["shadow"]["n_queries"] == 500
    too_slow = shadow_verdict(summary, offline=offline, max_p99_increase_ms=0.0)
    assert too_slow.decision is Decision.KEEP and "p99 latency rises" in too_slow.reason


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: offline_verdict([0.1, 0.2], [0.1], metric_name="m"), "same queries"),
        (lambda: offline_verdict([], [], metric_name="m"), "non-empty"),
        (lambda: offline_verdict([0.1], [math.nan], metric_name="m"), "finite"),
        (lambda: offline_verdict([0.1], [0.2], metric_name="m", min_delta=-0.1), "min_delta"),
        (lambda: offline_verdict([0.1], [0.2], metric_name="m", alpha=0.0), "alpha"),
        (lambda: interleaving_verdict(-1, 2, 0), "wins_a"),
        (lambda: interleaving_verdict(1, 2, 0, sequential=False), "needs horizon"),
        (lambda: interleaving_verdict(1, 2, 0, horizon=10), "fixed-horizon mode"),
        (lambda: interleaving_verdict(1, 2, 0, sequential=False, horizon=10, n_max=5), "n_max belongs"),
        (lambda: interleaving_verdict(1, 2, 0, n_max=0), "n_max must be"),
        (lambda: interleaving_verdict(1, 2, 0, alpha=2.0, sequential=False, horizon=100), "alpha"),
        (lambda: interleaving_verdict(0, 0, 3, mixture_sd=0.7), "mixture_sd"),
        (lambda: split_verdict(11, 10, 1, 10), "cannot exceed"),
        (lambda: split_verdict(0, 0, 0, 0, mixture_sd=0.0), "mixture_sd"),
        (lambda: shadow_summary([1.5], [1.0], [1.0]), r"\[0, 1\]"),
        (lambda: shadow_summary([0.5], [-1.0], [1.0]), "negative"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(InvalidArgumentError, match=message):
        call()


def test_verdict_is_frozen() -> None:
    verdict: Verdict = interleaving_verdict(1, 2, 0)
    with pytest.raises(AttributeError):
        verdict.decision = Decision.PROMOTE  # type: ignore[misc]
