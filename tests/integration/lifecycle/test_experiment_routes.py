"""An experiment routes searches only while it is RUNNING (issue 18).

A promotion ends the experiment running on its field inside its own transaction
and takes its route away. An experiment used to be routed after its start had
committed, outside the catalog's lock: a promotion committing in between ended it,
found no route to take away, and the start then routed searches through an
experiment that had already stopped — its champion no longer serving.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.support.bound_collections import bound_schema

import embedb
from embedb.backends.local import LocalBackend

V1, V2 = "models:/toy/1", "models:/toy/2"


def test_a_promotion_committing_right_after_an_experiment_starts_leaves_no_route(tmp_path: Path) -> None:
    db = embedb.connect(tmp_path / "data", durability="relaxed")
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.create_collection(
        "docs",
        schema=bound_schema("toy", max_length=100),
    )
    db.insert("docs", [{"id": i, "text": f"seed {i} apples {i % 7}"} for i in range(50)])
    db.add_embedding_version("docs", "embedding", V2, wait=True, timeout=60)

    hold = db.database.pause_points.hold("experiments.start.committed")
    started: list[int] = []

    def start() -> None:
        started.append(
            db.start_experiment("docs", "embedding", champion=V1, challenger=V2, mode="split")["experiment_id"]
        )

    starter = threading.Thread(target=start)
    starter.start()
    assert hold.reached.wait(30), "the experiment never committed"
    db.promote("docs", "embedding", V2)  # ends the experiment it finds running
    hold.release()
    starter.join(30)

    (experiment,) = db.list_experiments("docs")
    assert started == [experiment["experiment_id"]] and experiment["state"] == "STOPPED"
    assert db.database.experiments.routes == {}, "a stopped experiment still routes"
    (hits,) = db.search("docs", "apples 3", limit=3, output_fields=["embedding@version"])
    assert {hit["entity"]["embedding@version"] for hit in hits} == {V2} and "arm" not in hits[0]
    db.close()
