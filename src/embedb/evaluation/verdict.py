"""Promotion verdicts: pure functions from evaluation numbers to promote / keep / undecided.

One function per kind of evidence, each returning a :class:`Verdict` that carries the
decision, one readable sentence saying why, and the numbers behind it:

- :func:`offline_verdict`: per-query metrics of both models on the same labelled
  queries (paired randomization test and paired bootstrap interval);
  :func:`gate_fails` turns one into a pass/fail for a CI/CD gate.
- :func:`interleaving_verdict`: team-draft wins over non-tied queries.
- :func:`split_verdict`: click-through rates of two user groups.
- :func:`shadow_summary` and :func:`shadow_verdict`: what shadow traffic shows. Shadow
  mode never promotes on its own — nobody saw the challenger's results.

Online verdicts are sequential by default (an mSPRT, see :mod:`embedb.evaluation.stats`):
the report may be opened after every query without raising the false-promotion rate
above ``alpha``. ``sequential=False`` gives the classical test instead, which is only
valid when it is evaluated once: the verdict stays UNDECIDED until the planned
``horizon`` is reached, and the caller must then stop adding data.

A verdict's ``ci`` is always an interval for its ``delta`` (candidate minus baseline).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from embedb.errors import InvalidArgumentError
from embedb.evaluation import stats


class Decision(enum.Enum):
    """What the evidence says about moving the alias to the challenger."""

    PROMOTE = "promote"  # the challenger is better with the required confidence: move the alias
    KEEP = "keep"  # the champion stays: the challenger is worse, or the experiment ended without it winning
    UNDECIDED = "undecided"  # not enough evidence yet (keep collecting), or this evidence cannot decide alone


@dataclass(frozen=True)
class Verdict:
    """A decision, the sentence that explains it, and the numbers it rests on.

    ``baseline`` and ``candidate`` are the champion's and the challenger's values of
    ``metric``; ``delta = candidate - baseline`` and ``ci`` is an interval for ``delta``
    (None where none applies); ``n`` counts what was tested (queries, non-tied queries,
    users); ``details`` holds extra numbers (per-arm intervals, ties, latencies).
    """

    decision: Decision
    reason: str
    metric: str
    baseline: float
    candidate: float
    delta: float
    ci: tuple[float, float] | None
    p_value: float | None
    n: int
    test: str
    alpha: float
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the decision as its value, NaN as None, tuples as lists)."""
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "metric": self.metric,
            "baseline": _json(self.baseline),
            "candidate": _json(self.candidate),
            "delta": _json(self.delta),
            "ci": _json(self.ci),
            "p_value": _json(self.p_value),
            "n": self.n,
            "test": self.test,
            "alpha": self.alpha,
            "details": _json(dict(self.details)),
        }


def offline_verdict(
    per_query_baseline: Sequence[float] | npt.ArrayLike,
    per_query_candidate: Sequence[float] | npt.ArrayLike,
    *,
    metric_name: str,
    alpha: float = 0.05,
    min_delta: float = 0.0,
    seed: int = 0,
    n_resamples: int = 10_000,
) -> Verdict:
    """Compare two models' per-query metric values on the same queries, in the same order.

    PROMOTE when the paired randomization test gives ``p < alpha`` and the paired
    bootstrap interval of the mean difference lies above ``min_delta``; KEEP when the
    challenger is significantly worse (a negative mean difference with ``p < alpha`` or
    with the whole interval below zero) or,
    with ``min_delta > 0``, when the whole interval lies below ``min_delta`` (it cannot
    gain enough to be worth a switch); UNDECIDED otherwise.

    Raises:
        InvalidArgumentError: the arrays differ in length, are empty or not finite, or
            alpha, ``min_delta`` (must be >= 0) or ``n_resamples`` is out of range.
    """
    baseline = _vector("per_query_baseline", per_query_baseline)
    candidate = _vector("per_query_candidate", per_query_candidate)
    if baseline.shape != candidate.shape:
        raise InvalidArgumentError(
            f"per_query_baseline has {baseline.size} values but per_query_candidate has {candidate.size}; "
            "both must score the same queries in the same order",
            n_baseline=baseline.size,
            n_candidate=candidate.size,
        )
    _check_min_delta(min_delta)
    differences = candidate - baseline
    p_value = stats.paired_randomization_test(differences, n_resamples=n_resamples, seed=seed)
    ci = stats.bootstrap_mean_ci(differences, alpha=alpha, n_resamples=n_resamples, seed=seed)
    delta = float(differences.mean())
    significant = p_value < alpha
    if significant and ci[0] > min_delta:
        decision, verb = Decision.PROMOTE, "promote"
    elif delta < 0 and (significant or ci[1] < 0):
        decision, verb = Decision.KEEP, "keep: the challenger is significantly worse"
    elif min_delta > 0 and ci[1] < min_delta:
        decision, verb = Decision.KEEP, f"keep: the gain is below the required {min_delta:g}"
    else:
        decision, verb = Decision.UNDECIDED, "undecided"
    reason = (
        f"{metric_name} {float(candidate.mean()):.4f} vs {float(baseline.mean()):.4f} "
        f"({delta:+.4f}, {_level(alpha)} CI [{ci[0]:+.4f}, {ci[1]:+.4f}], {_p(p_value, alpha)}, "
        f"paired randomization test over {differences.size} queries): {verb}"
    )
    return Verdict(
        decision=decision,
        reason=reason,
        metric=metric_name,
        baseline=float(baseline.mean()),
        candidate=float(candidate.mean()),
        delta=delta,
        ci=ci,
        p_value=p_value,
        n=int(differences.size),
        test="paired randomization test + paired bootstrap CI",
        alpha=alpha,
    )


