"""Backfill jobs: add an embedding version, follow, pause, resume and cancel its job — the same both ways.

The challenger here is ``gated_hash_8``: the job stays RUNNING inside its first
segment until the test opens the gate, so every guarded state is reached on
purpose, never by a race with a fast job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.bound_collections import (
    FIELD,
    GATED_8,
    bound_collection,
    raises_exactly,
    unique_model,
    wait_until_embedding,
)
from tests.support.toy_embedders import Gate

from embedb.client import Client
from embedb.errors import (
    AlreadyExistsError,
    CollectionNotFoundError,
    FailedPreconditionError,
    FieldNotFoundError,
    InUseError,
    InvalidArgumentError,
    InvalidStateError,
    JobNotFoundError,
    ModelVersionNotFoundError,
    NotFoundError,
)

ROWS = 3
UNKNOWN_JOB = 987_654_321


@pytest.fixture
def model() -> str:
    return unique_model()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    """A closed gate, opened at teardown whatever happened, so no job is left held."""
    held = Gate(tmp_path / "gate-open")
    yield held
    held.open()


def gated_collection(db: Client, name: str, model: str, gate: Gate) -> None:
    """One sealed segment of rows whose text names the gate; version 2 (gated) is not added yet.

    One segment, because background compaction may merge small segments at any time:
    where a job stops between segments would depend on it.
    """
    segment = [f"{gate.word} doc {i}" for i in range(ROWS)]
    bound_collection(db, name, model, challenger=GATED_8, segments=[segment], backfill=False)


def test_wait_returns_the_finished_job_and_lists_it(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model, backfill=False)
    job = db.add_embedding_version(name, FIELD, f"{model}@challenger", wait=True, timeout=60)
    assert job["state"] == "DONE" and job["kind"] == "backfill" and job["error"] is None
    assert (job["collection_name"], job["field"], job["model_version"]) == (name, FIELD, f"models:/{model}/2")
    assert (job["rows_done"], job["rows_total"], job["segments_done"], job["progress"]) == (6, 6, 1, 1.0)
    assert job["finished_at"] is not None and job["finished_at"] >= job["created_at"]
    assert job["eta_seconds"] == 0.0
    assert db.get_job(job["job_id"]) == job
    assert [j["job_id"] for j in db.list_jobs(name)] == [job["job_id"]]
    assert job["job_id"] in [j["job_id"] for j in db.list_jobs()]
    assert db.wait_job(job["job_id"], timeout=5)["state"] == "DONE", "waiting on a finished job returns it"
    versions = {v["model_version"]: v for v in db.describe_collection(name)["embedding_versions"][FIELD]}
    assert versions[f"models:/{model}/2"]["state"] == "READY" and versions[f"models:/{model}/2"]["rows"] == 6
    with raises_exactly(AlreadyExistsError, match="already holds"):
        db.add_embedding_version(name, FIELD, f"{model}/2")


def test_adding_a_version_checks_its_arguments(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model, backfill=False)
    with raises_exactly(AlreadyExistsError, match="already holds"):
        db.add_embedding_version(name, FIELD, f"{model}@champion")
    with raises_exactly(CollectionNotFoundError):
        db.add_embedding_version(f"{name}_missing", FIELD, f"{model}@challenger")
    with raises_exactly(ModelVersionNotFoundError):
        db.add_embedding_version(name, FIELD, f"{model}/99")
    with raises_exactly(FieldNotFoundError):
        db.add_embedding_version(name, "no_such_field", f"{model}@challenger")
    with raises_exactly(InvalidArgumentError, match="not bound to a model"):
        db.add_embedding_version(name, "text", f"{model}@challenger")
    assert db.list_jobs(name) == [], "a refused call starts no job"


def test_without_wait_the_job_runs_in_the_background_until_its_wait_times_out(
    db: Client, name: str, model: str, gate: Gate
) -> None:
    gated_collection(db, name, model, gate)
    job = db.add_embedding_version(name, FIELD, f"{model}@challenger")
    assert job["state"] in ("PENDING", "RUNNING") and job["rows_done"] == 0 and job["finished_at"] is None
    wait_until_embedding(db, job["job_id"], rows_total=ROWS)
    assert db.wait_job(job["job_id"], timeout=0.3)["state"] == "RUNNING", "wait_job returns when its timeout passes"
    gate.open()
    done = db.wait_job(job["job_id"], timeout=30)
    assert done["state"] == "DONE" and done["rows_done"] == ROWS and done["segments_done"] == 1


def test_add_with_wait_returns_a_running_job_when_its_timeout_passes(
    db: Client, name: str, model: str, gate: Gate
) -> None:
    gated_collection(db, name, model, gate)
    job = db.add_embedding_version(name, FIELD, f"{model}@challenger", wait=True, timeout=0.5)
    assert job["state"] == "RUNNING" and job["rows_done"] == 0
    gate.open()
    assert db.wait_job(job["job_id"], timeout=30)["state"] == "DONE"


def test_a_paused_job_keeps_its_finished_work_and_resumes(db: Client, name: str, model: str, gate: Gate) -> None:
    gated_collection(db, name, model, gate)
    challenger = f"{model}@challenger"
    job_id = db.add_embedding_version(name, FIELD, challenger)["job_id"]
    wait_until_embedding(db, job_id, rows_total=ROWS)
    gate.open_after(0.3)  # a job stops between chunks: pause returns once the held chunk is written
    paused = db.pause_job(job_id)
    assert paused["state"] == "PAUSED" and paused["finished_at"] is None
    assert (paused["rows_done"], paused["segments_done"]) == (ROWS, 1), "the held chunk was kept"
    with raises_exactly(InvalidStateError, match="PAUSED to PAUSED"):
        db.pause_job(job_id)
    assert db.wait_job(job_id, timeout=5)["state"] == "PAUSED", "a paused job does not run"

    # While its vectors are incomplete the version can neither serve, nor be searched, nor be dropped.
    with raises_exactly(FailedPreconditionError, match="BACKFILLING"):
        db.promote(name, FIELD, challenger)
    with raises_exactly(FailedPreconditionError, match="BACKFILLING"):
        db.search(name, "doc", limit=1, embedding_version=challenger)
    with raises_exactly(FailedPreconditionError, match="BACKFILLING"):
        db.start_experiment(name, FIELD, champion=f"{model}@champion", challenger=challenger, mode="shadow")
    with raises_exactly(InUseError, match=f"backfill job {job_id}"):
        db.drop_embedding_version(name, FIELD, challenger)

    resumed = db.resume_job(job_id)
    assert resumed["state"] == "RUNNING"
    done = db.wait_job(job_id, timeout=30)
    assert done["state"] == "DONE" and done["finished_at"] is not None
    assert (done["rows_done"], done["segments_done"], done["progress"]) == (ROWS, 1, 1.0)
    for control in (db.pause_job, db.resume_job, db.cancel_job):
        with raises_exactly(InvalidStateError, match="from DONE"):
            control(job_id)
    assert db.promote(name, FIELD, challenger)["to_version"] == f"models:/{model}/2"


def test_a_cancelled_job_retires_its_version(db: Client, name: str, model: str, gate: Gate) -> None:
    gated_collection(db, name, model, gate)
    challenger = f"{model}@challenger"
    job_id = db.add_embedding_version(name, FIELD, challenger)["job_id"]
    wait_until_embedding(db, job_id, rows_total=ROWS)
    gate.open_after(0.3)
    cancelled = db.cancel_job(job_id)
    assert cancelled["state"] == "CANCELLED" and cancelled["finished_at"] is not None
    for control in (db.pause_job, db.resume_job, db.cancel_job):
        with raises_exactly(InvalidStateError, match="from CANCELLED"):
            control(job_id)
    versions = {v["model_version"]: v for v in db.describe_collection(name)["embedding_versions"][FIELD]}
    assert (versions[f"models:/{model}/2"]["state"], versions[f"models:/{model}/2"]["rows"]) == ("RETIRED", 0)
    with raises_exactly(NotFoundError, match="holds no vectors"):
        db.search(name, "doc", limit=1, embedding_version=challenger)
    assert db.delete_model_alias(model, "challenger") is None
    assert db.delete_model_version(model, 2)["version"] == 2, "no collection holds the cancelled version's vectors"


def test_a_cancelled_version_can_be_added_again(db: Client, name: str, model: str, gate: Gate) -> None:
    gated_collection(db, name, model, gate)
    first = db.add_embedding_version(name, FIELD, f"{model}@challenger")["job_id"]
    wait_until_embedding(db, first, rows_total=ROWS)
    gate.open_after(0.3)
    assert db.cancel_job(first)["state"] == "CANCELLED"
    second = db.add_embedding_version(name, FIELD, f"{model}@challenger", wait=True, timeout=60)
    assert second["job_id"] != first and second["state"] == "DONE" and second["rows_done"] == ROWS
    assert [j["state"] for j in db.list_jobs(name)] == ["CANCELLED", "DONE"]


def test_unknown_jobs(db: Client) -> None:
    for call in (db.get_job, db.wait_job, db.pause_job, db.resume_job, db.cancel_job):
        with raises_exactly(JobNotFoundError, match=f"job {UNKNOWN_JOB} does not exist"):
            call(UNKNOWN_JOB)
    with raises_exactly(CollectionNotFoundError):
        db.list_jobs("no_such_collection_anywhere")
