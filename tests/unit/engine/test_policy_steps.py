"""A policy step that an operation refuses is recorded as blocked, and the loop stays where it was."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.bound_collections import bound_schema

import embedb
from embedb.datasets import load_revdict
from embedb.engine.policies import PolicyOperation
from embedb.errors import InvalidArgumentError


def _policies_with(db: Any, clock: Callable[[], float] = time.time, **fakes: Any) -> PolicyOperation:
    """The database's policies over its own operations, some of them (by name) replaced by ``fakes``."""
    database = db.database
    operation = lambda name: fakes.get(name) or database.operations[name]  # noqa: E731
    return PolicyOperation(database.catalog, database.metadata, operation, clock)


def _decayed(*args: Any, **kwargs: Any) -> Any:
    return {"decayed": True, "signals": {}}


def _retrained_as_toy_2(*args: Any, **kwargs: Any) -> Any:
    """A retraining that "made" ``toy/2`` (registered by the test beforehand)."""
    return {"model_version": "models:/toy/2", "after": {}, "before": {}}


def test_a_refused_step_is_blocked_not_an_error(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        schema = {
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "text", "type": "VARCHAR", "max_length": 100},
                {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": "toy@champion"},
            ]
        }
        db.create_collection("docs", schema=schema)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise InvalidArgumentError("fine-tuning needs pairs of at least 4 distinct queries")

        policies = _policies_with(db, decay=_decayed, fine_tune=refuse)
        policies.set_policy("docs", "embedding", {"mode": "act"})
        step = policies.run_policy("docs", "embedding")
        assert (step["action"], step["acted"], step["state"]) == ("blocked", False, "idle")
        assert "at least 4 distinct queries" in step["detail"]["why"]
        assert [e["action"] for e in policies.get_policy("docs", "embedding")["events"]] == ["blocked"]


DATA = load_revdict()
DOCS = [text for _, text in DATA.corpus[:300]]
DEFINITIONS = [text for _, text in DATA.queries[:40]]
QRELS = {query: {doc: float(g) for doc, g in DATA.qrels[query].items()} for query, _ in DATA.queries[:20]}
GATE: dict[str, Any] = {"queries": dict(DATA.queries[:20]), "qrels": QRELS}


def _docs_collection(db: Any) -> None:
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    schema = bound_schema("toy", max_length=2000, text_ids=True)
    db.create_collection("docs", schema=schema)
    relevant = {doc for docs in QRELS.values() for doc in docs}
    corpus = dict([(doc, text) for doc, text in DATA.corpus if doc in relevant] + DATA.corpus[:300])
    db.insert("docs", [{"id": doc, "text": text} for doc, text in corpus.items()])


def _stream(db: Any, before: list[str], after: list[str]) -> float:
    """Search ``before`` then ``after``, one query at a time; return a time between the two."""
    for text in before:
        db.search("docs", text, limit=3)
    db.database.monitor.flush()
    time.sleep(0.01)
    middle = time.time()
    time.sleep(0.01)
    for text in after:
        db.search("docs", text, limit=3)
    return middle


def _policies_at(db: Any, now: float) -> PolicyOperation:
    """The database's policies, on a clock that reads ``now``: an hour's window ends there."""
    return _policies_with(db, lambda: now)