def gate_fails(verdict: Verdict, *, min_delta: float = 0.0) -> bool:
    """Return True when the candidate is significantly worse than the baseline by more than ``min_delta``.

    That is, when the whole interval of ``delta`` lies below ``-min_delta``: a CI/CD gate
    tolerates a drop it cannot tell from noise, or one it can prove is smaller than
    ``min_delta``.

    Raises:
        InvalidArgumentError: the verdict has no interval, or ``min_delta`` is negative.
    """
    _check_min_delta(min_delta)
    if verdict.ci is None:
        raise InvalidArgumentError(f"a {verdict.test!r} verdict has no interval to gate on", test=verdict.test)
    return verdict.ci[1] < -min_delta


def interleaving_verdict(
    wins_a: int,
    wins_b: int,
    ties: int,
    *,
    alpha: float = 0.05,
    sequential: bool = True,
    mixture_sd: float = 0.1,
    n_max: int | None = None,
    horizon: int | None = None,
) -> Verdict:
    """Decide from interleaving wins; ``n`` is the number of non-tied queries.

    Sequential (default): a beta-mixture mSPRT of "the challenger's win share is 1/2",
    valid at every look; ``mixture_sd`` is the departure from 1/2 it is tuned to, and
    reaching ``n_max`` non-tied queries without a decision means KEEP. Fixed horizon
    (``sequential=False``): UNDECIDED until ``horizon`` non-tied queries, then one exact
    binomial test, and KEEP if it does not find the challenger better.

    Raises:
        InvalidArgumentError: negative counts, a bad alpha or ``mixture_sd``, ``horizon``
            missing in fixed mode or given in sequential mode, a non-positive ``n_max``.
    """
    for name, value in (("wins_a", wins_a), ("wins_b", wins_b), ("ties", ties)):
        _check_count(name, value)
    _check_alpha(alpha)
    n = wins_a + wins_b
    share_a, share_b = (wins_a / n, wins_b / n) if n else (0.5, 0.5)
    details = {"wins_a": wins_a, "wins_b": wins_b, "ties": ties}
    story = f"challenger wins {wins_b} of {n} non-tied queries ({share_b:.1%}"
    if sequential:
        _check_modes(n_max=n_max, horizon=horizon)
        result = stats.msprt_bernoulli(wins_b, n, mixture_sd=mixture_sd, alpha=alpha)
        if n == 0:
            return _waiting("interleaving win share", n, "no non-tied queries", "sequential mSPRT", alpha, details)
        p_value, share_ci, test = result.p_value, result.ci, "sequential mSPRT"
        finished = n_max is not None and n >= n_max
        story += f", {_level(alpha)} CS [{share_ci[0]:.1%}, {share_ci[1]:.1%}], {_p(p_value, alpha)}, {test}"
    else:
        planned = _fixed_horizon(horizon, n_max=n_max)
        if n < planned:
            return _waiting(
                "interleaving win share", n, f"{n} of {planned} non-tied queries", "exact binomial test", alpha, details
            )
        p_value = stats.binomial_test(wins_b, n)
        share_ci, test, finished = stats.wilson_interval(wins_b, n, alpha=alpha), "exact binomial test", True
        story += f", {_level(alpha)} CI [{share_ci[0]:.1%}, {share_ci[1]:.1%}], {_p(p_value, alpha)}, {test}"
    story += f"; {ties} ties)"
    decision, verb = _online_decision(p_value < alpha, wins_b - wins_a, finished=finished)
    return Verdict(
        decision=decision,
        reason=f"{story}: {verb}",
        metric="interleaving win share",
        baseline=share_a,
        candidate=share_b,
        delta=share_b - share_a,
        ci=(2 * share_ci[0] - 1, 2 * share_ci[1] - 1),  # share_b - share_a = 2 share_b - 1
        p_value=p_value,
        n=n,
        test=test,
        alpha=alpha,
        details=details,
    )


