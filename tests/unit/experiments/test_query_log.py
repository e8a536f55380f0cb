"""The background query log: batches, flush, close, and failures that never reach the search path."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from embedb.experiments.query_log import QueryLog


def test_entries_are_written_in_batches_and_flush_waits_for_them() -> None:
    batches: list[list[int]] = []
    log: QueryLog[int] = QueryLog(lambda batch: batches.append(list(batch)), max_batch=10, max_delay_s=5.0)
    for value in range(25):
        log.append(value)
    assert log.flush(timeout=5)
    assert [value for batch in batches for value in batch] == list(range(25))
    assert max(len(batch) for batch in batches) <= 10 and len(batches) <= 4
    assert log.written == 25
    log.close()


def test_close_writes_what_is_queued_and_later_entries_are_dropped() -> None:
    written: list[int] = []
    gate = threading.Event()

    def slow(batch: Sequence[int]) -> None:
        gate.wait(5)
        written.extend(batch)

    log: QueryLog[int] = QueryLog(slow, max_batch=1, max_delay_s=0.0)
    for value in range(5):
        log.append(value)
    gate.set()
    log.close()
    assert written == list(range(5))
    log.append(99)
    assert log.dropped == 1 and log.flush() is True
    log.close()


def test_a_failing_write_is_counted_not_raised() -> None:
    def broken(batch: Sequence[int]) -> None:
        raise RuntimeError("disk full")

    log: QueryLog[int] = QueryLog(broken, max_delay_s=0.0)
    log.append(1)
    log.append(2)
    assert log.flush(timeout=5)
    assert log.dropped == 2 and log.written == 0
    log.close()


def test_flush_without_entries_returns_at_once() -> None:
    log: QueryLog[int] = QueryLog(lambda batch: None)
    assert log.flush(timeout=0.01)
    log.close()


def test_every_lost_entry_reaches_on_drop() -> None:
    lost: list[int] = []

    def broken(batch: Sequence[int]) -> None:
        raise RuntimeError("disk full")

    log: QueryLog[int] = QueryLog(broken, on_drop=lost.extend, max_delay_s=0.0)
    log.append(1)
    log.append(2)
    assert log.flush(timeout=5)
    log.close()
    log.append(3)  # after close
    assert sorted(lost) == [1, 2, 3] and log.dropped == 3


def test_a_failing_on_drop_does_not_stop_the_log() -> None:
    written: list[int] = []
    calls = 0

    def flaky(batch: Sequence[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("disk full")
        written.extend(batch)

    def broken_counter(entries: Sequence[int]) -> None:
        raise RuntimeError("the counter broke too")

    log: QueryLog[int] = QueryLog(flaky, on_drop=broken_counter, max_delay_s=0.0)
    log.append(1)
    assert log.flush(timeout=5)
    log.append(2)
    assert log.flush(timeout=5)
    assert written == [2] and log.dropped == 1
    log.close()
