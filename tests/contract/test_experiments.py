"""Experiments, feedback and offline evaluation behave the same embedded and over HTTP, errors included."""

from __future__ import annotations

import uuid

import pytest

from embedb.client import Client
from embedb.errors import (
    ExperimentNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidStateError,
)

TEXTS = [
    "red apple pie",
    "green apple tart",
    "stock market crash",
    "market prices fall",
    "blue whale song",
    "whale river",
]


@pytest.fixture
def bound(db: Client, name: str) -> str:
    """A collection whose field follows ``<model>@champion`` (version 1) and also holds version 2; returns the model."""
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model(model, "embedb.models.testing:hash_embed_8", alias="challenger")
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 100},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
        ]
    }
    db.create_collection(name, schema=schema)
    db.insert(name, [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    db.add_embedding_version(name, "embedding", f"{model}@challenger", wait=True, timeout=60)
    return model


def test_an_interleaving_experiment_from_start_to_promotion(db: Client, name: str, bound: str) -> None:
    started = db.start_experiment(
        name, "embedding", champion=f"{bound}@champion", challenger=f"{bound}@challenger", mode="interleave"
    )
    experiment_id = started["experiment_id"]
    assert started["state"] == "RUNNING" and started["challenger_version"] == f"models:/{bound}/2"
    with pytest.raises(FailedPreconditionError, match="already running"):
        db.start_experiment(name, "embedding", champion=f"{bound}@champion", challenger=f"{bound}/2", mode="split")
    (hits,) = db.search(name, "apple pie", limit=4, user_key="u1")
    assert {hit["arm"] for hit in hits} <= {"champion", "challenger"} and len({hit["query_id"] for hit in hits}) == 1
    event = db.feedback(name, hits[0]["query_id"], hits[0]["id"])
    assert event["arm"] == hits[0]["arm"] and event["experiment_id"] == experiment_id
    with pytest.raises(InvalidArgumentError, match="not among the hits"):
        db.feedback(name, hits[0]["query_id"], 12345)
    with pytest.raises(ExperimentNotFoundError):
        db.feedback(name, "no-such-query", hits[0]["id"])
    report = db.experiment_report(experiment_id)
    assert report["queries"] == 1 and report["feedback"] == 1 and report["n"] == 1
    assert report["decision"] == "undecided" and report["arms"][hits[0]["arm"]]["wins"] == 1
    assert [e["experiment_id"] for e in db.list_experiments(name)] == [experiment_id]
    moved = db.promote_experiment(experiment_id, reason="contract", actor="tester")
    assert moved["to_version"] == f"models:/{bound}/2" and moved["experiment"]["state"] == "PROMOTED"
    assert db.get_experiment(experiment_id)["state"] == "PROMOTED"
    with pytest.raises(InvalidStateError):
        db.stop_experiment(experiment_id)
    assert "query_id" not in db.search(name, "apple pie", limit=1)[0][0]


def test_experiment_errors(db: Client, name: str, bound: str) -> None:
    with pytest.raises(ExperimentNotFoundError):
        db.get_experiment(987_654_321)
    with pytest.raises(ExperimentNotFoundError):
        db.experiment_report(987_654_321)
    with pytest.raises(InvalidArgumentError, match="mode"):
        db.start_experiment(name, "embedding", champion=f"{bound}@champion", challenger=f"{bound}/2", mode="bandit")
    with pytest.raises(FailedPreconditionError, match="serving"):
        db.start_experiment(name, "embedding", champion=f"{bound}/2", challenger=f"{bound}/1", mode="shadow")


def test_offline_evaluation_and_gate(db: Client, name: str, bound: str) -> None:
    queries = {f"q{i}": text for i, text in enumerate(TEXTS)}
    qrels = {f"q{i}": {str(i): 1.0} for i in range(len(TEXTS))}
    report = db.evaluate(name, "embedding", queries=queries, qrels=qrels, versions=[f"{bound}/1", f"{bound}/2"], k=3)
    assert report["baseline"] == f"{bound}/1" and report["candidate"] == f"{bound}/2"
    assert set(report["versions"][f"{bound}/1"]["metrics"]) == {"recall@3", "ndcg@10", "mrr@10"}
    assert report["versions"][f"{bound}/1"]["model_version"] == f"models:/{bound}/1"
    assert report["gate"]["passed"] in (True, False) and report["verdict"]["n"] == len(TEXTS)
    with pytest.raises(InvalidArgumentError, match="metric"):
        db.evaluate(name, "embedding", queries=queries, qrels=qrels, versions=[f"{bound}/1"], metric="map@10")


def test_the_trajectory_shows_the_verdict_as_it_stood_over_time(db: Client, name: str, bound: str) -> None:
    """Each point is the report of the queries answered by then; the last one is the report itself."""
    experiment = db.start_experiment(
        name, "embedding", champion=f"{bound}@champion", challenger=f"{bound}@challenger", mode="interleave"
    )["experiment_id"]
    for user, text in enumerate(TEXTS * 2):
        (hits,) = db.search(name, text, limit=3, user_key=f"u{user}")
        db.feedback(name, hits[-1]["query_id"], hits[-1]["id"])
    points = db.experiment_trajectory(experiment, points=5)
    assert 1 <= len(points) <= 5
    assert [p["queries"] for p in points] == sorted(p["queries"] for p in points)
    assert [p["time"] for p in points] == sorted(p["time"] for p in points)
    report = db.experiment_report(experiment)
    assert (points[-1]["queries"], points[-1]["feedback"]) == (report["queries"], report["feedback"]) == (12, 12)
    assert points[-1]["decision"] == report["decision"] and points[-1]["ci"] == report["ci"]
    with pytest.raises(InvalidArgumentError, match="points"):
        db.experiment_trajectory(experiment, points=0)
