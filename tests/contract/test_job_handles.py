"""Reattaching to a backfill job from a collection: ``col.job(id)`` — the same both ways.

A user who started a backfill and lost the handle (a restart, another process)
finds it again by id, as ``col.experiment(id)`` does for experiments.
"""

from __future__ import annotations

from tests.support.bound_collections import FIELD, bound_collection, raises_exactly, unique_model

from embedb.client import Client
from embedb.errors import InvalidArgumentError, JobNotFoundError

UNKNOWN_JOB = 987_654_321


def test_a_collection_reattaches_to_its_job_by_id(db: Client, name: str) -> None:
    model = unique_model()
    bound_collection(db, name, model, backfill=False)
    started = db.collection(name).add_embedding_version(FIELD, f"{model}@challenger")
    started.wait(timeout=60)

    job = db.collection(name).job(started.id)
    assert job.id == started.id and job.backend is db
    assert job.describe() == db.get_job(started.id)
    assert job.state == "DONE" and job.progress["rows_done"] == job.progress["rows_total"] == 6
    assert [j["job_id"] for j in db.collection(name).list_jobs()] == [started.id]


def test_a_collection_reattaches_through_an_alias(db: Client, name: str) -> None:
    model = unique_model()
    bound_collection(db, name, model)
    (job_id,) = [j["job_id"] for j in db.list_jobs(name)]
    alias = f"{name}_alias"
    db.create_alias(name, alias)
    try:
        assert db.collection(alias).job(job_id).state == "DONE"
    finally:
        db.drop_alias(alias)


def test_an_unknown_job_or_a_job_of_another_collection_is_not_found(db: Client, name: str, other_name: str) -> None:
    model = unique_model()
    bound_collection(db, name, model)
    bound_collection(db, other_name, unique_model())
    (job_id,) = [j["job_id"] for j in db.list_jobs(name)]
    with raises_exactly(JobNotFoundError, match=f"job {UNKNOWN_JOB} does not exist"):
        db.collection(name).job(UNKNOWN_JOB)
    with raises_exactly(JobNotFoundError, match=f"job {job_id} is not a job of collection '{other_name}'"):
        db.collection(other_name).job(job_id)
    with raises_exactly(InvalidArgumentError, match="job_id"):
        db.collection(name).job("1")  # type: ignore[arg-type]