def split_verdict(
    clicks_a: int,
    n_a: int,
    clicks_b: int,
    n_b: int,
    *,
    alpha: float = 0.05,
    sequential: bool = True,
    mixture_sd: float = 0.05,
    n_max: int | None = None,
    horizon: int | None = None,
) -> Verdict:
    """Decide from the click-through rates of a split test; ``n`` counts both arms.

    Sequential (default): a normal-mixture mSPRT on ``rate_b - rate_a``, valid at every
    look; ``mixture_sd`` is the difference in rates it is tuned to, and reaching ``n_max``
    observations in the smaller arm without a decision means KEEP. Fixed horizon
    (``sequential=False``): UNDECIDED until the smaller arm has ``horizon`` observations,
    then one pooled two-proportion z-test with a Newcombe interval, and KEEP if it does
    not find the challenger better. Each arm's Wilson interval is in ``details``.

    Raises:
        InvalidArgumentError: bad counts, a bad alpha or ``mixture_sd``, ``horizon``
            missing in fixed mode or given in sequential mode, a non-positive ``n_max``.
    """
    for name, value in (("clicks_a", clicks_a), ("n_a", n_a), ("clicks_b", clicks_b), ("n_b", n_b)):
        _check_count(name, value)
    _check_alpha(alpha)
    if not mixture_sd > 0:
        raise InvalidArgumentError(f"mixture_sd must be positive, got {mixture_sd!r}", field="mixture_sd")
    for clicks, n, arm in ((clicks_a, n_a, "a"), (clicks_b, n_b, "b")):
        if clicks > n:
            raise InvalidArgumentError(f"clicks_{arm} ({clicks}) cannot exceed n_{arm} ({n})", field=f"clicks_{arm}")
    rate_a, rate_b = (clicks_a / n_a if n_a else math.nan), (clicks_b / n_b if n_b else math.nan)
    wilson_a, wilson_b = (
        stats.wilson_interval(clicks_a, n_a, alpha=alpha),
        stats.wilson_interval(clicks_b, n_b, alpha=alpha),
    )
    details = {"n_a": n_a, "n_b": n_b, "rate_ci_a": wilson_a, "rate_ci_b": wilson_b}
    smaller = min(n_a, n_b)
    if sequential:
        _check_modes(n_max=n_max, horizon=horizon)
        if smaller == 0:
            return _waiting(
                "click-through rate", n_a + n_b, "no observations in one arm", "sequential mSPRT", alpha, details
            )
        result = stats.msprt_two_proportions(clicks_a, n_a, clicks_b, n_b, mixture_sd=mixture_sd, alpha=alpha)
        p_value, ci, test = result.p_value, result.ci, "sequential mSPRT"
        finished = n_max is not None and smaller >= n_max
        interval = f"{_level(alpha)} CS"
    else:
        planned = _fixed_horizon(horizon, n_max=n_max)
        if smaller < planned:
            return _waiting(
                "click-through rate",
                n_a + n_b,
                f"{smaller} of {planned} observations per arm",
                "two-proportion z-test",
                alpha,
                details,
            )
        p_value = stats.two_proportion_z_test(clicks_a, n_a, clicks_b, n_b).p_value
        ci, test, finished = (
            stats.newcombe_interval(clicks_a, n_a, clicks_b, n_b, alpha=alpha),
            "two-proportion z-test",
            True,
        )
        interval = f"{_level(alpha)} CI"
    delta = rate_b - rate_a
    decision, verb = _online_decision(p_value < alpha, delta, finished=finished)
    reason = (
        f"challenger click-through {rate_b:.2%} of {n_b} vs champion {rate_a:.2%} of {n_a} "
        f"({delta * 100:+.2f} points, {interval} [{ci[0] * 100:+.2f}, {ci[1] * 100:+.2f}], "
        f"{_p(p_value, alpha)}, {test}): {verb}"
    )
    return Verdict(
        decision=decision,
        reason=reason,
        metric="click-through rate",
        baseline=rate_a,
        candidate=rate_b,
        delta=delta,
        ci=ci,
        p_value=p_value,
        n=n_a + n_b,
        test=test,
        alpha=alpha,
        details=details,
    )


