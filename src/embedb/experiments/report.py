"""Turn an experiment's query logs and feedback into its report: a verdict and the numbers per arm.

The statistics are those of :mod:`embedb.evaluation.verdict`:

- ``interleave``: each query's winner is the arm whose hits drew more positive
  feedback (a click, or a relevance grade above zero); a query without any is a tie.
  Wins are tested over non-tied queries (mSPRT, or an exact binomial test at a fixed
  horizon).
- ``split``: the unit is what was randomised — a user (by ``user_key``, in one arm for
  all their queries) or an anonymous query — and it converts when any of its queries
  drew positive feedback. Conversion rates per arm get Wilson intervals and are
  compared by an mSPRT (or a two-proportion z-test at a fixed horizon). Counting
  queries instead would treat one heavy user's correlated queries as independent
  evidence and promote on a handful of users.
- ``shadow``: overlap@k of the two rankings and latency deltas; shadow alone never
  promotes (nobody saw the challenger's results).

The guard against peeking: a sequential experiment (the default) uses always-valid
p-values, so the report may be opened after every query. A fixed-horizon experiment
reports UNDECIDED until ``horizon`` observations exist, and from then on uses only the
*first* ``horizon`` of them, so opening the report again later cannot change it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from embedb.display import html_table
from embedb.evaluation import overlap_at_k
from embedb.evaluation.stats import wilson_interval
from embedb.evaluation.verdict import (
    Decision,
    Verdict,
    interleaving_verdict,
    shadow_summary,
    shadow_verdict,
    split_verdict,
)
from embedb.experiments.interleaving import InterleavedItem, Team, credit_winner
from embedb.experiments.records import Arm, ExperimentMode, ExperimentRecord, Feedback, QueryLogEntry
from embedb.experiments.routing import TEAM_OF_ARM


@dataclass(frozen=True)
class ExperimentReport:
    """An experiment's verdict, its numbers per arm, and what it describes.

    ``dropped_queries`` counts routed queries the query log could not write: when
    it is not zero the report rests on incomplete logs, and its reason says so.
    """

    verdict: Verdict
    arms: Mapping[str, Mapping[str, Any]]
    experiment: Mapping[str, Any]
    queries: int
    feedback: int
    dropped_queries: int = 0

    @property
    def decision(self) -> Decision:
        return self.verdict.decision

    def _repr_html_(self) -> str:
        """The verdict, its numbers and the arms, as a notebook shows them."""
        verdict = self.verdict
        numbers = [
            ["decision", verdict.decision.value],
            ["reason", verdict.reason],
            [f"{verdict.metric}: champion / challenger", f"{verdict.baseline:.4g} / {verdict.candidate:.4g}"],
            ["difference", f"{verdict.delta:.4g}"],
            ["interval", f"[{verdict.ci[0]:.4g}, {verdict.ci[1]:.4g}]" if verdict.ci else "-"],
            ["p-value", "-" if verdict.p_value is None else f"{verdict.p_value:.3g}"],
            ["queries / feedback", f"{self.queries} / {self.feedback}"],
        ]
        keys = list(dict.fromkeys(key for values in self.arms.values() for key in values))  # arms differ (shadow)
        arms = [[arm, *(values.get(key) for key in keys)] for arm, values in self.arms.items()]
        headers = ["arm", *keys]
        title = f"experiment {self.experiment.get('experiment_id', '')}: {verdict.decision.value}"
        return html_table(title, ["", ""], numbers) + html_table("arms", headers, arms)

    def to_dict(self) -> dict[str, Any]:
        """Return ``verdict.to_dict()`` plus ``arms``, ``experiment``, ``queries``, ``feedback`` and ``dropped_queries`` (JSON-ready)."""
        return {
            **self.verdict.to_dict(),
            "arms": _json(dict(self.arms)),
            "experiment": dict(self.experiment),
            "queries": self.queries,
            "feedback": self.feedback,
            "dropped_queries": self.dropped_queries,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentReport:
        """Rebuild a report from ``to_dict()`` output (what a server returns); None numbers become NaN."""
        ci = data.get("ci")
        verdict = Verdict(
            decision=Decision(data["decision"]),
            reason=str(data["reason"]),
            metric=str(data["metric"]),
            baseline=_number(data.get("baseline")),
            candidate=_number(data.get("candidate")),
            delta=_number(data.get("delta")),
            ci=(float(ci[0]), float(ci[1])) if ci else None,
            p_value=data.get("p_value"),
            n=int(data.get("n", 0)),
            test=str(data.get("test", "")),
            alpha=float(data.get("alpha", 0.05)),
            details=dict(data.get("details") or {}),
        )
        return cls(
            verdict,
            dict(data.get("arms") or {}),
            dict(data.get("experiment") or {}),
            int(data.get("queries", 0)),
            int(data.get("feedback", 0)),
            int(data.get("dropped_queries", 0)),
        )


def build_report(
    record: ExperimentRecord,
    collection_name: str,
    queries: list[QueryLogEntry],
    feedback: list[Feedback],
    *,
    dropped: int = 0,
) -> ExperimentReport:
    """The report of an experiment from its logged queries (in answer order), its feedback and how many queries its log lost."""
    positives = _positive_docs(feedback)
    if record.mode is ExperimentMode.INTERLEAVE:
        verdict, arms = _interleaving(record, queries, positives)
    elif record.mode is ExperimentMode.SPLIT:
        verdict, arms = _split(record, queries, positives)
    else:
        verdict, arms = _shadow(record, queries)
    if dropped:
        verdict = replace(
            verdict,
            reason=f"{verdict.reason} — on incomplete logs: {dropped} routed "
            f"{'query was' if dropped == 1 else 'queries were'} lost by the query log (dropped_queries)",
        )
    return ExperimentReport(verdict, arms, record.to_dict(collection_name), len(queries), len(feedback), dropped)


def _positive_docs(feedback: Iterable[Feedback]) -> dict[str, set[str]]:
    positives: dict[str, set[str]] = defaultdict(set)
    for event in feedback:
        if event.positive:
            positives[event.query_id].add(str(event.doc_id))
    return positives


def _latencies(values: Iterable[float | None]) -> dict[str, float]:
    array = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if array.size == 0:
        return {"p50_ms": math.nan, "p99_ms": math.nan}
    p50, p99 = np.percentile(array, [50, 99])
    return {"p50_ms": float(p50), "p99_ms": float(p99)}


def _interleaving(
    record: ExperimentRecord, queries: list[QueryLogEntry], positives: Mapping[str, set[str]]
) -> tuple[Verdict, dict[str, dict[str, Any]]]:
    wins = {Team.A: 0, Team.B: 0}
    ties = 0
    credited = {Team.A: 0, Team.B: 0}
    for query in queries:
        if record.horizon is not None and wins[Team.A] + wins[Team.B] >= record.horizon:
            break  # a fixed horizon is evaluated on the first `horizon` non-tied queries only
        merged = [
            InterleavedItem(str(doc), TEAM_OF_ARM[arm])
            for doc, arm in zip(query.returned_ids, query.teams or [], strict=False)
        ]
        clicked = positives.get(query.query_id, set())
        for item in merged:
            if item.doc_id in clicked:
                credited[item.team] += 1
        winner = credit_winner(merged, clicked)
        if winner is None:
            ties += 1
        else:
            wins[winner] += 1
    verdict = interleaving_verdict(
        wins[Team.A], wins[Team.B], ties, alpha=record.alpha, sequential=record.sequential, horizon=record.horizon
    )
    arms = {
        arm.value: {
            "model_version": record.version_of(arm),
            "wins": wins[team],
            "clicks": credited[team],
            **_latencies(getattr(q, f"{arm.value}_latency_ms") for q in queries),
        }
        for arm, team in ((Arm.CHAMPION, Team.A), (Arm.CHALLENGER, Team.B))
    }
    return verdict, arms


def _split(
    record: ExperimentRecord, queries: list[QueryLogEntry], positives: Mapping[str, set[str]]
) -> tuple[Verdict, dict[str, dict[str, Any]]]:
    arms: dict[str, dict[str, Any]] = {}
    counts: dict[Arm, tuple[int, int]] = {}
    for arm in (Arm.CHAMPION, Arm.CHALLENGER):
        served = [q for q in queries if q.arm is arm]
        # The unit is what was randomised: a user (one arm for all their queries) or an
        # anonymous query. It converts when any of its queries drew positive feedback.
        converted: dict[str, bool] = {}
        kept = 0
        for query in served:
            unit = _split_unit(query)
            if unit not in converted:
                if record.horizon is not None and len(converted) == record.horizon:
                    break  # a fixed horizon: the first `horizon` units, their queries until then
                converted[unit] = False
            converted[unit] = converted[unit] or bool(positives.get(query.query_id))
            kept += 1
        served = served[:kept]
        clicks = sum(1 for q in served if positives.get(q.query_id))
        units, successes = len(converted), sum(converted.values())
        counts[arm] = (successes, units)
        low, high = wilson_interval(successes, units, alpha=record.alpha) if units else (math.nan, math.nan)
        arms[arm.value] = {
            "model_version": record.version_of(arm),
            "queries": len(served),
            "users": len({q.user_key for q in served if q.user_key is not None}),
            "units": units,
            "converted_units": successes,
            "conversion_rate": successes / units if units else math.nan,
            "conversion_rate_ci": [low, high],
            "clicks": clicks,
            "click_rate": clicks / len(served) if served else math.nan,
            **_latencies(q.latency_ms for q in served),
        }
    (clicks_a, n_a), (clicks_b, n_b) = counts[Arm.CHAMPION], counts[Arm.CHALLENGER]
    verdict = split_verdict(
        clicks_a, n_a, clicks_b, n_b, alpha=record.alpha, sequential=record.sequential, horizon=record.horizon
    )
    return verdict, arms


def _split_unit(query: QueryLogEntry) -> str:
    return f"user:{query.user_key}" if query.user_key is not None else f"query:{query.query_id}"


def _shadow(record: ExperimentRecord, queries: list[QueryLogEntry]) -> tuple[Verdict, dict[str, dict[str, Any]]]:
    done = [q for q in queries if q.challenger_ids is not None and q.challenger_latency_ms is not None]
    overlaps = []
    for query in done:
        depth = min(record.k, max(len(query.returned_ids), len(query.challenger_ids or [])))
        if depth:
            champion = [str(doc) for doc in query.returned_ids]
            challenger = [str(doc) for doc in query.challenger_ids or []]
            overlaps.append(overlap_at_k(champion, challenger, k=depth))
    arms = {
        Arm.CHAMPION.value: {
            "model_version": record.champion_version,
            "queries": len(queries),
            **_latencies(q.champion_latency_ms for q in queries),
        },
        Arm.CHALLENGER.value: {
            "model_version": record.challenger_version,
            "queries": len(done),
            "failed_or_skipped": len(queries) - len(done),
            **_latencies(q.challenger_latency_ms for q in done),
        },
    }
    if not overlaps:
        return _no_shadow_yet(record, len(queries)), arms
    summary = shadow_summary(
        overlaps,
        [q.champion_latency_ms for q in done if q.champion_latency_ms is not None],
        [q.challenger_latency_ms for q in done if q.challenger_latency_ms is not None],
        alpha=record.alpha,
    )
    return shadow_verdict(summary), arms


def _no_shadow_yet(record: ExperimentRecord, logged: int) -> Verdict:
    return Verdict(
        decision=Decision.UNDECIDED,
        reason=f"{logged} queries logged, none with a challenger result yet: undecided",
        metric="p99 latency ms",
        baseline=math.nan,
        candidate=math.nan,
        delta=math.nan,
        ci=None,
        p_value=None,
        n=0,
        test="shadow (descriptive)",
        alpha=record.alpha,
    )


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _json(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value
