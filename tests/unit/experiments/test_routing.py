"""Routing one search inside an experiment, with a fake search and a list as the log (no database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.support.experiments import record

from embedb.experiments.records import Arm, ExperimentMode, QueryLogEntry
from embedb.experiments.routing import SHADOW_SKIPPED, RouteContext, assign_arm, route


def fake_search(calls: list[tuple[str, int]]) -> Callable[[list[str], str, int, int], list[list[dict[str, Any]]]]:
    """Version 1 ranks documents a0, a1, ...; version 2 ranks b0, a0, b1, ... (one shared document)."""

    def search(texts: list[str], version: str, limit: int, offset: int) -> list[list[dict[str, Any]]]:
        calls.append((version, len(texts)))
        ranked = (
            [f"a{i}" for i in range(50)] if version.endswith("/1") else ["b0", "a0", *[f"b{i}" for i in range(1, 50)]]
        )
        return [[{"id": doc, "distance": 1.0, "entity": {}} for doc in ranked[offset : offset + limit]] for _ in texts]

    return search


def context(
    mode: ExperimentMode,
    log: list[QueryLogEntry],
    calls: list[tuple[str, int]],
    *,
    defer: bool = True,
    split: float = 0.5,
) -> RouteContext:
    def submit(task: Callable[[], None]) -> bool:
        if not defer:
            return False
        task()  # run at once: the test sees the log entry without waiting
        return True

    return RouteContext(
        record(mode, split=split), fake_search(calls), log.append, submit, {"champion": "x", "challenger": "y"}
    )


def test_assign_arm_is_stable_and_follows_the_share() -> None:
    assert {assign_arm("s", "user-1", 0.5) for _ in range(5)} == {assign_arm("s", "user-1", 0.5)}
    arms = [assign_arm("s", f"user-{i}", 0.2) for i in range(5000)]
    assert 0.17 < arms.count(Arm.CHALLENGER) / len(arms) < 0.23
    flips = sum(assign_arm("s", f"user-{i}", 0.5) != assign_arm("t", f"user-{i}", 0.5) for i in range(2000))
    assert 800 < flips < 1200, "another salt draws arms afresh"


def test_shadow_answers_with_the_champion_and_logs_both_rankings() -> None:
    log: list[QueryLogEntry] = []
    calls: list[tuple[str, int]] = []
    hits = route(context(ExperimentMode.SHADOW, log, calls), ["q1", "q2"], limit=3, offset=1, user_key=None)
    assert [[h["id"] for h in query] for query in hits] == [["a1", "a2", "a3"]] * 2
    assert {h["arm"] for query in hits for h in query} == {"champion"}
    assert calls == [("models:/toy/1", 2), ("models:/toy/2", 2)], "one batched search per arm"
    assert [entry.challenger_ids for entry in log] == [["a0", "b1", "b2"]] * 2
    assert {entry.query_id for entry in log} == {hits[0][0]["query_id"], hits[1][0]["query_id"]}


def test_a_full_shadow_backlog_skips_the_challenger_but_still_logs() -> None:
    log: list[QueryLogEntry] = []
    calls: list[tuple[str, int]] = []
    route(context(ExperimentMode.SHADOW, log, calls, defer=False), ["q"], limit=2, offset=0, user_key=None)
    assert calls == [("models:/toy/1", 1)]
    assert log[0].error == SHADOW_SKIPPED and log[0].challenger_ids is None


def test_split_sends_a_user_to_one_arm() -> None:
    log: list[QueryLogEntry] = []
    calls: list[tuple[str, int]] = []
    everyone = context(ExperimentMode.SPLIT, log, calls, split=0.999999)
    hits = route(everyone, ["q1", "q2", "q3"], limit=2, offset=0, user_key="user-9")
    assert [[h["id"] for h in query] for query in hits] == [["b0", "a0"]] * 3
    assert calls == [("models:/toy/2", 3)]
    assert {(entry.arm, entry.user_key, entry.served_version) for entry in log} == {
        (Arm.CHALLENGER, "user-9", "models:/toy/2")
    }


def test_interleaving_tags_each_hit_with_the_team_that_picked_it() -> None:
    log: list[QueryLogEntry] = []
    calls: list[tuple[str, int]] = []
    (hits,) = route(context(ExperimentMode.INTERLEAVE, log, calls), ["q"], limit=6, offset=0, user_key=None)
    ids = [h["id"] for h in hits]
    assert len(ids) == len(set(ids)) == 6
    for hit in hits:
        assert (
            hit["id"].startswith("a") if hit["arm"] == "champion" else hit["id"] in {"a0", *(f"b{i}" for i in range(6))}
        )
    (entry,) = log
    assert entry.arm is Arm.INTERLEAVED and entry.teams == [h["arm"] for h in hits] and entry.returned_ids == ids
    assert entry.champion_ids == [f"a{i}" for i in range(6)]


@pytest.mark.parametrize("offset", [0, 2, 4])
def test_interleaving_pages_through_the_same_merged_list(monkeypatch: pytest.MonkeyPatch, offset: int) -> None:
    monkeypatch.setattr("embedb.experiments.routing.new_query_id", lambda: "same-query")
    calls: list[tuple[str, int]] = []
    log: list[QueryLogEntry] = []
    whole = route(context(ExperimentMode.INTERLEAVE, log, calls), ["q"], limit=8, offset=0, user_key=None)[0]
    page = route(context(ExperimentMode.INTERLEAVE, log, calls), ["q"], limit=3, offset=offset, user_key=None)[0]
    assert page == whole[offset : offset + 3]
    assert calls[-2:] == [("models:/toy/1", 1), ("models:/toy/2", 1)]
