"""Lifecycle transitions under forced interleavings (issue 18): each race is made to happen on purpose.

A ``PausePoints`` hold stops one thread at a named point (after a transition's
checks, after a read of the field versions) while another thread does its part;
then the first one goes on. Every test states the invariant the race used to
break: the serving version is never RETIRED, a cache never keeps the state from
before a change, one answer never mixes versions, a rollback reaches a running
experiment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import bound_docs

from embedb.backends.local import LocalBackend
from embedb.errors import FailedPreconditionError, InUseError

TEXTS = [f"text number {i} about {topic}" for i, topic in enumerate(["apples", "markets", "whales", "songs"] * 10)]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LocalBackend]:
    client = bound_docs(tmp_path / "data", TEXTS)
    client.add_embedding_version("docs", "embedding", "toy@challenger", wait=True)
    yield client
    client.close()


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as error:  # the test inspects what the racing call raised
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _serving(db: LocalBackend) -> dict[str, Any]:
    (version,) = [v for v in db.describe_collection("docs")["embedding_versions"]["embedding"] if v["serving"]]
    return version


def test_a_drop_that_races_a_promotion_of_its_version_is_refused(db: LocalBackend) -> None:
    hold = db.database.pause_points.hold("lifecycle.promote.checked")
    promoting, promoted = _in_thread(lambda: db.promote("docs", "embedding", "toy@challenger"))
    assert hold.reached.wait(10)
    dropping, dropped = _in_thread(lambda: db.drop_embedding_version("docs", "embedding", "models:/toy/2"))
    hold.release()
    promoting.join(10)
    dropping.join(10)
    assert "error" not in promoted, promoted
    assert isinstance(dropped.get("error"), InUseError), dropped
    serving = _serving(db)
    assert serving["model_version"] == "models:/toy/2" and serving["state"] == "READY"


def test_a_promotion_that_races_a_drop_of_its_version_is_refused(db: LocalBackend) -> None:
    db.delete_model_alias("toy", "challenger")  # nothing else holds v2: its drop passes its checks
    hold = db.database.pause_points.hold("lifecycle.drop.checked")
    dropping, dropped = _in_thread(lambda: db.drop_embedding_version("docs", "embedding", "models:/toy/2"))
    assert hold.reached.wait(10)
    promoting, promoted = _in_thread(lambda: db.promote("docs", "embedding", "models:/toy/2"))
    hold.release()
    dropping.join(10)
    promoting.join(10)
    assert "error" not in dropped, dropped
    error = promoted.get("error")
    assert isinstance(error, FailedPreconditionError) and "being dropped" in str(error), promoted
    serving = _serving(db)
    assert serving["model_version"] == "models:/toy/1" and serving["state"] == "READY"
    (hits,) = db.search("docs", "apples", limit=3)
    assert len(hits) == 3, "text search still finds rows"


def test_a_read_that_began_before_a_promotion_never_refills_the_cache_with_the_old_state(db: LocalBackend) -> None:
    db.database.bindings.forget()  # the next read goes to the catalog
    hold = db.database.pause_points.hold("bindings.read")
    reading, read = _in_thread(lambda: db.get("docs", [0], output_fields=["embedding@version"]))
    assert hold.reached.wait(10)
    db.promote("docs", "embedding", "toy@challenger")
    hold.release()
    reading.join(10)
    assert read["result"][0]["embedding@version"] == "models:/toy/1", "the read in flight answers from its own state"
    assert db.get("docs", [0], output_fields=["embedding@version"])[0]["embedding@version"] == "models:/toy/2"
    (hits,) = db.search("docs", "apples", limit=1, output_fields=["embedding@version"])
    assert hits[0]["entity"]["embedding@version"] == "models:/toy/2"


def test_one_search_answers_from_one_version_even_if_a_promotion_commits_during_it(db: LocalBackend) -> None:
    hold = db.database.pause_points.hold("search.bindings_read")
    searching, searched = _in_thread(
        lambda: db.search("docs", "whales", limit=5, output_fields=["embedding", "embedding@version"])
    )
    assert hold.reached.wait(10)
    db.promote("docs", "embedding", "toy@challenger")
    hold.release()
    searching.join(10)
    (hits,) = searched["result"]
    assert {hit["entity"]["embedding@version"] for hit in hits} == {"models:/toy/1"}
    assert {len(hit["entity"]["embedding"]) for hit in hits} == {16}, "vectors of the version that ranked them"
    stored = db.get("docs", [hit["id"] for hit in hits], output_fields=["embedding@models:/toy/1"])
    assert [row["embedding@models:/toy/1"] for row in stored] == [hit["entity"]["embedding"] for hit in hits]


def test_a_rollback_stops_the_experiment_running_on_the_field(db: LocalBackend) -> None:
    db.promote("docs", "embedding", "toy@challenger")
    db.promote("docs", "embedding", "models:/toy/1")  # v1 serves, v2 is the rollback target
    experiment = db.start_experiment(
        "docs", "embedding", champion="models:/toy/1", challenger="models:/toy/2", mode="interleave"
    )
    (routed,) = db.search("docs", "apples", limit=4, user_key="u1")
    assert all("arm" in hit for hit in routed), "the experiment routes text searches"
    moved = db.rollback("docs", "embedding", reason="latency regression")
    assert moved["to_version"] == "models:/toy/2"
    assert db.get_experiment(experiment["experiment_id"])["state"] == "STOPPED"
    (hits,) = db.search("docs", "apples", limit=2, user_key="u1", output_fields=["embedding@version"])
    assert all("arm" not in hit for hit in hits), "no search is routed by the stopped experiment"
    assert {hit["entity"]["embedding@version"] for hit in hits} == {"models:/toy/2"}
    report = db.experiment_report(experiment["experiment_id"])
    assert report["queries"] == 1, "its report keeps what it logged before the rollback"
    events = db.database.catalog.query("SELECT detail FROM events WHERE kind = 'experiment.stopped'")
    assert len(events) == 1 and "latency regression" in events[0]["detail"]