@dataclass(frozen=True)
class ShadowSummary:
    """What shadow traffic shows: agreement of the two arms' results and their latencies.

    ``overlap_ci`` is the bootstrap interval of ``mean_overlap``; latencies are in
    milliseconds and each ``*_delta_ms`` is challenger minus champion.
    """

    n_queries: int
    mean_overlap: float
    overlap_ci: tuple[float, float]
    p50_a_ms: float
    p99_a_ms: float
    p50_b_ms: float
    p99_b_ms: float
    p50_delta_ms: float
    p99_delta_ms: float
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the summary."""
        return {name: _json(getattr(self, name)) for name in self.__dataclass_fields__}


def shadow_summary(
    overlaps_at_k: Sequence[float] | npt.ArrayLike,
    latency_a_ms: Sequence[float] | npt.ArrayLike,
    latency_b_ms: Sequence[float] | npt.ArrayLike,
    *,
    alpha: float = 0.05,
    seed: int = 0,
    n_resamples: int = 10_000,
) -> ShadowSummary:
    """Summarise shadow queries: mean overlap@k with a bootstrap interval, p50/p99 latency per arm.

    ``overlaps_at_k`` holds one value in [0, 1] per query
    (:func:`embedb.evaluation.metrics.overlap_at_k`); the latency arrays may
    differ in length (a query the challenger failed has no challenger latency).

    Raises:
        InvalidArgumentError: an array is empty or not finite, an overlap is outside
            [0, 1], a latency is negative, or alpha is out of range.
    """
    overlaps = _vector("overlaps_at_k", overlaps_at_k)
    if ((overlaps < 0) | (overlaps > 1)).any():
        raise InvalidArgumentError("overlaps_at_k must lie in [0, 1]", field="overlaps_at_k")
    latencies = {}
    for name, values in (("latency_a_ms", latency_a_ms), ("latency_b_ms", latency_b_ms)):
        latencies[name] = _vector(name, values)
        if (latencies[name] < 0).any():
            raise InvalidArgumentError(f"{name} must not be negative", field=name)
    p50_a, p99_a = (float(v) for v in np.percentile(latencies["latency_a_ms"], [50, 99]))
    p50_b, p99_b = (float(v) for v in np.percentile(latencies["latency_b_ms"], [50, 99]))
    return ShadowSummary(
        n_queries=int(overlaps.size),
        mean_overlap=float(overlaps.mean()),
        overlap_ci=stats.bootstrap_mean_ci(overlaps, alpha=alpha, n_resamples=n_resamples, seed=seed),
        p50_a_ms=p50_a,
        p99_a_ms=p99_a,
        p50_b_ms=p50_b,
        p99_b_ms=p99_b,
        p50_delta_ms=p50_b - p50_a,
        p99_delta_ms=p99_b - p99_a,
        alpha=alpha,
    )


def shadow_verdict(
    summary: ShadowSummary, *, offline: Verdict | None = None, max_p99_increase_ms: float | None = None
) -> Verdict:
    """Combine a shadow summary with an offline verdict; shadow alone never promotes.

    A p99 latency increase above ``max_p99_increase_ms`` means KEEP either way. Otherwise,
    without ``offline`` the verdict is UNDECIDED: nobody saw the challenger's results, so
    overlap and latency cannot show it is better; with ``offline`` its decision stands,
    and the shadow numbers are added to its reason and details.

    Raises:
        InvalidArgumentError: ``max_p99_increase_ms`` is negative or not finite.
    """
    if max_p99_increase_ms is not None and not (math.isfinite(max_p99_increase_ms) and max_p99_increase_ms >= 0):
        raise InvalidArgumentError(
            f"max_p99_increase_ms must be a finite number >= 0, got {max_p99_increase_ms!r}",
            field="max_p99_increase_ms",
        )
    low, high = summary.overlap_ci
    shadow = (
        f"shadow over {summary.n_queries} queries: mean overlap {summary.mean_overlap:.3f} "
        f"[{low:.3f}, {high:.3f}], p99 latency {summary.p99_b_ms:.1f} ms vs {summary.p99_a_ms:.1f} ms "
        f"({summary.p99_delta_ms:+.1f} ms)"
    )
    over_budget = max_p99_increase_ms is not None and summary.p99_delta_ms > max_p99_increase_ms
    if offline is None:
        decision = Decision.KEEP if over_budget else Decision.UNDECIDED
        verb = (
            f"keep: p99 latency rises more than {max_p99_increase_ms:g} ms"
            if over_budget
            else "undecided: shadow mode cannot promote on its own, combine it with an offline evaluation"
        )
        return Verdict(
            decision=decision,
            reason=f"{shadow}: {verb}",
            metric="p99 latency ms",
            baseline=summary.p99_a_ms,
            candidate=summary.p99_b_ms,
            delta=summary.p99_delta_ms,
            ci=None,
            p_value=None,
            n=summary.n_queries,
            test="shadow (descriptive)",
            alpha=summary.alpha,
            details={"shadow": summary.to_dict()},
        )
    if over_budget:
        decision, reason = Decision.KEEP, f"{shadow}: keep: p99 latency rises more than {max_p99_increase_ms:g} ms"
    else:
        decision, reason = offline.decision, f"{offline.reason}; {shadow}"
    return Verdict(
        decision=decision,
        reason=reason,
        metric=offline.metric,
        baseline=offline.baseline,
        candidate=offline.candidate,
        delta=offline.delta,
        ci=offline.ci,
        p_value=offline.p_value,
        n=offline.n,
        test=f"{offline.test} + shadow",
        alpha=offline.alpha,
        details={**offline.details, "shadow": summary.to_dict()},
    )


def _online_decision(significant: bool, direction: float, *, finished: bool) -> tuple[Decision, str]:
    if significant and direction > 0:
        return Decision.PROMOTE, "promote"
    if significant and direction < 0:
        return Decision.KEEP, "keep: the challenger is significantly worse"
    if finished:
        return Decision.KEEP, "keep: the experiment ended without a significant difference"
    return Decision.UNDECIDED, "undecided, keep collecting"


def _waiting(metric: str, n: int, progress: str, test: str, alpha: float, details: Mapping[str, Any]) -> Verdict:
    return Verdict(
        decision=Decision.UNDECIDED,
        reason=f"{progress} so far, too few for the {test}: undecided",
        metric=metric,
        baseline=math.nan,
        candidate=math.nan,
        delta=math.nan,
        ci=None,
        p_value=None,
        n=n,
        test=test,
        alpha=alpha,
        details=details,
    )


def _fixed_horizon(horizon: int | None, *, n_max: int | None) -> int:
    if n_max is not None:
        raise InvalidArgumentError("n_max belongs to the sequential mode; a fixed-horizon test uses horizon")
    if horizon is None:
        raise InvalidArgumentError("a fixed-horizon test (sequential=False) needs horizon, its planned sample size")
    _check_positive("horizon", horizon)
    return horizon


def _check_modes(*, n_max: int | None, horizon: int | None) -> None:
    if horizon is not None:
        raise InvalidArgumentError("horizon belongs to the fixed-horizon mode (sequential=False); use n_max")
    if n_max is not None:
        _check_positive("n_max", n_max)


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}", field=name)


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InvalidArgumentError(f"{name} must be a non-negative integer, got {value!r}", field=name)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha!r}", field="alpha")


def _check_min_delta(min_delta: float) -> None:
    if not (math.isfinite(min_delta) and min_delta >= 0):
        raise InvalidArgumentError(f"min_delta must be a finite number >= 0, got {min_delta!r}", min_delta=min_delta)


def _vector(name: str, values: Sequence[float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{name} must be a sequence of numbers: {error}", field=name) from None
    if array.ndim != 1 or array.size == 0 or not np.isfinite(array).all():
        raise InvalidArgumentError(f"{name} must be a non-empty 1-D sequence of finite numbers", field=name)
    return array


def _level(alpha: float) -> str:
    return f"{1 - alpha:.0%}" if round((1 - alpha) * 100, 6).is_integer() else f"{1 - alpha:.1%}"


def _p(p_value: float, alpha: float) -> str:
    shown = "p<0.0001" if p_value < 1e-4 else f"p={p_value:.4f}"
    return f"{shown} {'<' if p_value < alpha else '>='} {alpha:g}"


def _json(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value