def test_drift_of_the_query_stream_raises_an_alert_and_approval_takes_the_step(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        _docs_collection(db)
        middle = _stream(db, DOCS[:16], DEFINITIONS[:16])
        policies = _policies_at(db, middle + 3_600)  # the window is the last hour: the definitions
        policies.set_policy("docs", "embedding", {"triggers": ["drift"], "window_hours": 1, "gate": GATE})
        named = policies.run_policy("docs", "embedding")
        assert (named["action"], named["acted"], named["state"]) == ("retrain", False, "idle")
        assert named["detail"]["why"] == "the query stream drifted"
        assert named["detail"]["drift"]["detected"] and named["detail"]["drift"]["current_rows"] == 16
        approved = policies.run_policy("docs", "embedding", approve=True)
        assert approved["action"] == "blocked" and "at least 4 distinct queries" in approved["detail"]["why"], approved[
            "detail"
        ]
        policies.set_policy(
            "docs", "embedding", {"triggers": ["drift"], "window_hours": 1, "gate": GATE, "on_alert": "evaluate"}
        )
        evaluated = policies.run_policy("docs", "embedding", approve=True)
        assert (evaluated["action"], evaluated["acted"], evaluated["state"]) == ("evaluate", True, "idle")
        assert evaluated["detail"]["evaluation"]["metric"] == "ndcg@10"
        assert set(evaluated["detail"]["evaluation"]["versions"]) == {"models:/toy/1"}


def test_the_same_stream_raises_no_alert(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        _docs_collection(db)
        middle = _stream(db, DOCS[:16], DOCS[16:32])
        policies = _policies_at(db, middle + 3_600)
        policies.set_policy("docs", "embedding", {"mode": "act", "triggers": ["drift"], "window_hours": 1})
        calm = policies.run_policy("docs", "embedding")
        assert calm["action"] == "none" and not calm["detail"]["drift"]["detected"]
        assert calm["detail"]["drift"]["reference_rows"] == 16


def test_a_retrained_challenger_gets_its_own_tuned_index_before_its_experiment(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        _docs_collection(db)
        db.register_model("toy", "tests.support.toy_embedders:scrambled_8")  # "the retrained version"
        db.flush("docs")
        db.create_index("docs", field_name="embedding", index_type="HNSW", sync=True)
        policies = _policies_with(db, decay=_decayed, fine_tune=_retrained_as_toy_2)
        policies.set_policy("docs", "embedding", {"mode": "act", "triggers": ["decay"], "tune_recall": 0.9})
        retrained = policies.run_policy("docs", "embedding")
        assert (retrained["action"], retrained["state"]) == ("retrain and backfill", "backfilling")
        db.wait_job(retrained["detail"]["job_id"], timeout=60)
        started = policies.run_policy("docs", "embedding")
        assert (started["action"], started["state"]) == ("start experiment", "experimenting"), started["detail"]
        tuned = started["detail"]["tuned"]
        assert tuned["applied"] and tuned["best"]["recall"] >= 0.9
        own = db.describe_index("docs", "embedding")["version_indexes"]
        assert [entry["index_type"] for entry in own.values()] == [tuned["best"]["index_type"]]
        assert db.get_experiment(started["detail"]["experiment_id"])["challenger_version"] == "models:/toy/2"


def test_concurrent_runs_take_one_step_and_keep_its_state(tmp_path: Path) -> None:
    """Four approvals at once of a decided experiment: one promotes, the loop is left watching the new champion."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.contract.test_policies import GATE as JUDGED
    from tests.contract.test_policies import experiment_clicking_the_challenger

    with embedb.connect(tmp_path / "data") as db:
        model = experiment_clicking_the_challenger(
            db, "docs", "tests.support.toy_embedders:scrambled_8", "embedb.models.testing:hash_embed_16"
        )
        db.set_policy("docs", "embedding", {"gate": JUDGED, "triggers": ["decay"]})
        assert db.run_policy("docs", "embedding", approve=True)["action"] == "adopt experiment"
        with ThreadPoolExecutor(4) as pool:
            steps = list(pool.map(lambda _: db.run_policy("docs", "embedding", approve=True), range(4)))
        assert [step["action"] for step in steps].count("promote") == 1, steps
        assert not [step for step in steps if step["action"] == "blocked"], steps
        assert db.get_policy("docs", "embedding")["state"] == "watching"
        assert db.describe_model(model)["aliases"] == {"champion": 2}


def test_a_challenger_dropped_mid_loop_makes_the_loop_give_up(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        _docs_collection(db)
        db.register_model("toy", "tests.support.toy_embedders:scrambled_8")
        policies = _policies_with(db, decay=_decayed, fine_tune=_retrained_as_toy_2)
        policies.set_policy("docs", "embedding", {"mode": "act", "triggers": ["decay"]})
        retrained = policies.run_policy("docs", "embedding")
        db.wait_job(retrained["detail"]["job_id"], timeout=60)
        db.drop_embedding_version("docs", "embedding", "toy/2")
        gone = policies.run_policy("docs", "embedding")
        assert (gone["action"], gone["state"]) == ("give up", "idle") and "toy/2" in gone["detail"]["why"], gone


def test_a_gate_that_finds_no_judged_document_lets_nothing_through(tmp_path: Path) -> None:
    from tests.contract.test_policies import experiment_clicking_the_challenger

    with embedb.connect(tmp_path / "data") as db:
        model = experiment_clicking_the_challenger(
            db, "docs", "tests.support.toy_embedders:scrambled_8", "embedb.models.testing:hash_embed_16"
        )
        typo = {
            "queries": {"q1": "a hot drink", "q2": "a large animal"},
            "qrels": {"q1": {"nope-1": 1.0}, "q2": {"nope-2": 2.0}},
        }
        db.set_policy("docs", "embedding", {"mode": "act", "gate": typo, "triggers": ["decay"]})
        db.run_policy("docs", "embedding")
        decided = db.run_policy("docs", "embedding")
        assert decided["action"] == "stop experiment" and not decided["detail"]["gate"]["passed"]
        assert "judged document" in decided["detail"]["gate"]["why"]
        assert db.describe_model(model)["aliases"] == {"champion": 1}
