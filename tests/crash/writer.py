"""The process the crash tests kill: writes numbered batches and reports each acknowledged one.

Run as ``python -m tests.crash.writer PATH SEED FIRST MODE``. It prints
``ready`` once the collection is open (recovery done), ``ack N`` after batch N
returned, ``begin flush`` / ``begin compact`` before those calls, and never
stops on its own: the parent ends it with SIGKILL. ``MODE`` is ``run`` or
``crash-at:<point>``, which makes the process SIGKILL itself at that point of a
seal or a compaction (see ``CRASH_POINTS``).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from tests.crash.workload import COLLECTION, SMALL_SEGMENTS, batch

import embedb
from embedb.storage import compaction as compaction_module
from embedb.storage import flush as flush_module
from embedb.storage import wal as wal_module
from embedb.storage.wal import WalWriter


def die() -> None:
    print("crash point reached", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def called_from(function_name: str) -> Callable[..., bool]:
    """A ``when`` that holds if the patched function was called by ``function_name``."""
    return lambda *args, **kwargs: sys._getframe(2).f_code.co_name == function_name


def die_after(owner: Any, name: str, *, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if when(*args, **kwargs):
            die()
        return result

    setattr(owner, name, wrapper)


def die_before(owner: Any, name: str, *, when: Callable[..., bool] = lambda *a, **k: True) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            die()
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def tear_the_next_record() -> None:
    """Die in the middle of writing a WAL record: its header and half its payload reach the file."""
    original = wal_module._write_all

    def torn(fd: int, *parts: bytes | memoryview) -> None:
        if len(parts) != 3:  # a file header, not a record
            original(fd, *parts)
            return
        header, payload, _crc = parts
        original(fd, header, memoryview(payload)[: len(payload) // 2])
        die()

    wal_module._write_all = torn


CRASH_POINTS: dict[str, Callable[[], None]] = {
    # a record is in the file (the OS has it) but its writer was never acknowledged
    "wal-after-append": lambda: die_after(WalWriter, "append"),
    # a record only half written
    "wal-torn-record": tear_the_next_record,
    # checkpoint: WAL rotated, nothing sealed yet
    "seal-after-rotate": lambda: die_after(WalWriter, "rotate"),
    # a sealed segment folder is complete on disk, the catalog does not name it yet
    "seal-after-segment-files": lambda: die_after(flush_module, "write_segment"),
    # new deletion-mark files written, the catalog still names the old ones
    "seal-after-deletion-files": lambda: die_after(flush_module, "write_deletions"),
    # catalog committed, old deletion files and WAL files not yet removed
    "seal-after-commit": lambda: die_before(flush_module, "remove_stale_deletion_files"),
    "seal-before-wal-drop": lambda: die_before(WalWriter, "drop_files_through"),
    # compaction: the merged segment is on disk, the catalog still names the old ones
    "compact-after-segment-files": lambda: die_after(compaction_module, "write_segment"),
    # compaction: merged segment committed, the merged-away folders still on disk
    "compact-after-commit": lambda: die_before(compaction_module.shutil, "rmtree", when=called_from("merge_group")),
}


def main(path: str, seed: int, first: int, mode: str) -> None:
    if mode.startswith("crash-at:"):
        CRASH_POINTS[mode.removeprefix("crash-at:")]()
    db = embedb.connect(path, background_interval_s=0.05, **SMALL_SEGMENTS)
    db.get_collection_stats(COLLECTION)  # opens the store: recovery happens here
    pa.array(["warm-up"])  # pyarrow imports pandas on its first list conversion: not while writing
    print("ready", flush=True)
    number = first
    while True:
        b = batch(seed, number)
        if b.op == "insert":
            db.insert(COLLECTION, b.rows())
        elif b.op == "upsert":
            db.upsert(COLLECTION, b.rows())
        else:
            db.delete(COLLECTION, ids=b.keys.tolist())
        print(f"ack {number}", flush=True)
        if number % 11 == 0:
            print("begin flush", flush=True)
            db.flush(COLLECTION)
        elif number % 17 == 0:
            print("begin compact", flush=True)
            db.compact(COLLECTION)
        number += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
