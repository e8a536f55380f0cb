"""Offline evaluation on BEIR-style queries and qrels, and its CI gate — the same both ways, errors included.

Version 1 of the model is ``hash_embed_16``, which finds each document from two of
its three words; version 2 is ``scrambled_8``, which gives every text an unrelated
vector: significantly worse on any judged query, so the gate's verdict is known.
"""

from __future__ import annotations

import pytest
from tests.support.bound_collections import FIELD, SCRAMBLED_8, bound_collection, raises_exactly, unique_model

from embedb.client import Client
from embedb.errors import CollectionNotFoundError, InvalidArgumentError, NotFoundError

DOCS = 12
QUERIES = {f"q{i}": f"alpha{i} gamma{i}" for i in range(DOCS)}
QRELS = {f"q{i}": {str(i): 1.0} for i in range(DOCS)}


@pytest.fixture
def model(db: Client, name: str) -> str:
    """The model whose two versions the collection ``name`` holds, over twelve documents."""
    created = unique_model()
    documents = [f"alpha{i} beta{i} gamma{i}" for i in range(DOCS)]
    bound_collection(db, name, created, challenger=SCRAMBLED_8, segments=[documents])
    return created


def test_a_worse_candidate_fails_the_gate(db: Client, name: str, model: str) -> None:
    good, bad = f"{model}/1", f"{model}@challenger"
    report = db.evaluate(name, FIELD, queries=QUERIES, qrels=QRELS, versions=[good, bad], k=5)
    assert (report["collection_name"], report["field"], report["k"], report["metric"]) == (name, FIELD, 5, "ndcg@10")
    assert (report["queries"], report["baseline"], report["candidate"], report["min_delta"]) == (DOCS, good, bad, 0.0)
    assert report["versions"][good]["metrics"] == {"recall@5": 1.0, "ndcg@10": 1.0, "mrr@10": 1.0}
    assert report["versions"][good]["model_version"] == f"models:/{model}/1"
    assert report["versions"][bad]["model_version"] == f"models:/{model}/2", "an alias is resolved to its version"
    assert report["versions"][bad]["metrics"]["ndcg@10"] < 0.8
    ann = report["versions"][good]["ann"]
    assert ann is not None and (ann["k"], ann["recall_at_k"], ann["latency_queries"]) == (5, 1.0, DOCS)
    assert ann["sealed_segments"] == 1
    verdict = report["verdict"]
    assert verdict == report["comparisons"][bad]
    assert (verdict["decision"], verdict["n"], verdict["metric"]) == ("keep", DOCS, "ndcg@10")
    assert (
        verdict["delta"] is not None
        and verdict["delta"] < 0
        and verdict["p_value"] is not None
        and verdict["p_value"] < 0.05
    )
    assert report["gate"]["passed"] is False and report["gate"]["reason"].startswith("fail:")

    tolerant = db.evaluate(
        name, FIELD, queries=QUERIES, qrels=QRELS, versions=[good, bad], min_delta=1.0, ann_check=False
    )
    assert tolerant["gate"]["passed"] is True, "no drop exceeds a min_delta of 1"
    assert tolerant["versions"][good]["ann"] is None and tolerant["min_delta"] == 1.0

    reversed_roles = db.evaluate(
        name, FIELD, queries=QUERIES, qrels=QRELS, baseline=bad, candidate=good, metric="recall@3"
    )
    assert (reversed_roles["baseline"], reversed_roles["candidate"], reversed_roles["metric"]) == (
        bad,
        good,
        "recall@3",
    )
    assert reversed_roles["versions"][good]["metrics"]["recall@3"] == 1.0
    assert reversed_roles["gate"]["passed"] is True and reversed_roles["verdict"]["delta"] > 0


def test_one_version_is_scored_without_a_gate(db: Client, name: str, model: str) -> None:
    report = db.evaluate(name, FIELD, queries=QUERIES, qrels=QRELS, versions=[f"{model}@champion"], ann_check=False)
    assert report["candidate"] is None and report["comparisons"] == {}
    assert "gate" not in report and "verdict" not in report
    assert report["versions"][f"{model}@champion"]["metrics"]["ndcg@10"] == 1.0


def test_evaluation_errors(db: Client, name: str, model: str) -> None:
    versions = [f"{model}/1", f"{model}/2"]
    cases: list[tuple[dict[str, object], str]] = [
        ({"metric": "map@10"}, "metric must be one of"),
        ({"k": 0}, "k must be an integer"),
        ({"min_delta": -0.1}, "min_delta must be a finite number"),
        ({"versions": []}, "name the model versions"),
        ({"qrels": {"q0": {"0": 0.0}}}, "no query with a relevant document"),
        ({"queries": {"q0": "alpha0"}}, "judged queries have no text"),
    ]
    for changes, message in cases:
        arguments: dict[str, object] = {"queries": QUERIES, "qrels": QRELS, "versions": versions, **changes}
        with raises_exactly(InvalidArgumentError, match=message):
            db.evaluate(name, FIELD, **arguments)  # type: ignore[arg-type]
    db.register_model(model, "embedb.models.testing:hash_embed_8")  # version 3: the field holds no vectors of it
    with raises_exactly(NotFoundError, match="holds no vectors"):
        db.evaluate(name, FIELD, queries=QUERIES, qrels=QRELS, versions=[f"{model}/1", f"{model}/3"])
    with raises_exactly(InvalidArgumentError, match="not a vector field"):
        db.evaluate(name, "text", queries=QUERIES, qrels=QRELS, versions=versions)
    with raises_exactly(CollectionNotFoundError):
        db.evaluate(f"{name}_missing", FIELD, queries=QUERIES, qrels=QRELS, versions=versions)
