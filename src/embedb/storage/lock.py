"""The writer lock: one writing process per data directory."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from embedb.errors import DirectoryLockedError

LOCK_FILE = "LOCK"


class WriterLock:
    """An exclusive ``flock`` on ``<data>/LOCK``, released on close or process death."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode(errors="replace").strip() or "another process"
            os.close(self._fd)
            raise DirectoryLockedError(
                f"{folder} is open for writing by {holder}; open it with read_only=True or stop that process",
                path=str(folder),
            ) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"pid {os.getpid()}".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1
