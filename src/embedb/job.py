"""A handle on one backfill job: ``col.add_embedding_version(...)`` returns it, ``col.job(id)`` finds it again.

It holds only the backend and the id, so it works the same embedded and over HTTP::

    job = col.add_embedding_version("embedding", "minilm@challenger")
    job.progress        # {"rows_done": ..., "rows_total": ..., "rows_per_second": ..., "eta_seconds": ...}
    job.wait()          # returns the finished job; search kept serving the old version all along

    job = col.job(7)    # after a restart: the job resumed by itself from its last committed chunk
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedb.contract import Backend, results


class Job:
    """One backfill job of a ``Backend``, by id."""

    def __init__(self, backend: Backend, job_id: int) -> None:
        self.backend = backend
        self.id = job_id

    def __repr__(self) -> str:
        return f"Job({self.id})"

    def _repr_html_(self) -> str:
        """The job as it is now: state, version and a progress bar."""
        job = self.describe()
        share = float(job["progress"])
        return (
            f"<p>job {self.id}: {html.escape(str(job['model_version']))} on {html.escape(str(job['field']))} — "
            f"{html.escape(str(job['state']))}, {job['rows_done']:,} / {job['rows_total']:,} rows "
            f"<progress max='1' value='{share:.4f}'></progress> {share:.0%}</p>"
        )

    def describe(self) -> results.Job:
        """Return the job with its progress; raises ``JobNotFoundError``."""
        return self.backend.get_job(self.id)

    @property
    def state(self) -> str:
        """``PENDING``, ``RUNNING``, ``PAUSED``, ``FAILED``, ``DONE`` or ``CANCELLED``."""
        return str(self.describe()["state"])

    @property
    def progress(self) -> dict[str, Any]:
        """Rows done and total, rows per second and the ETA in seconds."""
        job = self.describe()
        return {key: job[key] for key in ("rows_done", "rows_total", "progress", "rows_per_second", "eta_seconds")}

    def wait(self, *, timeout: float | None = None) -> results.Job:
        """Block until the job stops running (or ``timeout`` seconds); return it."""
        return self.backend.wait_job(self.id, timeout=timeout)

    def pause(self) -> results.Job:
        """Stop after the current chunk; ``resume`` continues from the last committed chunk."""
        return self.backend.pause_job(self.id)

    def resume(self) -> results.Job:
        return self.backend.resume_job(self.id)

    def cancel(self) -> results.Job:
        """Stop for good: the version is retired and the vectors it wrote are dropped."""
        return self.backend.cancel_job(self.id)

