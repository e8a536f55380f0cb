"""Reports from synthetic logs: interleaving wins, split conversions per randomised unit, shadow overlap, the fixed-horizon cut."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from tests.support.experiments import record

from embedb.errors import InvalidArgumentError, InvalidStateError
from embedb.evaluation.verdict import Decision, split_verdict
from embedb.experiments.records import (
    Arm,
    ExperimentMode,
    ExperimentState,
    Feedback,
    QueryLogEntry,
    check_settings,
)
from embedb.experiments.report import ExperimentReport, build_report


def entry(query_id: str, arm: Arm, returned: list[str], **extra: object) -> QueryLogEntry:
    values: dict[str, Any] = {
        "query_id": query_id,
        "experiment_id": 7,
        "time": float(len(query_id)),
        "arm": arm,
        "user_key": None,
        "served_version": "v",
        "versions": {},
        "indexes": {},
        "latency_ms": 2.0,
        "champion_latency_ms": 1.0,
        "challenger_latency_ms": 1.0,
        "returned_ids": returned,
    }
    values.update(extra)
    return QueryLogEntry(**values)


def click(query_id: str, doc: str) -> Feedback:
    return Feedback(query_id, doc, "click", None, 0.0)


def interleaved(count: int) -> list[QueryLogEntry]:
    return [
        entry(f"q{i:03d}", Arm.INTERLEAVED, ["a", "b"], teams=["champion", "challenger"], time=float(i))
        for i in range(count)
    ]


def test_interleaving_counts_the_arm_whose_hits_drew_the_clicks() -> None:
    queries = interleaved(60)
    feedback = [click(q.query_id, "b") for q in queries[:40]] + [click(q.query_id, "a") for q in queries[40:45]]
    report = build_report(record(ExperimentMode.INTERLEAVE), "docs", queries, feedback)
    assert report.verdict.details == {"wins_a": 5, "wins_b": 40, "ties": 15}
    assert report.decision is Decision.PROMOTE
    assert report.arms["challenger"]["wins"] == 40 and report.arms["champion"]["clicks"] == 5
    assert ExperimentReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


def test_graded_relevance_counts_as_a_click_when_above_zero() -> None:
    queries = interleaved(2)
    feedback = [Feedback("q000", "b", "relevance", 2.0, 0.0), Feedback("q001", "b", "relevance", 0.0, 0.0)]
    report = build_report(record(ExperimentMode.INTERLEAVE), "docs", queries, feedback)
    assert report.verdict.details == {"wins_a": 0, "wins_b": 1, "ties": 1}


def test_a_fixed_horizon_uses_only_its_first_non_tied_queries() -> None:
    fixed = replace(record(ExperimentMode.INTERLEAVE), sequential=False, horizon=10)
    queries = interleaved(40)
    feedback = [click(q.query_id, "b") for q in queries[:10]] + [click(q.query_id, "a") for q in queries[10:]]
    report = build_report(fixed, "docs", queries, feedback)
    assert report.verdict.details == {"wins_a": 0, "wins_b": 10, "ties": 0}
    assert report.decision is Decision.PROMOTE and report.verdict.test == "exact binomial test"
    early = build_report(fixed, "docs", queries[:9], feedback)
    assert early.decision is Decision.UNDECIDED and "9 of 10" in early.verdict.reason


def test_split_compares_conversion_rates_of_anonymous_queries_with_wilson_intervals() -> None:
    queries = [entry(f"c{i:03d}", Arm.CHAMPION, ["a"]) for i in range(200)]
    queries += [entry(f"d{i:03d}", Arm.CHALLENGER, ["b"]) for i in range(200)]
    feedback = [click(f"c{i:03d}", "a") for i in range(20)] + [click(f"d{i:03d}", "b") for i in range(120)]
    report = build_report(record(ExperimentMode.SPLIT), "docs", queries, feedback)
    champion, challenger = report.arms["champion"], report.arms["challenger"]
    assert (champion["conversion_rate"], challenger["conversion_rate"]) == (0.1, 0.6)
    assert (champion["units"], champion["users"], champion["click_rate"]) == (200, 0, 0.1)
    low, high = challenger["conversion_rate_ci"]
    assert low < 0.6 < high
    assert report.decision is Decision.PROMOTE and report.verdict.test == "sequential mSPRT"


def test_split_counts_a_user_once_however_many_queries_they_make() -> None:
    # The same clicks as above, but from 5 and 4 heavy users: nine independent units decide nothing.
    queries = [entry(f"c{i:03d}", Arm.CHAMPION, ["a"], user_key=f"u{i % 5}") for i in range(200)]
    queries += [entry(f"d{i:03d}", Arm.CHALLENGER, ["b"], user_key=f"v{i % 4}") for i in range(200)]
    feedback = [click(f"c{i:03d}", "a") for i in range(20)] + [click(f"d{i:03d}", "b") for i in range(120)]
    report = build_report(record(ExperimentMode.SPLIT), "docs", queries, feedback)
    champion, challenger = report.arms["champion"], report.arms["challenger"]
    assert (champion["units"], champion["converted_units"], champion["queries"]) == (5, 5, 200)
    assert (challenger["units"], challenger["converted_units"], challenger["click_rate"]) == (4, 4, 0.6)
    assert report.verdict.n == 9
    assert report.decision is not Decision.PROMOTE


def test_split_a_fixed_horizon_counts_units_and_ignores_their_later_queries() -> None:
    queries = [entry(f"c{i:02d}", Arm.CHAMPION, ["a"], user_key=f"u{i % 3}") for i in range(9)]
    queries.append(entry("late", Arm.CHAMPION, ["a"], user_key="u0"))
    report = build_report(replace(record(ExperimentMode.SPLIT), sequential=False, horizon=2), "docs", queries, [])
    assert report.arms["champion"]["units"] == 2 and report.arms["champion"]["queries"] == 2


def test_split_a_a_with_heavy_users_rarely_promotes_where_a_query_unit_would() -> None:
    """Users differ in how much they click (Beta(0.3, 1.5)) and make 20 queries each."""
    rng = np.random.default_rng(5)
    runs, users, per_user = 100, 30, 20
    by_unit = by_query = 0
    for run in range(runs):
        queries, feedback = [], []
        totals = {Arm.CHAMPION: [0, 0], Arm.CHALLENGER: [0, 0]}
        for arm in (Arm.CHAMPION, Arm.CHALLENGER):
            for user in range(users):
                propensity = rng.beta(0.3, 1.5)
                for number in range(per_user):
                    query_id = f"{run}-{arm.value}-{user}-{number}"
                    queries.append(entry(query_id, arm, ["a"], user_key=f"{arm.value}-{user}"))
                    totals[arm][1] += 1
                    if rng.random() < propensity:
                        feedback.append(click(query_id, "a"))
                        totals[arm][0] += 1
        by_unit += build_report(record(ExperimentMode.SPLIT), "docs", queries, feedback).decision is Decision.PROMOTE
        (clicks_a, n_a), (clicks_b, n_b) = totals[Arm.CHAMPION], totals[Arm.CHALLENGER]
        by_query += split_verdict(clicks_a, n_a, clicks_b, n_b).decision is Decision.PROMOTE
    assert by_unit / runs <= 0.05  # measured: 0.00
    assert by_query / runs > 0.10, "the query as unit is what this guards against"  # measured: 0.17


def test_shadow_reports_overlap_and_latency_but_never_promotes() -> None:
    queries = [
        entry(
            f"q{i}",
            Arm.CHAMPION,
            ["a", "b", "c", "d"],
            champion_ids=["a", "b", "c", "d"],
            challenger_ids=["a", "b", "x", "y"],
        )
        for i in range(20)
    ]
    queries.append(entry("skipped", Arm.CHAMPION, ["a"], challenger_latency_ms=None, error="skipped"))
    report = build_report(record(ExperimentMode.SHADOW), "docs", queries, [])
    assert report.verdict.details["shadow"]["mean_overlap"] == 0.5
    assert report.arms["challenger"]["failed_or_skipped"] == 1
    assert report.decision is Decision.UNDECIDED
    nothing = build_report(record(ExperimentMode.SHADOW), "docs", queries[-1:], [])
    assert nothing.decision is Decision.UNDECIDED and "none with a challenger result" in nothing.verdict.reason


def test_states_allow_only_running_to_an_end() -> None:
    ExperimentState.RUNNING.check_transition(ExperimentState.PROMOTED)
    ExperimentState.RUNNING.check_transition(ExperimentState.STOPPED)
    for ended in (ExperimentState.STOPPED, ExperimentState.PROMOTED):
        for target in ExperimentState:
            with pytest.raises(InvalidStateError, match="it has ended"):
                ended.check_transition(target)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"split": 0.0}, "split"),
        ({"k": 0}, "k must"),
        ({"alpha": 1.0}, "alpha"),
        ({"sequential": "yes"}, "sequential"),
        ({"horizon": 50}, "horizon belongs"),
        ({"sequential": False}, "needs horizon"),
    ],
)
def test_settings_are_checked_up_front(settings: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"split": 0.5, "k": 10, "alpha": 0.05, "sequential": True, "horizon": None}
    values.update(settings)
    with pytest.raises(InvalidArgumentError, match=message):
        check_settings(**values)
