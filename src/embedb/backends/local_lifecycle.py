"""The lifecycle part of ``LocalBackend``: embedding versions, backfill jobs, promotion, rollback.

Kept apart from ``local.py`` so each file stays readable; the methods are the
``Backend`` contract's and only route to ``embedb.lifecycle``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedb.errors import InvalidArgumentError
from embedb.lifecycle.backfill import JobProgress
from embedb.lifecycle.jobs import JobRecord

if TYPE_CHECKING:
    from embedb.lifecycle.service import LifecycleService
    from embedb.storage.engine import CollectionInfo, StorageEngine


class LocalLifecycleMethods:
    """Mixed into ``LocalBackend``; relies on its ``lifecycle``, ``engine`` and ``_info``."""

    lifecycle: LifecycleService
    engine: StorageEngine

    def _info(self, name: str) -> CollectionInfo:  # provided by LocalBackend
        raise NotImplementedError

    def _job_dict(self, record: JobRecord) -> dict[str, Any]:
        name = self.engine.collection_by_id(record.collection_id).name
        return record.to_dict(collection=name, rows_per_second=self.lifecycle.runner.rate(record.id))

    def add_embedding_version(
        self,
        collection_name: str,
        field_name: str,
        model: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        progress: JobProgress | None = None,
    ) -> dict[str, Any]:
        """Start embedding every row of ``field_name`` with ``model`` (a backfill job); return the job."""
        record = self.lifecycle.add_embedding_version(self._info(collection_name), field_name, model, progress=progress)
        if wait:
            record = self.lifecycle.runner.wait(record.id, timeout)
        return self._job_dict(record)

    def drop_embedding_version(self, collection_name: str, field_name: str, model: str) -> dict[str, Any]:
        """Delete one model version's vectors and indexes from a field; refused while anything uses them."""
        return self.lifecycle.drop_embedding_version(self._info(collection_name), field_name, model)

    def list_jobs(self, collection_name: str | None = None) -> list[dict[str, Any]]:
        collection_id = self._info(collection_name).id if collection_name is not None else None
        return [self._job_dict(r) for r in self.lifecycle.jobs.list_jobs(collection_id)]

    def get_job(self, job_id: int) -> dict[str, Any]:
        return self._job_dict(self.lifecycle.jobs.get(_job_id(job_id)))

    def wait_job(self, job_id: int, *, timeout: float | None = None) -> dict[str, Any]:
        """Block until a job stops running (done, failed, paused, cancelled) or ``timeout`` passes."""
        return self._job_dict(self.lifecycle.runner.wait(_job_id(job_id), timeout))

    def pause_job(self, job_id: int) -> dict[str, Any]:
        return self._job_dict(self.lifecycle.pause(_job_id(job_id)))

    def resume_job(self, job_id: int) -> dict[str, Any]:
        return self._job_dict(self.lifecycle.resume(_job_id(job_id)))

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        record = self.lifecycle.jobs.get(_job_id(job_id))
        info = self.engine.collection_by_id(record.collection_id)
        return self._job_dict(self.lifecycle.cancel(info, record.id))

    def promote(
        self, collection_name: str, field_name: str, model: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Serve ``model``'s vectors for the field and move its model alias, in one transaction."""
        return self.lifecycle.promote(self._info(collection_name), field_name, model, reason=reason, actor=actor)

    def rollback(
        self, collection_name: str, field_name: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Serve the version that served before the last promotion again, in one transaction."""
        return self.lifecycle.rollback(self._info(collection_name), field_name, reason=reason, actor=actor)

    def serving_history(self, collection_name: str, field_name: str | None = None) -> list[dict[str, Any]]:
        """Every promotion and rollback of a collection's fields, oldest first."""
        return self.lifecycle.serving_history(self._info(collection_name), field_name)


def _job_id(job_id: Any) -> int:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise InvalidArgumentError(f"job_id must be an integer, got {job_id!r}")
    return job_id
