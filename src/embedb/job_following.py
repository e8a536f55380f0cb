"""Following a backfill job from outside the process that runs it: polling ``get_job`` for waits and progress callbacks.

An adapter whose jobs run elsewhere (a server, a cluster's shards) cannot hand
a progress callback to the job; it follows the job instead. ``JobFollower``
is that, for any ``Client``: ``follow`` polls until the job stops running (or
a timeout), reporting ``progress(rows_done, rows_total)``; ``watch`` does it
in a background thread for an ``add_embedding_version`` that does not wait.
``stop`` ends every watcher at its next poll (the adapter is closing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from embedb.client import Client
from embedb.contract.results import Job
from embedb.errors import EmbedbError

log = logging.getLogger(__name__)

JOB_POLL_S = 0.25
RUNNING_STATES = ("PENDING", "RUNNING")


class JobFollower:
    """Polls one client's jobs for waits and progress callbacks. Thread-safe."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._stopping = threading.Event()
        self._watchers: list[threading.Thread] = []
        self._lock = threading.Lock()

    def follow(self, job_id: int, *, timeout: float | None, progress: Callable[[int, int], None] | None) -> Job:
        """Poll a job until it stops running, reporting progress; one request at most every poll interval."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._client.get_job(job_id)
            if progress is not None:
                progress(int(job["rows_done"]), int(job["rows_total"]))
            if job["state"] not in RUNNING_STATES or (deadline is not None and time.monotonic() >= deadline):
                return job
            if self._stopping.wait(JOB_POLL_S):
                return job

    def watch(self, job_id: int, progress: Callable[[int, int], None]) -> None:
        """Follow a job in the background for its progress callback; stops when the job or the client does."""

        def report(done: int, total: int) -> None:
            try:
                progress(done, total)
            except Exception:  # a broken progress bar must not stop following (the job runs elsewhere)
                log.exception("the progress callback of job %s failed", job_id)

        def run() -> None:
            try:
                self.follow(job_id, timeout=None, progress=report)
            except EmbedbError:  # the server or cluster went away: nothing left to report
                return

        watcher = threading.Thread(target=run, name=f"embedb-job-progress-{job_id}", daemon=True)
        with self._lock:
            self._watchers = [w for w in self._watchers if w.is_alive()] + [watcher]
        watcher.start()

    def stop(self) -> None:
        """End every watcher at its next poll and wait for them."""
        self._stopping.set()
        with self._lock:
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.join()
