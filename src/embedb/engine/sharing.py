"""How two opens of one data directory in one process share it: ``DatabaseShare``.

A data directory has one writer process (a lock file), and inside that process
every client that opens it must see the same rows, the same model registry, the
same backfill threads and the same index builds — so they share one
``Database``. ``SHARED`` is the single place where that sharing happens: it
hands out a started ``Database`` per (directory, mode), counts who holds it,
and stops it when the last holder releases it. Nothing else in EmbeDB keeps
process-wide state.

A second open takes the settings of the first (the database is already running
with them); a read-only open of a directory this process writes to gets its own
read-only ``Database``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from embedb.config import Settings
from embedb.engine.database import Database


class DatabaseShare:
    """Started databases by (directory, mode), with the number of clients holding each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[str, bool], tuple[Database, int]] = {}

    def acquire(self, path: Path, *, settings: Settings, read_only: bool) -> Database:
        """The started database of ``path`` (built and started on first use); release it when done."""
        key = (str(path.resolve()), read_only)
        with self._lock:
            database, holders = self._open.get(key, (None, 0))
            if database is None:
                database = Database(path, settings=settings, read_only=read_only)
                try:
                    database.start()
                except BaseException:
                    database.stop()
                    raise
            self._open[key] = (database, holders + 1)
            return database

    def release(self, database: Database) -> None:
        """Drop one hold on ``database``; the last one stops it (a database not shared here is stopped at once)."""
        with self._lock:
            for key, (candidate, holders) in list(self._open.items()):
                if candidate is database:
                    if holders > 1:
                        self._open[key] = (candidate, holders - 1)
                        return
                    del self._open[key]
                    break
        database.stop()

    def holders(self, path: Path, *, read_only: bool = False) -> int:
        """How many clients of this process hold the database of ``path`` (0 when it is not open)."""
        with self._lock:
            return self._open.get((str(path.resolve()), read_only), (None, 0))[1]


SHARED = DatabaseShare()
