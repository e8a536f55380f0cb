"""A backfill keeps its committed chunks across a pause, a clean close and a cancel cut short by a crash.

One sealed segment of ``ROWS`` rows, chunks of ``CHUNK``: the row at ``HELD_ROW``
names a gate, so ``gated_hash_8`` holds the job inside its third chunk until the
test opens the gate — where the job stops is deterministic (kill -9 at random
points is ``tests/crash/test_backfill_chunks_kill9.py``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.toy_embedders import Gate

import embedb
from embedb.backends.local import LocalBackend
from embedb.client import Client
from embedb.collection import Collection
from embedb.config import Settings
from embedb.job import Job
from embedb.models.testing import hash_embed

ROWS = 1000
CHUNK = 100
HELD_ROW = 250  # in the third chunk: two chunks commit before the job is held
KEY = "embedding@toy/2"
SETTINGS = Settings(backfill_chunk_rows=CHUNK, background_compaction=False)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    held = Gate(tmp_path / "gate-open")
    yield held
    held.open()


def texts(gate: Gate) -> list[str]:
    return [f"row{i} apple {i % 7}" + (f" {gate.word}" if i == HELD_ROW else "") for i in range(ROWS)]


def prepare(path: Path, gate: Gate) -> None:
    with embedb.connect(path, settings=SETTINGS) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "tests.support.toy_embedders:gated_hash_8")
        db.create_collection(
            "docs",
            schema={
                "fields": [
                    {"name": "id", "type": "INT64", "is_primary": True},
                    {"name": "text", "type": "VARCHAR", "max_length": 400},
                    {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": "toy@champion"},
                ]
            },
        )
        db.insert("docs", [{"id": i, "text": t} for i, t in enumerate(texts(gate))])
        db.flush("docs")


def start_held(db: Client) -> Job:
    """Start the backfill and return once it committed the two chunks before the held one."""
    job = db.collection("docs").add_embedding_version("embedding", "toy/2")
    deadline = time.monotonic() + 30
    while job.progress["rows_done"] < 2 * CHUNK:
        assert time.monotonic() < deadline, job.describe()
        time.sleep(0.01)
    assert job.progress["rows_done"] == 2 * CHUNK and job.state == "RUNNING", "held inside the third chunk"
    return job


def rows_in_storage(db: Client) -> int:
    """The rows of the new column that storage holds durably (the partial column's, until it is complete)."""
    assert isinstance(db, LocalBackend)
    store = db.engine.store(db.engine.collection("docs"))
    (data,) = store.sealed_segments()
    return store.vector_rows_done(data.segment_id, KEY)


def partial_files(path: Path) -> list[Path]:
    return list(path.glob("collections/*/segments/*/partial.*"))


def assert_backfilled(col: Collection, gate: Gate) -> None:
    rows = col.query("", output_fields=["text", KEY])
    assert [r["id"] for r in rows] == list(range(ROWS))
    expected = hash_embed(texts(gate), dimension=8)
    np.testing.assert_array_equal(np.array([r[KEY] for r in rows], dtype=np.float32), expected)


def test_a_paused_job_stays_paused_across_a_reopen_and_resumes_from_its_last_chunk(tmp_path: Path, gate: Gate) -> None:
    path = tmp_path / "data"
    prepare(path, gate)
    with embedb.connect(path, settings=SETTINGS) as db:
        job = start_held(db)
        gate.open_after(0.3)  # pause returns once the held chunk has committed
        paused = job.pause()
        assert (paused["state"], paused["rows_done"], paused["segments_done"]) == ("PAUSED", 3 * CHUNK, 0)
        assert rows_in_storage(db) == 3 * CHUNK, "the job's counters and the committed rows agree"

    with embedb.connect(path, settings=SETTINGS) as db:
        job = db.collection("docs").job(paused["job_id"])
        time.sleep(0.3)
        assert (job.state, job.progress["rows_done"]) == ("PAUSED", 3 * CHUNK), "a paused job does not resume by itself"
        assert rows_in_storage(db) == 3 * CHUNK and len(partial_files(path)) == 1
        job.resume()
        done = job.wait(timeout=60)
        assert (done["state"], done["rows_done"], done["rows_total"], done["segments_done"]) == ("DONE", ROWS, ROWS, 1)
        assert_backfilled(db.collection("docs"), gate)
    assert partial_files(path) == []


def test_a_running_job_closed_cleanly_resumes_by_itself_on_the_next_writable_open(tmp_path: Path, gate: Gate) -> None:
    path = tmp_path / "data"
    prepare(path, gate)
    with embedb.connect(path, settings=SETTINGS) as db:
        job_id = start_held(db).id
        gate.open_after(0.3)
    # closing stopped it after the held chunk

    with embedb.connect(path, read_only=True) as reader:
        kept = reader.get_job(job_id)
        assert (kept["state"], kept["rows_done"]) == ("RUNNING", 3 * CHUNK), "read-only: shown, not run"
    with embedb.connect(path, settings=SETTINGS) as db:
        done = db.collection("docs").job(job_id).wait(timeout=60)
        assert (done["state"], done["rows_done"], done["segments_done"]) == ("DONE", ROWS, 1)
        assert_backfilled(db.collection("docs"), gate)


def test_a_cancel_cut_short_by_a_crash_is_finished_on_the_next_open(tmp_path: Path, gate: Gate) -> None:
    path = tmp_path / "data"
    prepare(path, gate)
    with embedb.connect(path, settings=SETTINGS) as db:
        job = start_held(db)
        gate.open_after(0.3)
        job.pause()
    assert len(partial_files(path)) == 1
    # The cancel's catalog transaction committed (the version is RETIRING); the crash came
    # before its vectors were dropped.
    with sqlite3.connect(path / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE lifecycle_jobs SET state = 'CANCELLED' WHERE id = ?", (job.id,))
        catalog.execute("UPDATE embedding_versions SET state = 'RETIRING' WHERE column_key = ?", (KEY,))
    catalog.close()

    with embedb.connect(path, settings=SETTINGS) as db:
        assert db.get_job(job.id)["state"] == "CANCELLED"
        assert partial_files(path) == [], "the open finishes the cancel: the partial column goes too"
        assert rows_in_storage(db) == 0
        second = db.collection("docs").add_embedding_version("embedding", "toy/2")
        assert second.wait(timeout=60)["rows_done"] == ROWS, "the version can be added again and starts from row 0"
