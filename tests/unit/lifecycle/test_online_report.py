"""Reports from synthetic logs: interleaving wins, split click rates, shadow overlap, the fixed-horizon cut."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support.experiments import record

from embedb.errors import InvalidArgumentError, InvalidStateError
from embedb.lifecycle.experiments import (
    Arm,
    ExperimentMode,
    ExperimentState,
    Feedback,
    QueryLogEntry,
    check_settings,
)
from embedb.lifecycle.online_report import ExperimentReport, build_report
from embedb.lifecycle.verdict import Decision


def entry(query_id: str, arm: Arm, returned: list[str], **extra: object) -> QueryLogEntry:
    values: dict[str, object] = {
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
    return QueryLogEntry(**values)  # type: ignore[arg-type]


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


def test_split_compares_click_rates_per_arm_with_wilson_intervals() -> None:
    queries = [entry(f"c{i:03d}", Arm.CHAMPION, ["a"], user_key=f"u{i % 5}") for i in range(200)]
    queries += [entry(f"d{i:03d}", Arm.CHALLENGER, ["b"], user_key=f"v{i % 4}") for i in range(200)]
    feedback = [click(f"c{i:03d}", "a") for i in range(20)] + [click(f"d{i:03d}", "b") for i in range(120)]
    report = build_report(record(ExperimentMode.SPLIT), "docs", queries, feedback)
    champion, challenger = report.arms["champion"], report.arms["challenger"]
    assert (champion["click_rate"], challenger["click_rate"]) == (0.1, 0.6)
    assert champion["users"] == 5 and challenger["users"] == 4
    low, high = challenger["click_rate_ci"]
    assert low < 0.6 < high
    assert report.decision is Decision.PROMOTE and report.verdict.test == "sequential mSPRT"


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
def test_settings_are_checked_up_front(settings: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"split": 0.5, "k": 10, "alpha": 0.05, "sequential": True, "horizon": None}
    values.update(settings)
    with pytest.raises(InvalidArgumentError, match=message):
        check_settings(**values)  # type: ignore[arg-type]
