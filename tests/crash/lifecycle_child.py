"""Child process of the lifecycle kill -9 loop: set up a collection, then run one transition and die at a point.

Usage: python -m tests.crash.lifecycle_child DATA_DIR TRANSITION POINT[:N]

The fresh ``DATA_DIR`` gets ``docs``: ``embedding`` follows ``toy@champion``
(v1, 16-d; v2 and v3 are 8-d), two sealed segments and some rows still in the
WAL. The transition's own setup comes next (a READY v2, a running experiment,
...), then SIGKILL is armed at the ``N``-th time a thread reaches ``POINT``
(default 1) and the transition runs. Exit status 3 means the point was never
reached.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tests.support.bound_collections import bound_schema

import embedb
from embedb.backends.local import LocalBackend
from embedb.config import Settings

SEGMENT_ROWS = 200
WAL_ROWS = 20
CHUNK_ROWS = 64  # several chunks per segment: a kill can fall inside one
V2 = "models:/toy/2"


def create_docs(path: Path) -> LocalBackend:
    db = embedb.connect(path, settings=Settings(backfill_chunk_rows=CHUNK_ROWS, background_compaction=False))
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.register_model("toy", "tests.support.toy_embedders:scrambled_8")
    db.create_collection(
        "docs",
        schema=bound_schema("toy", max_length=64),
    )
    for start in (0, SEGMENT_ROWS):
        db.insert("docs", [{"id": i, "text": f"row {i} apples {i % 5}"} for i in range(start, start + SEGMENT_ROWS)])
        db.flush("docs")
    first = 2 * SEGMENT_ROWS
    db.insert("docs", [{"id": i, "text": f"row {i} pears {i % 3}"} for i in range(first, first + WAL_ROWS)])
    return db


def kill_at(db: LocalBackend, point: str, nth: int) -> None:
    """SIGKILL this process the ``nth`` time a thread reaches ``point``."""
    reached = [0]

    def count_then_kill() -> None:
        reached[0] += 1
        if reached[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    db.database.pause_points.arm(point, count_then_kill)


def start_experiment(db: LocalBackend, champion: str, challenger: str) -> int:
    started = db.start_experiment("docs", "embedding", champion=champion, challenger=challenger, mode="split")
    return int(started["experiment_id"])


def run(db: LocalBackend, transition: str, arm: Callable[[], None]) -> None:
    """Set up what ``transition`` needs, ``arm()`` the kill, run it."""
    if transition == "add":
        arm()
        db.add_embedding_version("docs", "embedding", V2, wait=True, timeout=60)
        return
    if transition == "cancel":
        # The job is held after its first chunk until cancel_job has asked it to stop, so it is RUNNING.
        hold = db.database.pause_points.hold("backfill.chunk.committed")
        job = db.add_embedding_version("docs", "embedding", V2)
        assert hold.reached.wait(30), "the backfill never committed a chunk"
        arm()
        threading.Timer(0.3, hold.release).start()
        db.cancel_job(job["job_id"])
        return
    db.add_embedding_version("docs", "embedding", V2, wait=True, timeout=60)
    if transition == "drop":
        arm()
        db.drop_embedding_version("docs", "embedding", V2)
    elif transition == "promote":
        start_experiment(db, "models:/toy/1", V2)  # the promotion ends it in its own transaction
        arm()
        db.promote("docs", "embedding", V2)
    elif transition == "rollback":
        db.promote("docs", "embedding", V2)
        start_experiment(db, V2, "models:/toy/1")
        arm()
        db.rollback("docs", "embedding")
    elif transition == "start_experiment":
        arm()
        start_experiment(db, "models:/toy/1", V2)
    elif transition == "stop_experiment":
        experiment = start_experiment(db, "models:/toy/1", V2)
        arm()
        db.stop_experiment(experiment)
    elif transition == "promote_experiment":
        experiment = start_experiment(db, "models:/toy/1", V2)
        arm()
        db.promote_experiment(experiment)
    else:
        raise SystemExit(f"unknown transition {transition!r}")


def main() -> None:
    path, transition, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    point, _, nth = target.partition(":")
    db = create_docs(path)
    run(db, transition, lambda: kill_at(db, point, int(nth or 1)))
    sys.exit(3)  # never reached when the point was


if __name__ == "__main__":
    main()
