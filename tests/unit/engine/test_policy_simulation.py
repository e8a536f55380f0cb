"""Many champion/challenger pairs through a real policy: a challenger worse on held-out judgements is never promoted.

Synthetic documents (bags of 8 made-up words) and queries (3 words of their
document and one stray word) are ranked by a ladder of model versions, each
clearly worse than the one before (``tests.support.toy_embedders.ladder_*``).
Every ordered pair of rungs is a scenario, twice: simulated users click the
relevant document when it is shown, or click whatever the challenger placed
(users who would promote anything). A policy in ``act`` mode with an offline
gate on 60 judged queries runs each interleaving experiment to its end. The
challenger's quality is then measured on 60 other judged queries the gate never
saw: no promoted challenger may be worse there, and a better challenger that
users really prefer should mostly get through.
"""

from __future__ import annotations

import random
from itertools import permutations
from pathlib import Path
from typing import Any

import pytest
from tests.support.bound_collections import bound_schema

import embedb

pytestmark = pytest.mark.slow

RUNGS = 4
rng = random.Random(7)
VOCABULARY = [f"w{i}" for i in range(600)]
DOCS = {f"d{i}": " ".join(rng.sample(VOCABULARY, 8)) for i in range(400)}
QUERIES = {f"q{i}": " ".join([*rng.sample(DOCS[f"d{i}"].split(), 3), rng.choice(VOCABULARY)]) for i in range(200)}
QRELS = {f"q{i}": {f"d{i}": 1.0} for i in range(200)}
GATE, HELD_OUT, TRAFFIC = (
    [f"q{i}" for i in range(0, 60)],
    [f"q{i}" for i in range(60, 120)],
    [f"q{i}" for i in range(120, 200)],
)


def _judged(ids: list[str]) -> dict[str, Any]:
    return {"queries": {q: QUERIES[q] for q in ids}, "qrels": {q: QRELS[q] for q in ids}}


def _scenario(db: embedb.Client, number: int, champion: int, challenger: int, clicks: str) -> dict[str, Any]:
    model, name = f"ladder{number}", f"docs{number}"
    db.register_model(model, f"tests.support.toy_embedders:ladder_{champion}", alias="champion")
    db.register_model(model, f"tests.support.toy_embedders:ladder_{challenger}")
    db.create_collection(name, schema=bound_schema(model, max_length=200, text_ids=True))
    db.insert(name, [{"id": doc, "text": text} for doc, text in DOCS.items()])
    db.add_embedding_version(name, "embedding", f"{model}/2", wait=True, timeout=60)
    db.start_experiment(name, "embedding", champion=f"{model}@champion", challenger=f"{model}/2", mode="interleave")
    db.set_policy(name, "embedding", {"mode": "act", "gate": _judged(GATE), "triggers": ["decay"]})
    users = random.Random(number)
    step: dict[str, Any] = {"action": "none"}
    for round_ in range(3):
        for position, query in enumerate(TRAFFIC):
            (hits,) = db.search(name, QUERIES[query], limit=10, user_key=f"r{round_}u{position}")
            for rank, hit in enumerate(hits):
                wanted = hit["arm"] == "challenger" if clicks == "challenger" else hit["id"] in QRELS[query]
                if wanted and users.random() < 0.9 * 0.85**rank:
                    db.feedback(name, hit["query_id"], hit["id"])
                    break
        while (step := dict(db.run_policy(name, "embedding")))["action"] == "adopt experiment":
            pass
        if step["action"] != "none":
            break
    held_out = db.evaluate(
        name,
        "embedding",
        **_judged(HELD_OUT),
        versions=[f"models:/{model}/1", f"models:/{model}/2"],
        baseline=f"models:/{model}/1",
        candidate=f"models:/{model}/2",
        ann_check=False,
    )
    comparison = held_out["comparisons"][f"models:/{model}/2"]
    serving = next(v for v in db.describe_collection(name)["embedding_versions"]["embedding"] if v["serving"])
    return {
        "action": step["action"],
        "promoted": serving["model_version"] == f"models:/{model}/2",
        "held_out_delta": comparison.get("delta", comparison.get("difference")),
        "gate": step.get("detail", {}).get("gate"),
    }


def test_no_promoted_challenger_is_worse_on_held_out_judgements(tmp_path: Path) -> None:
    outcomes = []
    with embedb.connect(tmp_path / "data") as db:
        for number, ((champion, challenger), clicks) in enumerate(
            (pair, clicks) for pair in permutations(range(RUNGS), 2) for clicks in ("relevant", "challenger")
        ):
            outcome = _scenario(db, number, champion, challenger, clicks)
            outcomes.append({"champion": champion, "challenger": challenger, "clicks": clicks, **outcome})
    worse = [o for o in outcomes if o["challenger"] > o["champion"]]
    assert all(o["held_out_delta"] < 0 for o in worse), "the ladder: a higher rung is worse on held-out queries"
    assert not [o for o in outcomes if o["promoted"] and o["held_out_delta"] < 0], outcomes
    fooled = [o for o in worse if o["clicks"] == "challenger"]
    assert all(o["action"] == "stop experiment" and not o["gate"]["passed"] for o in fooled), (
        "users clicking a worse challenger win it the online verdict; the gate stops it"
    )
    wanted = [o for o in outcomes if o["challenger"] < o["champion"] and o["clicks"] == "relevant"]
    assert sum(o["promoted"] for o in wanted) >= len(wanted) - 1, outcomes
