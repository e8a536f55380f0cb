"""Transitions never wait for another lock while holding the catalog's (issue 18): no deadlock under load.

Every catalog transaction holds the catalog's lock until it commits, and the
holders of other locks read the catalog: a write checks its model versions under
the store's write lock, a store being opened reads its index definitions under
the storage engine's lock, an experiment starts under the experiment service's
lock. A promotion that checked index completeness (store and index locks) inside
its transaction deadlocked with a write; one that took the experiment service's
lock to stop an experiment deadlocked with an experiment starting — and every
later call waited on the catalog forever. Each test runs the two sides in
threads for a few seconds; before the fix each deadlocked within a second.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.bound_collections import bound_schema

import embedb
from embedb.backends.local import LocalBackend
from embedb.errors import FailedPreconditionError

RUN_S = 2.0
JOIN_S = 20.0
V1, V2 = "models:/toy/1", "models:/toy/2"
# Clients whose threads deadlocked: closing one would wait for their locks forever.
DEADLOCKED: set[int] = set()


@pytest.fixture
def docs(tmp_path: Path) -> Iterator[LocalBackend]:
    """``docs`` (``embedding`` follows toy@champion) with v1 serving and v2 READY, 200 rows in one sealed segment."""
    db = embedb.connect(tmp_path / "data", durability="relaxed", background_compaction=False)
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.create_collection(
        "docs",
        schema=bound_schema("toy", max_length=100),
    )
    db.insert("docs", [{"id": i, "text": f"seed {i} apples {i % 7}"} for i in range(200)])
    db.flush("docs")
    yield db
    if id(db) not in DEADLOCKED:
        db.close()


def run_together(db: LocalBackend, bodies: list[Callable[[int], None]]) -> list[int]:
    """Run each body in a loop in its own thread for ``RUN_S``; return the steps each did, failing on a stuck thread."""
    stop = threading.Event()
    steps = [0] * len(bodies)
    errors: list[str] = []

    def loop(index: int, body: Callable[[int], None]) -> None:
        while not stop.is_set():
            try:
                body(steps[index])
            except FailedPreconditionError:
                pass  # a documented refusal: this race is about locks, not outcomes
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
                return
            steps[index] += 1

    threads = [threading.Thread(target=loop, args=(i, body), daemon=True) for i, body in enumerate(bodies)]
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for thread in threads:
            thread.start()
        time.sleep(RUN_S)
        stop.set()
        deadline = time.monotonic() + JOIN_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        sys.setswitchinterval(before)
    stuck = [thread for thread in threads if thread.is_alive()]
    if stuck:
        DEADLOCKED.add(id(db))
        frames = sys._current_frames()
        stacks = ["".join(traceback.format_stack(frames[t.ident])) for t in stuck if t.ident in frames]
        pytest.fail(f"{len(stuck)} thread(s) deadlocked:\n" + "\n".join(stacks))
    assert errors == [], errors
    return steps


def promote_or_rollback(db: LocalBackend) -> Callable[[int], None]:
    def body(step: int) -> None:
        if step % 2 == 0:
            db.promote("docs", "embedding", V2)
        else:
            db.rollback("docs", "embedding")

    return body


def test_promotions_and_writes_on_an_indexed_field_never_deadlock(docs: LocalBackend) -> None:
    docs.create_index("docs", field_name="embedding", index_type="FLAT")
    docs.add_embedding_version("docs", "embedding", V2, wait=True, timeout=60)

    batches = itertools.count(1000, 5)

    def insert(step: int) -> None:
        first = next(batches)
        docs.insert("docs", [{"id": i, "text": f"row {i}"} for i in range(first, first + 5)])

    steps = run_together(docs, [promote_or_rollback(docs), insert, insert])
    assert min(steps) > 5, steps


def test_promotions_and_experiments_starting_never_deadlock(docs: LocalBackend) -> None:
    docs.add_embedding_version("docs", "embedding", V2, wait=True, timeout=60)

    def start_and_stop(step: int) -> None:
        versions = docs.describe_collection("docs")["embedding_versions"]["embedding"]
        (serving,) = [v["model_version"] for v in versions if v["serving"]]
        challenger = V2 if serving == V1 else V1
        started = docs.start_experiment("docs", "embedding", champion=serving, challenger=challenger, mode="split")
        docs.stop_experiment(started["experiment_id"])

    steps = run_together(docs, [promote_or_rollback(docs), start_and_stop])
    assert min(steps) > 5, steps
    running = [e for e in docs.list_experiments("docs") if e["state"] == "RUNNING"]
    assert running == [] and docs.database.experiments.routes == {}, "an ended experiment still routes"
