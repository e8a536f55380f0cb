"""The embedded adapter: the contract carried out by a ``Database`` in this process.

``LocalBackend`` holds one ``Database`` (shared with every other client of the
same directory in this process, through ``embedb.engine.SHARED``) and hands
each operation to the engine's implementation of it (``Database.operations``).
It declares no operation itself. The database's parts stay reachable for
embedded code that wants objects rather than dicts: ``models`` (the registry),
``indexes``, ``lifecycle``, ``experiments`` and ``engine`` (the storage).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from embedb.client import Client
from embedb.config import Settings
from embedb.engine import SHARED, Database
from embedb.errors import ClosedError


class LocalBackend(Client):
    """EmbeDB embedded in this process, on a data directory (or a temporary one for ``:memory:``)."""

    def __init__(self, path: str | os.PathLike[str] | None, *, read_only: bool = False, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._memory = path is None
        if path is None:
            self.database = Database(None, settings=self.settings).start()
        else:
            self.database = SHARED.acquire(Path(path), settings=self.settings, read_only=read_only)
        self._operations = self.database.operations
        self.engine = self.database.storage
        self.indexes = self.database.indexes
        self.models = self.database.models
        self.bindings = self.database.bindings
        self.lifecycle = self.database.lifecycle
        self.experiments = self.database.experiments
        self._lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._memory:
            self.database.stop()
        else:
            SHARED.release(self.database)

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        if self._closed:
            raise ClosedError("this EmbeDB client is closed")
        return self._operations[name](**arguments)
