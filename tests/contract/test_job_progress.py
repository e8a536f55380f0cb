"""``add_embedding_version(progress=...)`` reports progress whether the caller waits or not, on both backends."""

from __future__ import annotations

import threading
import uuid

import pytest
from tests.support.server_process import ServerProcess

from embedb.backends.http import HttpBackend
from embedb.client import Client

SEGMENTS = 3
# Over one backfill chunk (Settings.backfill_chunk_rows, 4096) even when compaction merges the segments first.
ROWS_PER_SEGMENT = 1400
ROWS = SEGMENTS * ROWS_PER_SEGMENT


@pytest.fixture
def model() -> str:
    return f"m_{uuid.uuid4().hex[:10]}"


def bound_collection(db: Client, name: str, model: str) -> None:
    """A model-bound field over three sealed segments, and a slow challenger (about 0.6 s a segment)."""
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model(model, "tests.support.slow_embedders:counted_hash_8", alias="challenger")
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 64},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
        ]
    }
    db.create_collection(name, schema=schema)
    for segment in range(SEGMENTS):
        first = segment * ROWS_PER_SEGMENT
        db.insert(name, [{"id": i, "text": f"word{i} apple"} for i in range(first, first + ROWS_PER_SEGMENT)])
        db.flush(name)


def test_progress_is_reported_without_waiting(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model)
    calls: list[tuple[int, int]] = []
    finished = threading.Event()

    def progress(rows_done: int, rows_total: int) -> None:
        calls.append((rows_done, rows_total))
        if rows_done == rows_total == ROWS:
            finished.set()

    job = db.add_embedding_version(name, "embedding", f"{model}@challenger", progress=progress)
    assert job["state"] in ("PENDING", "RUNNING"), "wait=False returns at once"
    assert db.wait_job(job["job_id"], timeout=60)["state"] == "DONE"
    assert finished.wait(10), f"the last report says every row is done (got {calls})"
    assert len(set(calls)) >= 2, "reported as the job ran, not only at the end"
    done = [rows_done for rows_done, _ in calls]
    assert done == sorted(done) and all(0 <= d <= t for d, t in calls)


def test_a_failing_progress_callback_does_not_stop_the_job(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model)

    def progress(rows_done: int, rows_total: int) -> None:
        raise RuntimeError("a broken progress bar")

    job = db.add_embedding_version(name, "embedding", f"{model}@challenger", progress=progress)
    finished = db.wait_job(job["job_id"], timeout=60)
    assert finished["state"] == "DONE" and finished["rows_done"] == ROWS


def test_closing_an_http_client_stops_following_its_jobs(contract_server: ServerProcess, name: str, model: str) -> None:
    client = HttpBackend(contract_server.url, token=contract_server.token)
    bound_collection(client, name, model)
    job = client.add_embedding_version(name, "embedding", f"{model}@challenger", progress=lambda done, total: None)
    watcher = f"embedb-job-progress-{job['job_id']}"
    assert any(thread.name == watcher for thread in threading.enumerate())
    client.close()
    assert not any(thread.name == watcher for thread in threading.enumerate())
