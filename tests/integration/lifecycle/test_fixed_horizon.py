"""A fixed-horizon verdict, once reached, rests on frozen data (issue 18): late clicks cannot change it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import bound_docs

from embedb.backends.local import LocalBackend

TEXTS = [
    f"document {i} about {topic} and {other}"
    for i, (topic, other) in enumerate(
        [(t, o) for t in ("apples", "markets", "whales", "songs", "rivers") for o in ("red", "blue", "green", "gold")]
    )
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LocalBackend]:
    client = bound_docs(tmp_path / "data", TEXTS)
    client.add_embedding_version("docs", "embedding", "toy@challenger", wait=True)
    yield client
    client.close()


def _search(db: LocalBackend, text: str) -> list[dict[str, Any]]:
    (hits,) = db.search("docs", text, limit=6)
    arms = {hit["arm"] for hit in hits}
    assert arms == {"champion", "challenger"}, f"team draft gives both arms a hit: {arms}"
    return [dict(hit) for hit in hits]


def _click(db: LocalBackend, hits: list[dict[str, Any]], arm: str) -> None:
    hit = next(hit for hit in hits if hit["arm"] == arm)
    db.feedback("docs", hit["query_id"], hit["id"])


def test_late_clicks_on_earlier_tied_queries_do_not_change_a_reached_horizon(db: LocalBackend) -> None:
    experiment = db.start_experiment(
        "docs",
        "embedding",
        champion="toy@champion",
        challenger="toy@challenger",
        mode="interleave",
        sequential=False,
        horizon=4,
    )
    tied = [_search(db, f"{topic} early") for topic in ("apples", "markets", "whales")]  # no clicks: ties
    for topic in ("songs", "rivers", "red", "blue"):
        _click(db, _search(db, f"{topic} later"), "challenger")
    reached = db.experiment_report(experiment["experiment_id"])
    assert reached["decision"] != "undecided" and reached["n"] == 4
    assert reached["details"]["wins_b"] == 4 and reached["details"]["ties"] == 3

    for hits in tied:  # late clicks turn the early ties into champion wins
        _click(db, hits, "champion")
    _click(db, _search(db, "gold after"), "champion")  # and a query after the horizon
    again = db.experiment_report(experiment["experiment_id"])
    keys = ("decision", "n", "p_value", "delta", "details", "reason")
    before, after = dict(reached), dict(again)
    assert {key: after[key] for key in keys} == {key: before[key] for key in keys}
