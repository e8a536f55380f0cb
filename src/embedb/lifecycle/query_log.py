"""A background writer that batches experiment query logs into the catalog, off the search path.

A routed search only appends its log entry to an in-memory queue; one daemon
thread drains the queue and writes each batch in a single catalog transaction
(one fsync per batch instead of one per query). ``flush()`` returns once every
entry appended before it is written; the experiment service flushes before a
report, before feedback is joined, and on close. Logging never fails a search:
a batch that cannot be written is counted in ``dropped`` and logged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 512
MAX_DELAY_S = 0.1


class _Marker:
    """A flush request: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class QueryLog(Generic[T]):
    """Queue entries and write them in batches with ``write(batch)`` on a background thread."""

    def __init__(
        self, write: Callable[[Sequence[T]], None], *, max_batch: int = MAX_BATCH, max_delay_s: float = MAX_DELAY_S
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.written = 0
        self.dropped = 0

    def append(self, entry: T) -> None:
        """Queue one entry (dropped, and counted, once the log is closed)."""
        if self._closed:
            self.dropped += 1
            return
        self._ensure_thread()
        self._queue.put(entry)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Block until every entry appended before this call is written; return False on timeout."""
        if self._thread is None or self._closed:
            return True
        marker = _Marker()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self) -> None:
        """Write what is queued and stop the thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="embedb-query-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[T] = []
            markers: list[_Marker] = []
            item = self._queue.get()
            deadline = time.monotonic() + self._max_delay_s
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Marker):
                    markers.append(item)
                else:
                    batch.append(item)  # type: ignore[arg-type]
                if stop or markers or len(batch) >= self._max_batch:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if stop:
                batch.extend(self._drain(markers))
            self._write_batch(batch)
            for marker in markers:
                marker.done.set()

    def _drain(self, markers: list[_Marker]) -> list[T]:
        """Whatever is still queued after the stop request (appends racing with close)."""
        rest: list[T] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return rest
            if isinstance(item, _Marker):
                markers.append(item)
            elif item is not _STOP:
                rest.append(item)  # type: ignore[arg-type]

    def _write_batch(self, batch: list[T]) -> None:
        if not batch:
            return
        try:
            self._write(batch)
            self.written += len(batch)
        except Exception:
            self.dropped += len(batch)
            log.exception("could not write %d experiment log entries", len(batch))
