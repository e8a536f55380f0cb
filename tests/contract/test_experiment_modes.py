"""Online experiments in each mode: routing, feedback, reports, stop, promotion — the same both ways, errors too."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.bound_collections import FIELD, TEXTS, bound_collection, raises_exactly, unique_model

from embedb.client import Client
from embedb.contract import results
from embedb.errors import (
    CollectionNotFoundError,
    ExperimentNotFoundError,
    FailedPreconditionError,
    FieldNotFoundError,
    InvalidArgumentError,
    InvalidStateError,
    ModelNotFoundError,
    NotFoundError,
)

UNKNOWN_EXPERIMENT = 987_654_321
USERS = 24  # both arms of a 50/50 split get a user, but for a 2 * 0.5**24 chance


@pytest.fixture
def model(db: Client, name: str) -> str:
    """A collection ``name`` serving ``<model>/1`` (alias champion) that also holds ``<model>/2`` (challenger)."""
    created = unique_model()
    bound_collection(db, name, created)
    return created


def start(db: Client, name: str, model: str, mode: str, **settings: Any) -> results.ExperimentInfo:
    return db.start_experiment(
        name, FIELD, champion=f"{model}@champion", challenger=f"{model}@challenger", mode=mode, **settings
    )


def ids(hits: list[results.Hit]) -> list[Any]:
    return [hit["id"] for hit in hits]


def test_shadow_answers_with_the_champion_and_compares_the_challenger(db: Client, name: str, model: str) -> None:
    started = start(db, name, model, "shadow", k=3)
    assert {k: started[k] for k in ("collection_name", "field", "mode", "state", "champion", "challenger")} == {
        "collection_name": name,
        "field": FIELD,
        "mode": "shadow",
        "state": "RUNNING",
        "champion": f"{model}@champion",
        "challenger": f"{model}@challenger",
    }
    assert (started["champion_version"], started["challenger_version"]) == (f"models:/{model}/1", f"models:/{model}/2")
    assert (started["split"], started["k"], started["alpha"], started["sequential"], started["horizon"]) == (
        0.5,
        3,
        0.05,
        True,
        None,
    )
    assert started["ended_at"] is None and db.get_experiment(started["experiment_id"]) == started

    champion_ids = ids(db.search(name, "apple pie", limit=3, embedding_version=f"{model}/1")[0])
    for _ in range(2):
        (hits,) = db.search(name, "apple pie", limit=3)
        assert ids(hits) == champion_ids and {hit["arm"] for hit in hits} == {"champion"}
        assert len({hit["query_id"] for hit in hits}) == 1
    report = db.experiment_report(started["experiment_id"])
    assert (report["queries"], report["feedback"], report["dropped_queries"]) == (2, 0, 0)
    assert report["arms"]["challenger"]["queries"] == 2, "the report waits for the shadow searches"
    assert report["arms"]["challenger"]["failed_or_skipped"] == 0
    assert report["test"] == "shadow (descriptive)" and report["decision"] == "undecided"
    assert report["details"]["shadow"]["n_queries"] == 2 and report["experiment"] == started

    graded = db.feedback(name, hits[0]["query_id"], 5, kind="relevance", relevance=2.0)
    assert graded == {
        **graded,
        "query_id": hits[0]["query_id"],
        "doc_id": 5,
        "kind": "relevance",
        "relevance": 2.0,
        "arm": "champion",
    }


def test_split_keeps_each_user_in_one_arm(db: Client, name: str, model: str) -> None:
    experiment_id = start(db, name, model, "split")["experiment_id"]
    by_version = {
        arm: ids(db.search(name, "market", limit=3, embedding_version=version)[0])
        for arm, version in (("champion", f"{model}/1"), ("challenger", f"{model}/2"))
    }
    arms: dict[str, str] = {}
    for user in range(USERS):
        for _ in range(2):
            (hits,) = db.search(name, "market", limit=3, user_key=f"user{user}")
            (arm,) = {hit["arm"] for hit in hits}
            assert arms.setdefault(f"user{user}", arm) == arm, "a user stays in one arm"
            assert ids(hits) == by_version[arm], "each arm answers with its own version"
    assert set(arms.values()) == {"champion", "challenger"}
    clicked = db.feedback(name, hits[0]["query_id"], hits[0]["id"])
    assert (clicked["arm"], clicked["kind"], clicked["relevance"]) == (hits[0]["arm"], "click", None)

    report = db.experiment_report(experiment_id)
    assert (report["queries"], report["feedback"]) == (2 * USERS, 1)
    for arm in ("champion", "challenger"):
        users = sum(1 for a in arms.values() if a == arm)
        assert (report["arms"][arm]["users"], report["arms"][arm]["queries"]) == (users, 2 * users)
    assert report["arms"][hits[0]["arm"]]["converted_units"] == 1


def test_interleaving_promotes_a_challenger_that_wins_every_query(db: Client, name: str, model: str) -> None:
    experiment_id = start(db, name, model, "interleave")["experiment_id"]
    for query in range(20):
        (hits,) = db.search(name, TEXTS[query % len(TEXTS)], limit=4)
        assert {hit["arm"] for hit in hits} == {"champion", "challenger"}, "team draft gives each arm a pick"
        picked = next(hit for hit in hits if hit["arm"] == "challenger")
        db.feedback(name, picked["query_id"], picked["id"])
    report = db.experiment_report(experiment_id)
    assert report["decision"] == "promote" and report["details"] == {"wins_a": 0, "wins_b": report["n"], "ties": 0}
    assert (report["queries"], report["feedback"], report["arms"]["challenger"]["clicks"]) == (20, 20, 20)

    moved = db.promote_experiment(experiment_id, actor="tester")
    assert (moved["action"], moved["from_version"], moved["to_version"]) == (
        "promote",
        f"models:/{model}/1",
        f"models:/{model}/2",
    )
    assert moved["experiment"]["state"] == "PROMOTED" and moved["experiment"]["ended_at"] is not None
    assert moved["report"]["decision"] == "promote" and moved["report"]["queries"] == 20
    assert (db.serving_history(name)[-1]["reason"] or "").startswith(f"experiment {experiment_id} (interleave)")
    assert db.describe_model_version(f"{model}@champion")["version"] == 2
    with raises_exactly(InvalidStateError):
        db.promote_experiment(experiment_id)


def test_a_stopped_experiment_routes_nothing_and_keeps_its_report(db: Client, name: str, model: str) -> None:
    started = start(db, name, model, "interleave")
    (hits,) = db.search(name, "whale", limit=3)
    stopped = db.stop_experiment(started["experiment_id"])
    assert stopped["state"] == "STOPPED" and stopped["ended_at"] is not None
    assert db.get_experiment(started["experiment_id"]) == stopped
    assert "query_id" not in db.search(name, "whale", limit=3)[0][0], "searches are no longer routed"
    report = db.experiment_report(started["experiment_id"])
    assert report["queries"] == 1 and report["experiment"] == stopped
    assert db.experiment_report(started["experiment_id"]) == report, "an ended experiment's report is frozen"
    with raises_exactly(InvalidStateError, match="takes no more feedback"):
        db.feedback(name, hits[0]["query_id"], hits[0]["id"])
    for end in (db.stop_experiment, db.promote_experiment):
        with raises_exactly(InvalidStateError, match="STOPPED"):
            end(started["experiment_id"])
    assert db.serving_history(name) == [], "stopping promotes nothing"

    again = start(db, name, model, "split", split=0.2)
    assert [e["experiment_id"] for e in db.list_experiments(name)] == [started["experiment_id"], again["experiment_id"]]
    assert {started["experiment_id"], again["experiment_id"]} <= {e["experiment_id"] for e in db.list_experiments()}


BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"mode": "bandit"}, "mode must be one of"),
    ({"mode": "split", "split": 0.0}, "split must be a share"),
    ({"mode": "split", "split": 1.5}, "split must be a share"),
    ({"mode": "shadow", "k": 0}, "k must be an integer"),
    ({"mode": "shadow", "alpha": 1.0}, "alpha must be in"),
    ({"mode": "interleave", "horizon": 100}, "horizon belongs to a fixed-horizon experiment"),
    ({"mode": "interleave", "sequential": False}, "needs horizon"),
    ({"mode": "interleave", "sequential": False, "horizon": 0}, "needs horizon"),
]


def test_start_refuses_bad_settings(db: Client, name: str, model: str) -> None:
    for settings, message in BAD_SETTINGS:
        with raises_exactly(InvalidArgumentError, match=message):
            start(db, name, model, **settings)
    assert db.list_experiments(name) == [], "a refused start writes nothing"


def test_start_refuses_versions_that_cannot_run(db: Client, name: str, model: str) -> None:
    champion, challenger = f"{model}@champion", f"{model}@challenger"
    with raises_exactly(InvalidArgumentError, match="both"):
        db.start_experiment(name, FIELD, champion=champion, challenger=f"{model}/1", mode="shadow")
    with raises_exactly(FailedPreconditionError, match="must be the version serving"):
        db.start_experiment(name, FIELD, champion=challenger, challenger=champion, mode="shadow")
    with raises_exactly(ModelNotFoundError):
        db.start_experiment(name, FIELD, champion=champion, challenger=f"{model}_missing/1", mode="shadow")
    db.register_model(model, "embedb.models.testing:hash_embed_8")  # version 3, not held by the field
    with raises_exactly(NotFoundError, match="holds no vectors"):
        db.start_experiment(name, FIELD, champion=champion, challenger=f"{model}/3", mode="shadow")
    with raises_exactly(InvalidArgumentError, match="not bound to a model"):
        db.start_experiment(name, "text", champion=champion, challenger=challenger, mode="shadow")
    with raises_exactly(FieldNotFoundError):
        db.start_experiment(name, "no_such_field", champion=champion, challenger=challenger, mode="shadow")
    with raises_exactly(CollectionNotFoundError):
        db.start_experiment(f"{name}_missing", FIELD, champion=champion, challenger=challenger, mode="shadow")
    assert db.list_experiments(name) == []


def test_feedback_is_checked_against_the_logged_query(db: Client, name: str, model: str, other_name: str) -> None:
    start(db, name, model, "split")
    (hits,) = db.search(name, "apple", limit=2, user_key="u")
    query_id = hits[0]["query_id"]
    returned = set(ids(hits))
    not_returned = next(i for i in range(len(TEXTS)) if i not in returned)
    with raises_exactly(InvalidArgumentError, match="not among the hits"):
        db.feedback(name, query_id, not_returned)
    with raises_exactly(InvalidArgumentError, match="kind must be one of"):
        db.feedback(name, query_id, hits[0]["id"], kind="purchase")
    with raises_exactly(InvalidArgumentError, match="needs relevance"):
        db.feedback(name, query_id, hits[0]["id"], kind="relevance")
    with raises_exactly(InvalidArgumentError, match="query_id must be a non-empty string"):
        db.feedback(name, "", hits[0]["id"])
    with raises_exactly(ExperimentNotFoundError, match="no experiment query"):
        db.feedback(name, "0" * 32, hits[0]["id"])
    db.create_collection(other_name, dimension=2)
    with raises_exactly(ExperimentNotFoundError, match="no experiment query"):
        db.feedback(other_name, query_id, hits[0]["id"])
    graded = db.feedback(name, query_id, not_returned, relevance=1.0)
    assert (graded["kind"], graded["doc_id"], graded["relevance"]) == ("relevance", not_returned, 1.0)


def test_unknown_experiments(db: Client) -> None:
    for call in (db.get_experiment, db.experiment_report, db.stop_experiment, db.promote_experiment):
        with raises_exactly(ExperimentNotFoundError):
            call(UNKNOWN_EXPERIMENT)
    with raises_exactly(CollectionNotFoundError):
        db.list_experiments("no_such_collection_anywhere")
