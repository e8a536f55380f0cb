"""Milvus's databases over EmbeDB: named data directories beside the default one.

A Milvus server holds databases, each with its own collections; pymilvus
picks one with ``db_name=`` or ``use_database``. EmbeDB's unit of data is a
data directory, so a database is one: ``default`` is the directory itself,
and database ``name`` is the data directory ``<path>/databases/<name>``
(kept in memory for a ``:memory:`` database), opened on first use with the
same options as the default one. Both Milvus facades — ``embedb.milvus`` and
the gRPC service of ``embedb serve --milvus-port`` — hold a ``Databases``.

Milvus's rules: ``default`` always exists and cannot be dropped; creating a
database that exists is an ``AlreadyExistsError``; dropping one that still
holds collections is refused (drop them first); dropping one that does not
exist is a no-op.

A database's properties (``create_database(properties=)``,
``alter_database_properties``) are kept for every database in one JSON file,
``<path>/databases/properties.json``, replaced atomically on each change; they
are stored and described, and EmbeDB acts on none of them.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from embedb.client import Client
from embedb.engine.properties import checked_keys, checked_properties
from embedb.errors import DatabaseAlreadyExistsError, DatabaseNotFoundError, InvalidStateError
from embedb.schema import NAME_PATTERN, check_name
from embedb.storage.durable import fsync_path

DEFAULT_DATABASE = "default"
DATABASES_FOLDER = "databases"
PROPERTIES_FILE = "properties.json"


class Databases:
    """The databases of one data directory (``path``; ``None`` for an in-memory one). Thread-safe."""

    def __init__(self, default: Client, path: Path | None, open_database: Callable[[Path | None], Client]) -> None:
        self._open = {DEFAULT_DATABASE: default}
        self._root = None if path is None else Path(path) / DATABASES_FOLDER
        self._open_database = open_database
        self._lock = threading.Lock()
        self._in_memory: dict[str, dict[str, Any]] = {}  # the properties of an in-memory database's databases

    def _folder(self, name: str) -> Path | None:
        return None if self._root is None else self._root / name

    def _exists(self, name: str) -> bool:
        folder = self._folder(name)
        return name in self._open or (folder is not None and folder.is_dir())

    def names(self) -> list[str]:
        """Every database, ``default`` first."""
        with self._lock:
            found = set(self._open)
            if self._root is not None and self._root.is_dir():
                found.update(entry.name for entry in self._root.iterdir() if entry.is_dir() and NAME_PATTERN.fullmatch(entry.name))
        return [DEFAULT_DATABASE, *sorted(found - {DEFAULT_DATABASE})]

    def get(self, name: str | None) -> Client:
        """The database called ``name`` (``None`` or ``""``: the default); raises ``DatabaseNotFoundError``."""
        if not name or name == DEFAULT_DATABASE:
            return self._open[DEFAULT_DATABASE]
        with self._lock:
            client = self._open.get(name)
            if client is not None:
                return client
            check_name(name, kind="database")
            if not self._exists(name):
                raise DatabaseNotFoundError(f"database {name!r} not found; databases: {self._listing()}", database=name)
            client = self._open[name] = self._open_database(self._folder(name))
            return client

    def _listing(self) -> list[str]:
        on_disk = [] if self._root is None or not self._root.is_dir() else [e.name for e in self._root.iterdir() if e.is_dir()]
        return sorted({*self._open, *on_disk})

    def create(self, name: str, properties: Mapping[str, Any] | None = None) -> None:
        """Create an empty database; raises ``DatabaseAlreadyExistsError``, ``InvalidNameError``."""
        check_name(name, kind="database")
        checked = checked_properties(properties) if properties else {}
        with self._lock:
            if name == DEFAULT_DATABASE or self._exists(name):
                raise DatabaseAlreadyExistsError(f"database {name!r} already exists", database=name)
            folder = self._folder(name)
            if folder is not None:
                folder.parent.mkdir(parents=True, exist_ok=True)
            self._open[name] = self._open_database(folder)
            self._set_properties(name, checked)

    def drop(self, name: str) -> None:
        """Drop an empty database (a no-op when it does not exist); raises ``InvalidStateError`` otherwise."""
        if name == DEFAULT_DATABASE:
            raise InvalidStateError("the default database cannot be dropped")
        with self._lock:
            if not self._exists(name):
                return
            check_name(name, kind="database")
            client = self._open.get(name) or self._open_database(self._folder(name))
            collections = client.list_collections()
            if collections:
                self._open[name] = client
                raise InvalidStateError(
                    f"database {name!r} still holds collections {collections}: drop them first", database=name
                )
            client.close()
            self._open.pop(name, None)
            self._set_properties(name, {})
            folder = self._folder(name)
            if folder is not None:
                shutil.rmtree(folder)

    # ------------------------------------------------------------ properties

    def properties(self, name: str | None) -> dict[str, Any]:
        """The properties of an existing database (raises ``DatabaseNotFoundError``)."""
        self.get(name)
        with self._lock:
            return dict(self._read_properties().get(name or DEFAULT_DATABASE, {}))

    def alter_properties(self, name: str | None, changes: Mapping[str, Any], dropped: Sequence[str] = ()) -> None:
        """Set ``changes`` and remove ``dropped`` in a database's properties, durably; raises ``InvalidArgumentError``."""
        checked, keys = checked_properties(changes), checked_keys(dropped)
        self.get(name)
        key = name or DEFAULT_DATABASE
        with self._lock:
            current = {**self._read_properties().get(key, {}), **checked}
            for dropped_key in keys:
                current.pop(dropped_key, None)
            self._set_properties(key, current)

    def _read_properties(self) -> dict[str, dict[str, Any]]:
        """Every database's properties, read from the file each time (another client may have changed them)."""
        if self._root is None:
            return self._in_memory
        if not (self._root / PROPERTIES_FILE).is_file():
            return {}
        stored = json.loads((self._root / PROPERTIES_FILE).read_text(encoding="utf-8"))
        return {str(k): dict(v) for k, v in stored.items()} if isinstance(stored, dict) else {}

    def _set_properties(self, name: str, properties: dict[str, Any]) -> None:
        """Replace one database's properties (the caller holds the lock): a new file, fsynced, renamed over the old."""
        stored = self._read_properties()
        updated = {**stored, name: properties} if properties else {k: v for k, v in stored.items() if k != name}
        if updated == stored:
            return
        if self._root is not None:
            self._root.mkdir(parents=True, exist_ok=True)
            temporary = self._root / f".{PROPERTIES_FILE}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(updated, handle, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self._root / PROPERTIES_FILE)
            fsync_path(self._root)
        else:
            self._in_memory = updated

    def close(self) -> None:
        """Close every database this object opened (not the default one, which its owner closes)."""
        with self._lock:
            opened = [client for name, client in self._open.items() if name != DEFAULT_DATABASE]
            self._open = {DEFAULT_DATABASE: self._open[DEFAULT_DATABASE]}
        for client in opened:
            client.close()
