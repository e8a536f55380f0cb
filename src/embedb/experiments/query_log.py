"""A background writer that batches experiment query logs into the catalog, off the search path.

A routed search only appends its log entry to an in-memory buffer; one daemon
thread swaps the buffer out and writes each batch in a single catalog transaction
(one fsync per batch instead of one per query). The thread is woken once per
batch — by the first entry of an empty buffer, a full buffer, a flush or close —
never per entry, so a search does not pay a thread switch. ``flush()`` returns
once every entry appended before it is written; the experiment service flushes
before a report, before feedback is joined, and on close. Logging never fails a
search: an entry that cannot be written (its batch failed, or it came after
close) is counted in ``dropped``, logged, and handed to ``on_drop`` — so whoever
reports on the log can say it is incomplete.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_BATCH = 512
MAX_DELAY_S = 0.1


class QueryLog(Generic[T]):
    """Buffer entries and write them in batches with ``write(batch)`` on a background thread."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], None],
        *,
        on_drop: Callable[[Sequence[T]], None] | None = None,
        max_batch: int = MAX_BATCH,
        max_delay_s: float = MAX_DELAY_S,
    ) -> None:
        self._write = write
        self._on_drop = on_drop
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        self._buffer: list[T] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        # Entries are numbered as they are appended; a flush waits until its number is handled.
        self._appended = 0
        self._handled = 0
        self._flush_to = 0
        self.written = 0
        self.dropped = 0

    def append(self, entry: T) -> None:
        """Buffer one entry (dropped, and counted, once the log is closed)."""
        with self._changed:
            closed = self._closed
            if closed:
                self.dropped += 1
            else:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="embedb-query-log", daemon=True)
                    self._thread.start()
                self._buffer.append(entry)
                self._appended += 1
                if len(self._buffer) == 1 or len(self._buffer) >= self._max_batch:
                    self._changed.notify()
        if closed:
            self._dropped([entry])  # outside the lock: the callback may take its own

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Block until every entry appended before this call is written; return False on timeout."""
        with self._changed:
            target = self._appended
            if self._thread is None or not self._thread.is_alive() or self._handled >= target:
                return True
            self._flush_to = max(self._flush_to, target)
            self._changed.notify_all()
            return self._changed.wait_for(lambda: self._handled >= target, timeout)

    def close(self) -> None:
        """Write what is buffered and stop the thread; idempotent."""
        with self._changed:
            self._closed = True
            thread = self._thread
            self._changed.notify_all()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        def urgent() -> bool:
            return self._closed or self._flush_to > self._handled or len(self._buffer) >= self._max_batch

        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._buffer) or self._closed)
                if not urgent():
                    self._changed.wait_for(urgent, self._max_delay_s)  # gather a batch
                batch, self._buffer = self._buffer[: self._max_batch], self._buffer[self._max_batch :]
                closing = self._closed
            self._write_batch(batch)
            with self._changed:
                self._handled += len(batch)
                self._changed.notify_all()
                if closing and not self._buffer:
                    return

    def _write_batch(self, batch: list[T]) -> None:
        if not batch:
            return
        try:
            self._write(batch)
            self.written += len(batch)
        except Exception:
            self.dropped += len(batch)
            log.exception("could not write %d experiment log entries", len(batch))
            self._dropped(batch)

    def _dropped(self, entries: Sequence[T]) -> None:
        if self._on_drop is None:
            return
        try:
            self._on_drop(entries)
        except Exception:  # counting a loss must not lose the log thread
            log.exception("the query log's on_drop callback failed")
