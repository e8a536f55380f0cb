"""Lifecycle jobs (backfills): their states, guarded transitions, and their rows in the catalog."""

from __future__ import annotations

import enum
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from embedb.errors import InvalidStateError, JobNotFoundError
from embedb.storage import Catalog

_TABLES = """
CREATE TABLE IF NOT EXISTS lifecycle_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    column_key TEXT NOT NULL,
    state TEXT NOT NULL,
    rows_total INTEGER NOT NULL DEFAULT 0,
    rows_done INTEGER NOT NULL DEFAULT 0,
    rows_without_source INTEGER NOT NULL DEFAULT 0,
    segments_done INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
"""


class JobState(enum.StrEnum):
    """Where a backfill job is; ``check_transition`` guards every change."""

    # Created; its thread has not started yet.
    PENDING = "PENDING"
    # Embedding segments, chunk by chunk; after a crash it resumes by itself, from its
    # last committed chunk, when the database is opened writable again.
    RUNNING = "RUNNING"
    # Stopped by a user between two chunks; stays paused across restarts; ``resume``
    # continues from the last committed chunk.
    PAUSED = "PAUSED"
    # Stopped by an error (in ``error``); ``resume`` retries from the last committed chunk.
    FAILED = "FAILED"
    # Every row has a vector of the new version; the version is READY.
    DONE = "DONE"
    # Stopped for good by a user; the version was retired and its vectors dropped.
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.CANCELLED)

    def check_transition(self, target: JobState) -> None:
        """Return if ``self -> target`` is allowed; raise ``InvalidStateError`` otherwise."""
        if target not in _TRANSITIONS[self]:
            allowed = ", ".join(sorted(s.value for s in _TRANSITIONS[self])) or "none: it is finished"
            raise InvalidStateError(f"a job cannot go from {self.value} to {target.value} (allowed: {allowed})")


_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.PAUSED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.PAUSED, JobState.FAILED, JobState.DONE, JobState.CANCELLED}),
    JobState.PAUSED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.FAILED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    JobState.DONE: frozenset(),
    JobState.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class JobRecord:
    """A job as the catalog has it."""

    id: int
    kind: str
    collection_id: int
    field: str
    model_name: str
    model_version: int
    column_key: str
    state: JobState
    rows_total: int
    rows_done: int
    rows_without_source: int
    segments_done: int
    error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.model_version}"

    def to_dict(self, *, collection: str | None = None, rows_per_second: float | None = None) -> dict[str, Any]:
        """JSON-ready, with progress: fraction done, rows/s and the ETA in seconds when known."""
        remaining = max(0, self.rows_total - self.rows_done)
        eta = remaining / rows_per_second if rows_per_second else None
        return {
            "job_id": self.id,
            "kind": self.kind,
            "collection_name": collection,
            "field": self.field,
            "model_version": self.model_uri,
            "state": self.state.value,
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "rows_without_source": self.rows_without_source,
            "segments_done": self.segments_done,
            "progress": (self.rows_done / self.rows_total)
            if self.rows_total
            else (1.0 if self.state.finished else 0.0),
            "rows_per_second": rows_per_second,
            "eta_seconds": eta if not self.state.finished else 0.0,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
        }


class JobTable:
    """Reads and guarded writes of ``lifecycle_jobs``."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        catalog.ensure_tables(_TABLES)

    def create(
        self,
        cursor: sqlite3.Cursor,
        *,
        collection_id: int,
        field: str,
        model_name: str,
        model_version: int,
        column_key: str,
    ) -> int:
        now = time.time()
        cursor.execute(
            "INSERT INTO lifecycle_jobs (kind, collection_id, field, model_name, model_version, column_key, state,"
            " created_at, updated_at) VALUES ('backfill', ?, ?, ?, ?, ?, 'PENDING', ?, ?)",
            (collection_id, field, model_name, model_version, column_key, now, now),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def get(self, job_id: int) -> JobRecord:
        """Raise ``JobNotFoundError`` for an unknown id."""
        row = self.catalog.query_one("SELECT * FROM lifecycle_jobs WHERE id = ?", (job_id,))
        if row is None:
            raise JobNotFoundError(f"job {job_id} does not exist", job_id=job_id)
        return _record(row)

    def list_jobs(self, collection_id: int | None = None) -> list[JobRecord]:
        if collection_id is None:
            rows = self.catalog.query("SELECT * FROM lifecycle_jobs ORDER BY id")
        else:
            rows = self.catalog.query(
                "SELECT * FROM lifecycle_jobs WHERE collection_id = ? ORDER BY id", (collection_id,)
            )
        return [_record(r) for r in rows]

    def unfinished(self) -> list[JobRecord]:
        rows = self.catalog.query("SELECT * FROM lifecycle_jobs WHERE state IN ('PENDING', 'RUNNING') ORDER BY id")
        return [_record(r) for r in rows]

    def transition(
        self, job_id: int, target: JobState, *, error: str | None = None, cursor: sqlite3.Cursor | None = None
    ) -> JobRecord:
        """Move a job to ``target``; raise ``InvalidStateError`` if its state does not allow it."""
        with self.catalog.transaction() as own:
            active = cursor or own
            row = active.execute("SELECT state FROM lifecycle_jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError(f"job {job_id} does not exist", job_id=job_id)
            JobState(row["state"]).check_transition(target)
            now = time.time()
            active.execute(
                "UPDATE lifecycle_jobs SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                (target.value, error, now, now if target.finished else None, job_id),
            )
        return self.get(job_id)

    def progress(
        self,
        job_id: int,
        *,
        rows_total: int | None = None,
        rows_done: int,
        rows_without_source: int,
        segments_done: int,
        cursor: sqlite3.Cursor | None = None,
    ) -> None:
        """Record a job's counters; inside ``cursor``'s transaction when given (a backfill commits them with a chunk)."""
        with self.catalog.transaction() as own:
            active = cursor or own
            if rows_total is not None:
                active.execute("UPDATE lifecycle_jobs SET rows_total = ? WHERE id = ?", (rows_total, job_id))
            active.execute(
                "UPDATE lifecycle_jobs SET rows_done = ?, rows_without_source = ?, segments_done = ?, updated_at = ?"
                " WHERE id = ?",
                (rows_done, rows_without_source, segments_done, time.time(), job_id),
            )


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=int(row["id"]),
        kind=row["kind"],
        collection_id=int(row["collection_id"]),
        field=row["field"],
        model_name=row["model_name"],
        model_version=int(row["model_version"]),
        column_key=row["column_key"],
        state=JobState(row["state"]),
        rows_total=int(row["rows_total"]),
        rows_done=int(row["rows_done"]),
        rows_without_source=int(row["rows_without_source"]),
        segments_done=int(row["segments_done"]),
        error=row["error"],
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        finished_at=float(row["finished_at"]) if row["finished_at"] is not None else None,
    )
