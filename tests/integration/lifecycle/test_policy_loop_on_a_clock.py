"""The whole loop on a clock, without a person: decay -> retrain -> backfill -> experiment -> promote -> watch -> rollback.

A real embedded database serves an LSA model on shipped WordNet synsets. The
search monitor and the policy read one test clock, so a week of history takes
seconds: six days of searches whose top hit is close (the query is a stored
text), then a day of off-domain queries (made-up words: no hit is close). The
policy (``act``, with an offline gate on judged queries it never trains on)
notices the decay, refits the LSA on today's texts and the clicks an earlier
experiment logged, backfills it, runs an interleaving experiment that simulated
users settle, promotes it with the gate's consent, then watches the new champion:
when its own searches turn off-domain an hour after the promotion, it rolls back.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support.bound_collections import bound_schema

import embedb
from embedb.datasets import load_revdict
from embedb.engine.policies import PolicyOperation
from embedb.models import train_lsa

pytestmark = pytest.mark.slow

DATA = load_revdict()
TEXTS = dict(DATA.queries)
QUERY_IDS = [query for query, _ in DATA.queries[:400]]
FEEDBACK, GATE, TRAFFIC = QUERY_IDS[:200], QUERY_IDS[200:260], QUERY_IDS[260:400]
HOUR = 3_600.0


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _judged(ids: list[str]) -> dict[str, Any]:
    return {
        "queries": {q: TEXTS[q] for q in ids},
        "qrels": {q: {d: float(g) for d, g in DATA.qrels[q].items()} for q in ids},
    }


def _clicks(db: embedb.Client, ids: list[str], rng: random.Random, *, tag: str) -> None:
    """Users search ``ids`` and click the relevant synset when it is shown (more often near the top)."""
    for position, query in enumerate(ids):
        (hits,) = db.search("words", TEXTS[query], limit=10, user_key=f"{tag}{position}")
        for rank, hit in enumerate(hits):
            if hit["id"] in DATA.qrels[query] and rng.random() < 0.95 * 0.9**rank:
                db.feedback("words", hit["query_id"], hit["id"])
                break


def _searches(db: embedb.Client, clock: Clock, texts: list[str], start: float, end: float) -> None:
    """Search ``texts`` one at a time, spread evenly over [start, end) on the test clock."""
    for position, text in enumerate(texts):
        clock.now = start + (end - start) * position / len(texts)
        db.search("words", text, limit=3)
    db.database.monitor.flush()  # type: ignore[attr-defined]


@pytest.mark.parametrize("by_hand", [False, True], ids=["policy-rolls-back", "a-person-rolled-back-first"])
def test_the_loop_runs_itself_from_decay_to_rollback(tmp_path: Path, by_hand: bool) -> None:
    """And when a person rolled back during the watch, the policy reads that and does not undo it."""
    rng = random.Random(5)
    relevant = {doc for query in QUERY_IDS for doc in DATA.qrels[query]}
    corpus = dict([(doc, text) for doc, text in DATA.corpus if doc in relevant] + rng.sample(DATA.corpus, 1_500))
    stored = list(corpus.values())
    gibberish = [" ".join(f"zq{rng.randrange(10**6)}x" for _ in range(3)) for _ in range(120)]
    clock = Clock(time.time() - 8 * 86_400)
    with embedb.connect(tmp_path / "data") as db:
        database = db.database  # type: ignore[attr-defined]
        database.monitor.clock = clock
        lsa = train_lsa([text for _, text in DATA.corpus[:4_000]], dims=64, seed=0)
        db.register_model("lsa", lsa, alias="champion")
        db.register_model("lsa", lsa)  # the same model again: an A/A experiment that gathers clicks
        db.create_collection(
            "words",
            schema=bound_schema("lsa", max_length=2000, text_ids=True),
        )
        db.insert("words", [{"id": doc, "text": text} for doc, text in corpus.items()])
        db.add_embedding_version("words", "embedding", "lsa/2", wait=True, timeout=120)
        gathering = db.start_experiment(
            "words", "embedding", champion="lsa@champion", challenger="lsa/2", mode="interleave"
        )
        _clicks(db, FEEDBACK, rng, tag="f")
        db.stop_experiment(gathering["experiment_id"])

        start = clock.now
        _searches(db, clock, rng.sample(stored, 300), start, start + 6 * 86_400)  # a calm week: stored texts
        _searches(db, clock, gibberish[:60], start + 7 * 86_400 - 23 * HOUR, start + 7 * 86_400)  # then a bad day
        clock.now = start + 7 * 86_400
        policies = PolicyOperation(database.catalog, database.metadata, lambda name: database.operations[name], clock)
        policies.set_policy("words", "embedding", {"mode": "act", "gate": _judged(GATE), "triggers": ["decay"]})

        retrained = policies.run_policy("words", "embedding")
        assert retrained["action"] == "retrain and backfill", retrained["detail"]
        assert retrained["detail"]["decay"]["low_similarity_rate"]["decayed"]
        challenger = retrained["detail"]["model_version"]
        assert (
            challenger == "models:/lsa/3"
            and db.describe_model_version(challenger)["lineage"]["parent"] == "models:/lsa/1"
        )
        db.wait_job(retrained["detail"]["job_id"], timeout=120)
        started = policies.run_policy("words", "embedding")
        assert (started["action"], started["state"]) == ("start experiment", "experimenting")

        for round_ in range(4):  # days of users on the two rankings, interleaved
            _clicks(db, TRAFFIC, rng, tag=f"t{round_}")
            decided = policies.run_policy("words", "embedding")
            if decided["action"] != "none":
                break
        assert decided["action"] == "promote" and decided["detail"]["gate"]["passed"], decided["detail"]
        assert db.describe_model("lsa")["aliases"]["champion"] == 3 and decided["state"] == "watching"

        promoted = clock.now
        _searches(db, clock, rng.sample(stored, 60), promoted + 60, promoted + HOUR)  # its first hour: calm
        if by_hand:
            db.rollback("words", "embedding", reason="by hand")
        _searches(db, clock, gibberish[60:], promoted + HOUR, promoted + 2 * HOUR)  # then off-domain
        clock.now = promoted + 2 * HOUR
        rolled = policies.run_policy("words", "embedding")
        if by_hand:
            assert (rolled["action"], rolled["state"]) == ("none", "idle") and "someone moved it" in rolled["detail"][
                "why"
            ]
            assert db.describe_model("lsa")["aliases"]["champion"] == 1
            assert db.model_alias_history("lsa", "champion")[-1]["reason"] == "by hand"
            return
        assert rolled["action"] == "roll back" and rolled["acted"] and rolled["state"] == "idle", rolled["detail"]
        assert db.describe_model("lsa")["aliases"]["champion"] == 1
        assert db.model_alias_history("lsa", "champion")[-1]["reason"] == "policy: the new champion decayed"
        actions = [event["action"] for event in policies.get_policy("words", "embedding")["events"]]
        assert actions[:2] == ["retrain and backfill", "start experiment"] and actions[-2:] == ["promote", "roll back"]
        assert set(actions[2:-2]) <= {"none"}, actions
