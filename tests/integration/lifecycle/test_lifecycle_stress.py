"""Many threads against the lifecycle at once, switching every microsecond (issue 18).

Searchers, writers and a thread that promotes, rolls back, adds and drops model
versions run together for a few seconds with ``sys.setswitchinterval(1e-6)``.
Every answer is checked as it comes: one model version per answer, vectors of
that version's dimension; the serving version is never RETIRED; no call fails
except with the refusals the lifecycle documents. At the end every row has a
vector of every READY version.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.lifecycle.conftest import bound_schema

import embedb
from embedb.backends.local import LocalBackend
from embedb.errors import AlreadyExistsError, FailedPreconditionError, InUseError, NotFoundError

RUN_S = 4.0
DIMENSIONS = {"models:/toy/1": 16, "models:/toy/2": 8, "models:/toy/3": 8}
# What a lifecycle call racing the others may answer instead of doing it (documented refusals).
EXPECTED_REFUSALS = (AlreadyExistsError, FailedPreconditionError, InUseError, NotFoundError)


@pytest.fixture
def switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _loop(stop: threading.Event, failures: list[str], done: list[int], body: Callable[[int], None]) -> None:
    step = 0
    while not stop.is_set():
        try:
            body(step)
            done.append(step)
        except EXPECTED_REFUSALS:
            pass
        except Exception as error:  # anything else breaks the run
            failures.append(f"{type(error).__name__}: {error}")
            return
        step += 1


def test_searches_writes_and_transitions_at_once_keep_every_invariant(tmp_path: Path, switching: None) -> None:
    db = embedb.connect(tmp_path / "data", durability="relaxed")
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.register_model("toy", "tests.support.toy_embedders:scrambled_8")
    db.create_collection(
        "docs",
        schema=bound_schema("toy"),
    )
    db.insert("docs", [{"id": i, "text": f"seed {i} apples {i % 7}"} for i in range(200)])
    db.add_embedding_version("docs", "embedding", "models:/toy/2", wait=True)

    stop = threading.Event()
    failures: list[str] = []
    written = [200]
    lock = threading.Lock()

    def search(step: int) -> None:
        (hits,) = db.search("docs", f"apples {step % 7}", limit=5, output_fields=["embedding", "embedding@version"])
        versions = {hit["entity"]["embedding@version"] for hit in hits}
        if len(versions) != 1:
            failures.append(f"one answer, several versions: {versions}")
        for hit in hits:
            version = hit["entity"]["embedding@version"]
            if len(hit["entity"]["embedding"]) != DIMENSIONS[version]:
                failures.append(f"a {version} hit carries a {len(hit['entity']['embedding'])}-d vector")

    def write(step: int) -> None:
        with lock:
            start = written[0]
            written[0] += 5
        db.insert("docs", [{"id": i, "text": f"row {i} pears {i % 5}"} for i in range(start, start + 5)])

    def transition(step: int) -> None:
        action = step % 4
        if action == 0:
            db.promote("docs", "embedding", "models:/toy/2")
        elif action == 1:
            db.rollback("docs", "embedding")
        elif action == 2:
            db.add_embedding_version("docs", "embedding", "models:/toy/3", wait=True)
        else:
            db.drop_embedding_version("docs", "embedding", "models:/toy/3")

    def watch(step: int) -> None:
        for version in db.describe_collection("docs")["embedding_versions"]["embedding"]:
            if version["serving"] and version["state"] != "READY":
                failures.append(f"{version['model_version']} serves while {version['state']}")

    bodies = (search, search, write, write, transition, watch)
    done: list[list[int]] = [[] for _ in bodies]
    threads = [threading.Thread(target=_loop, args=(stop, failures, done[i], body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    time.sleep(RUN_S)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert failures == [], failures[:5]
    searches, transitions = len(done[0]) + len(done[1]), done[4]
    assert searches >= 20 and {step % 4 for step in transitions} == {0, 1, 2, 3}, "every kind of transition ran"

    sys.setswitchinterval(0.005)
    ids = list(range(written[0]))
    assert db.query("docs", "", output_fields=["count(*)"])[0]["count(*)"] == len(ids)
    for version in db.describe_collection("docs")["embedding_versions"]["embedding"]:
        if version["state"] == "READY":
            tag = f"embedding@{version['model_version']}"
            rows = db.get("docs", ids, output_fields=[tag])
            missing = [row["id"] for row in rows if row.get(tag) is None]
            assert missing == [], f"{version['model_version']} is READY but {len(missing)} rows lack its vector"
    db.close()
