"""Embedding versions of model-bound fields: backfill jobs, promotion, rollback, history — over one ``Database``.

Each method has the name and signature of its ``Backend`` operation and only
routes to ``embedb.lifecycle.LifecycleService``, which holds the rules.
"""

from __future__ import annotations

from typing import Any, cast

from embedb.contract.results import DroppedVersion, Job, ServingChange, ServingHistoryEntry
from embedb.errors import InvalidArgumentError
from embedb.lifecycle import JobProgress, JobRecord, LifecycleService
from embedb.metadata import CollectionMetadata
from embedb.storage import StorageEngine


class LifecycleOperations:
    """add / drop embedding versions, backfill jobs, promote, rollback, serving history."""

    def __init__(self, storage: StorageEngine, metadata: CollectionMetadata, lifecycle: LifecycleService) -> None:
        self.storage = storage
        self.metadata = metadata
        self.lifecycle = lifecycle

    def _job_dict(self, record: JobRecord) -> Job:
        name = self.storage.collection_by_id(record.collection_id).name
        return cast(Job, record.to_dict(collection=name, rows_per_second=self.lifecycle.runner.rate(record.id)))

    def add_embedding_version(
        self,
        collection_name: str,
        field_name: str,
        model: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        progress: JobProgress | None = None,
    ) -> Job:
        """Start embedding every row of ``field_name`` with ``model`` (a backfill job); return the job."""
        record = self.lifecycle.add_embedding_version(
            self.metadata.info(collection_name), field_name, model, progress=progress
        )
        if wait:
            record = self.lifecycle.runner.wait(record.id, timeout)
        return self._job_dict(record)

    def drop_embedding_version(self, collection_name: str, field_name: str, model: str) -> DroppedVersion:
        """Delete one model version's vectors and indexes from a field; refused while anything uses them."""
        return cast(
            DroppedVersion,
            self.lifecycle.drop_embedding_version(self.metadata.info(collection_name), field_name, model),
        )

    def list_jobs(self, collection_name: str | None = None) -> list[Job]:
        collection_id = self.metadata.info(collection_name).id if collection_name is not None else None
        return [self._job_dict(r) for r in self.lifecycle.jobs.list_jobs(collection_id)]

    def get_job(self, job_id: int) -> Job:
        return self._job_dict(self.lifecycle.jobs.get(_job_id(job_id)))

    def wait_job(self, job_id: int, *, timeout: float | None = None) -> Job:
        """Block until a job stops running (done, failed, paused, cancelled) or ``timeout`` passes."""
        return self._job_dict(self.lifecycle.runner.wait(_job_id(job_id), timeout))

    def pause_job(self, job_id: int) -> Job:
        return self._job_dict(self.lifecycle.pause(_job_id(job_id)))

    def resume_job(self, job_id: int) -> Job:
        return self._job_dict(self.lifecycle.resume(_job_id(job_id)))

    def cancel_job(self, job_id: int) -> Job:
        record = self.lifecycle.jobs.get(_job_id(job_id))
        info = self.storage.collection_by_id(record.collection_id)
        return self._job_dict(self.lifecycle.cancel(info, record.id))

    def promote(
        self, collection_name: str, field_name: str, model: str, *, reason: str | None = None, actor: str | None = None
    ) -> ServingChange:
        """Serve ``model``'s vectors for the field and move its model alias, in one transaction."""
        return cast(
            ServingChange,
            self.lifecycle.promote(self.metadata.info(collection_name), field_name, model, reason=reason, actor=actor),
        )

    def rollback(
        self, collection_name: str, field_name: str, *, reason: str | None = None, actor: str | None = None
    ) -> ServingChange:
        """Serve the version that served before the last promotion again, in one transaction."""
        return cast(
            ServingChange,
            self.lifecycle.rollback(self.metadata.info(collection_name), field_name, reason=reason, actor=actor),
        )

    def serving_history(self, collection_name: str, field_name: str | None = None) -> list[ServingHistoryEntry]:
        """Every promotion and rollback of a collection's fields, oldest first."""
        return cast(
            list[ServingHistoryEntry], self.lifecycle.serving_history(self.metadata.info(collection_name), field_name)
        )


def _job_id(job_id: Any) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise InvalidArgumentError(f"job_id must be an integer, got {job_id!r}")
    return job_id
