"""``monitor``: per model version of a field, its searches and the feedback on them, bucketed in time.

Searches of a model-bound field are counted per serving version (embedded and in a
server process), including each arm of an experiment, and feedback on experiment
queries becomes clicks, CTR and MRR of the version whose hit was clicked.
"""

from __future__ import annotations

import time

import pytest
from tests.support.bound_collections import bound_collection, unique_model

from embedb.client import Client
from embedb.errors import InvalidArgumentError


@pytest.fixture
def bound(db: Client, name: str) -> str:
    """A collection following ``<model>@champion`` (hash_embed_16); version 2 is registered as challenger, not added."""
    model = unique_model()
    bound_collection(db, name, model, backfill=False)
    return model


def test_searches_are_counted_per_serving_version(db: Client, name: str, bound: str) -> None:
    started = time.time()
    db.search(name, ["apple", "whale", "market"], limit=3)
    db.search(name, "apple pie", limit=2, filter="id > 100")  # an empty answer
    report = db.monitor(name, "embedding", since=started - 60, bucket_s=60)
    champion = f"models:/{bound}/1"
    assert report["serving_version"] == champion and set(report["versions"]) == {champion}
    totals = report["versions"][champion]["totals"]
    assert totals["queries"] == 4 and totals["empty_rate"] == pytest.approx(0.25)
    assert totals["p50_ms"] is not None and totals["p50_ms"] <= totals["p95_ms"] <= totals["p99_ms"]
    assert 0.0 <= totals["low_similarity_rate"] <= 1.0 and totals["ctr"] is None
    assert sum(bucket["queries"] for bucket in report["versions"][champion]["buckets"]) == 4


def test_an_experiment_is_monitored_per_arm_with_its_clicks(db: Client, name: str, bound: str) -> None:
    db.add_embedding_version(name, "embedding", f"{bound}@challenger", wait=True, timeout=60)
    started = time.time()
    db.start_experiment(
        name, "embedding", champion=f"{bound}@champion", challenger=f"{bound}@challenger", mode="interleave"
    )
    (hits,) = db.search(name, "apple pie", limit=4, user_key="u1")
    db.feedback(name, hits[1]["query_id"], hits[1]["id"])  # the second hit: reciprocal rank 1/2
    db.search(name, "whale", limit=4, user_key="u2")
    report = db.monitor(name, "embedding", since=started - 60)
    versions = report["versions"]
    assert set(versions) == {f"models:/{bound}/1", f"models:/{bound}/2"}
    assert all(series["totals"]["queries"] == 2 and series["totals"]["logged"] == 2 for series in versions.values())
    clicked = next(series["totals"] for series in versions.values() if series["totals"]["clicks"])
    assert clicked["clicks"] == 1 and clicked["ctr"] == pytest.approx(0.5) and clicked["mrr"] == pytest.approx(0.25)


def test_monitor_refuses_what_it_cannot_answer(db: Client, name: str, bound: str) -> None:
    for options, match in (
        ({"bucket_s": 90}, "bucket_s"),
        ({"since": 10.0, "until": 5.0}, "ordered"),
        ({"low_similarity": 3.0}, "low_similarity"),
    ):
        with pytest.raises(InvalidArgumentError, match=match):
            db.monitor(name, "embedding", **options)
    db.create_collection(name + "_plain", dimension=4)
    try:
        with pytest.raises(InvalidArgumentError, match="not bound"):
            db.monitor(name + "_plain", "vector")
    finally:
        db.drop_collection(name + "_plain")


def test_decay_compares_a_version_with_its_own_history(db: Client, name: str, bound: str) -> None:
    db.add_embedding_version(name, "embedding", f"{bound}@challenger", wait=True, timeout=60)
    db.start_experiment(
        name, "embedding", champion=f"{bound}@champion", challenger=f"{bound}@challenger", mode="shadow"
    )
    start = time.time()
    for user in range(60):  # the good days: every query is clicked
        (hits,) = db.search(name, "apple pie", limit=3, user_key=f"a{user}")
        db.feedback(name, hits[0]["query_id"], hits[0]["id"])
    time.sleep(1.1)  # clicks are told apart by the second, searches by the minute
    middle = time.time()
    for user in range(60):  # the bad days: no clicks
        db.search(name, "apple pie", limit=3, user_key=f"b{user}")
    end = time.time() + 1
    calm = db.decay(name, "embedding", reference=[start, middle], current=[start, middle])
    assert not calm["decayed"] and calm["signals"]["ctr"]["reference"] == 1.0
    report = db.decay(name, "embedding", reference=[start, middle], current=[middle, end])
    assert report["decayed"] and report["version"] == f"models:/{bound}/1"
    ctr = report["signals"]["ctr"]
    assert (ctr["reference"], ctr["current"], ctr["reference_n"], ctr["current_n"], ctr["decayed"]) == (
        1.0,
        0.0,
        60,
        60,
        True,
    )
    better = db.decay(name, "embedding", reference=[middle, end], current=[start, middle])
    assert not better["decayed"], "getting better is not decay"
    with pytest.raises(InvalidArgumentError, match="reference"):
        db.decay(name, "embedding", reference=[end, start])
