"""Policies: the loop's next step named (suggest) or taken (act); never a promotion the offline gate refuses.

Users in these tests click the challenger's hits, so the interleaving verdict says
promote whether or not the challenger is better. The policy's gate — judged
revdict queries — lets a challenger that knows words (``hash_embed_16``) through
and stops one that knows none (``scrambled_8``). Embedded and over HTTP.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from tests.support.bound_collections import bound_schema

from embedb.client import Client
from embedb.datasets import load_revdict
from embedb.errors import InvalidArgumentError, NotFoundError

DATA = load_revdict()
QUERY_IDS = [query for query, _ in DATA.queries[:60]]
TEXTS = dict(DATA.queries)
GATE = {
    "queries": {query: TEXTS[query] for query in QUERY_IDS},
    "qrels": {query: {doc: float(grade) for doc, grade in DATA.qrels[query].items()} for query in QUERY_IDS},
}


def experiment_clicking_the_challenger(db: Client, name: str, champion: str, challenger: str) -> str:
    """A collection whose field serves ``champion`` and an interleaving experiment users settle for ``challenger``."""
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, champion, alias="champion")
    db.register_model(model, challenger)
    relevant = {doc for query in QUERY_IDS for doc in DATA.qrels[query]}
    corpus = dict([(doc, text) for doc, text in DATA.corpus if doc in relevant] + DATA.corpus[:200])
    schema = bound_schema(model, max_length=2000, text_ids=True)
    db.create_collection(name, schema=schema)
    db.insert(name, [{"id": doc, "text": text} for doc, text in corpus.items()])
    db.add_embedding_version(name, "embedding", f"{model}/2", wait=True, timeout=120)
    db.start_experiment(name, "embedding", champion=f"{model}@champion", challenger=f"{model}/2", mode="interleave")
    for user, query in enumerate(QUERY_IDS):
        (hits,) = db.search(name, TEXTS[query], limit=6, user_key=f"u{user}")
        chosen = next((hit for hit in hits if hit["arm"] == "challenger"), None)
        if chosen is not None:
            db.feedback(name, chosen["query_id"], chosen["id"])
    assert db.experiment_report(db.list_experiments(name)[0]["experiment_id"])["decision"] == "promote"
    return model


def test_the_gate_keeps_a_worse_challenger_out_whatever_users_clicked(db: Client, name: str) -> None:
    model = experiment_clicking_the_challenger(
        db, name, "embedb.models.testing:hash_embed_16", "tests.support.toy_embedders:scrambled_8"
    )
    db.set_policy(name, "embedding", {"mode": "act", "gate": GATE})
    adopted = db.run_policy(name, "embedding")
    assert (adopted["action"], adopted["acted"], adopted["state"]) == ("adopt experiment", True, "experimenting")
    decided = db.run_policy(name, "embedding")
    assert decided["action"] == "stop experiment" and decided["detail"]["why"] == "the offline gate failed"
    assert decided["detail"]["gate"]["delta"] < 0 and decided["state"] == "idle"
    assert db.describe_model(model)["aliases"] == {"champion": 1}
    assert db.list_experiments(name)[0]["state"] == "STOPPED"
    assert [e["action"] for e in db.get_policy(name, "embedding")["events"]] == ["adopt experiment", "stop experiment"]


def test_a_better_challenger_is_promoted_and_watched(
    db: Client, name: str, recorded_actor: Callable[[str | None], str | None]
) -> None:
    model = experiment_clicking_the_challenger(
        db, name, "tests.support.toy_embedders:scrambled_8", "embedb.models.testing:hash_embed_16"
    )
    db.set_policy(name, "embedding", {"mode": "suggest", "gate": GATE})
    named = db.run_policy(name, "embedding")
    assert (named["action"], named["acted"], named["state"]) == ("adopt experiment", False, "idle"), (
        "suggest takes no step"
    )
    db.set_policy(name, "embedding", {"mode": "act", "gate": GATE})
    db.run_policy(name, "embedding")
    promoted = db.run_policy(name, "embedding", actor="cron@ops")
    assert promoted["action"] == "promote" and promoted["acted"] and promoted["state"] == "watching"
    assert promoted["detail"]["gate"]["passed"] and promoted["detail"]["moved"]["to"] == f"models:/{model}/2"
    assert db.describe_model(model)["aliases"] == {"champion": 2}
    moved = db.model_alias_history(model, "champion")[-1]
    assert str(moved["reason"]).startswith("policy:") and moved["actor"] == recorded_actor("cron@ops")
    assert promoted["detail"]["by"] == recorded_actor("cron@ops"), "the policy's event names who ran the step"
    watching = db.run_policy(name, "embedding")
    assert watching["action"] == "none" and watching["state"] == "watching" and "too soon" in watching["detail"]["why"]


def test_policies_are_checked_and_can_be_switched_off(db: Client, name: str) -> None:
    db.create_collection(name, dimension=4)
    with pytest.raises(InvalidArgumentError, match="not bound"):
        db.set_policy(name, "vector", {"mode": "act"})
    with pytest.raises(NotFoundError, match="no policy"):
        db.run_policy(name, "vector")
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    other = f"{name}_b"
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 100},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
        ]
    }
    db.create_collection(other, schema=schema)
    try:
        for bad, match in (
            ({"mode": "sometimes"}, "mode"),
            ({"when": 1}, "unknown policy"),
            ({"gate": {"q": 1}}, "gate"),
            ({"gate": {"queries": {"q": "topic 1"}, "qrels": {"q": [1]}}}, "qrels is not"),
            ({"gate": {"queries": "x", "qrels": 5}}, "queries is not"),
            ({"gate": {"queries": {"q": "t"}, "qrels": {"other": {"d": 1.0}}}}, "have no text"),
            ({"gate": {"queries": {"q": "t"}, "qrels": {"q": {"d": 0.0}}}}, "relevant document"),
            ({"on_alert": "evaluate"}, "needs a gate"),
            ({"triggers": [["decay"]]}, "triggers"),
            ({"triggers": [{"a": 1}]}, "triggers"),
            ({"triggers": ["decay", "decay"]}, "triggers"),
            ({"triggers": ["rain"]}, "triggers"),
            ({"on_alert": "panic"}, "on_alert"),
            ({"window_hours": 0.5}, "window_hours"),
            ({"epochs": 0}, "epochs"),
        ):
            with pytest.raises(InvalidArgumentError, match=match):
                db.set_policy(other, "embedding", bad)
        db.set_policy(other, "embedding", {"mode": "off"})
        off = db.run_policy(other, "embedding")
        assert (off["action"], off["acted"]) == ("none", False) and off["detail"]["why"] == "the policy is off (paused)"
        db.set_policy(other, "embedding", {"mode": "act"})
        calm = db.run_policy(other, "embedding")
        assert calm["action"] == "none" and calm["detail"]["why"] == "no alert: no decay, no drift"
        assert "too few" in calm["detail"]["drift"]["why"] or "kept 0" in calm["detail"]["drift"]["why"]
    finally:
        db.drop_collection(other)
