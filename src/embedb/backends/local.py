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
from embedb.contract import OPERATIONS, check_scalar_arguments, scalar_checks
from embedb.display import present
from embedb.engine import SHARED, Database
from embedb.errors import ClosedError, DataError, InvalidArgumentError, InvalidNameError
from embedb.schema import MAX_JSON_DEPTH, lone_surrogate_at


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
        check_scalar_arguments(_SCALAR_CHECKS[name], arguments)
        check_arguments(arguments)
        return present(self._operations[name](**arguments))


# Per operation, its arguments declared as plain scalars: checked as a server's request models check them.
_SCALAR_CHECKS = {name: scalar_checks(spec) for name, spec in OPERATIONS.items()}

# Arguments that name something: a bad character there is an InvalidNameError.
NAME_ARGUMENTS = frozenset(
    {
        "collection_name", "old_name", "new_name", "partition_name", "partition_names", "alias", "index_name",
        "field_name", "anns_field", "group_by_field", "name", "model",
    }
)  # fmt: skip
# Checked where they are read: rows by ingest (row and field named), a filter by its lexer (position named).
_CHECKED_LATER = frozenset({"filter"})
_CONTAINERS = frozenset({list, tuple, dict})


def check_arguments(arguments: dict[str, Any]) -> None:
    """Refuse what no operation can store or send back: text with a lone surrogate, nesting past ``MAX_JSON_DEPTH``.

    The embedded adapter checks here for every operation, so the server (which
    serves one) refuses the same input with the same error: ``InvalidNameError``
    for a name, ``DataError`` for ``data`` and ``ids``, ``InvalidArgumentError``
    otherwise. Rows (``data`` that is not text) are left to ingest, which checks
    them column by column; NumPy arrays and other objects are not looked into.
    """
    for key, value in arguments.items():
        if value is None:  # first: this runs on every search, and most arguments are None
            continue
        kind = type(value)
        if kind is str:
            if value.isascii() or key in _CHECKED_LATER:
                continue
        elif kind not in _CONTAINERS or (key == "data" and not (kind is list and value and isinstance(value[0], str))):
            continue
        problem = _unstorable(value)
        if problem is None:
            continue
        message = f"{key}: {problem}"
        if key in NAME_ARGUMENTS:
            raise InvalidNameError(message, argument=key)
        if key in ("data", "ids"):
            raise DataError(message, argument=key)
        raise InvalidArgumentError(message, argument=key)


def _unstorable(value: Any) -> str | None:
    """What is wrong with a value (text, or lists and dicts of values), or None."""
    if type(value) is str:
        return _bad_text(value)
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nests lists and dicts deeper than {MAX_JSON_DEPTH} levels"
        for item in (*current.keys(), *current.values()) if type(current) is dict else current:
            kind = type(item)
            if kind is str:
                problem = _bad_text(item)
                if problem is not None:
                    return problem
            elif kind in _CONTAINERS:
                pending.append((item, depth + 1))
    return None


def _bad_text(text: str) -> str | None:
    at = None if text.isascii() else lone_surrogate_at(text)
    return None if at is None else f"{text!r} holds a lone surrogate at character {at}, which no UTF-8 text can hold"

