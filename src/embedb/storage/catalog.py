"""The catalog: one SQLite database per data directory.

It holds what must change atomically together: collections and their schemas,
partitions, aliases, the list of sealed segments with their manifests and
deletion files, the vector columns under construction (``partial_columns``),
and each collection's WAL checkpoint. Other layers (indexes,
the model registry, the lifecycle) add their own tables with ``ensure_tables``
and share the same transactions, which is how a promotion moves a model alias
and an index binding in one commit.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedb.errors import FormatVersionError, ReadOnlyError, StorageError
from embedb.schema import CollectionSchema

CATALOG_FORMAT_VERSION = 1

@dataclass(frozen=True)
class CollectionInfo:
    """A collection as the catalog records it."""

    id: int
    name: str
    schema: CollectionSchema
    properties: dict[str, Any]
    created_at: float
    partitions: dict[str, int] = field(default_factory=dict)
    # Partitions released from serving (Milvus's release_collection / release_partitions): reads refuse them.
    released: frozenset[str] = frozenset()
    # The shards asked for at creation (Milvus's ``num_shards``); None for a collection of an older directory.
    num_shards: int | None = None


_STORAGE_TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    schema TEXT NOT NULL,
    properties TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    checkpoint_lsn INTEGER NOT NULL DEFAULT 0,
    next_segment_id INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS collection_shards (
    collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    num_shards INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS partitions (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    partition_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, partition_id),
    UNIQUE (collection_id, name)
);
CREATE TABLE IF NOT EXISTS released_partitions (
    collection_id INTEGER NOT NULL,
    partition_id INTEGER NOT NULL,
    PRIMARY KEY (collection_id, partition_id),
    FOREIGN KEY (collection_id, partition_id) REFERENCES partitions(collection_id, partition_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS aliases (
    alias TEXT PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment_id INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    min_lsn INTEGER NOT NULL,
    max_lsn INTEGER NOT NULL,
    manifest TEXT NOT NULL,
    deletions TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, segment_id)
);
CREATE TABLE IF NOT EXISTS partial_columns (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment_id INTEGER NOT NULL,
    column_key TEXT NOT NULL,
    file TEXT NOT NULL,
    dim INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    rows_done INTEGER NOT NULL,
    bytes_done INTEGER NOT NULL,
    PRIMARY KEY (collection_id, segment_id, column_key)
);
CREATE TABLE IF NOT EXISTS partial_column_chunks (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment_id INTEGER NOT NULL,
    column_key TEXT NOT NULL,
    byte_start INTEGER NOT NULL,
    byte_end INTEGER NOT NULL,
    rows_done INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    PRIMARY KEY (collection_id, segment_id, column_key, byte_start)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
"""


class Catalog:
    """A thread-safe handle on the catalog database.

    ``transaction()`` yields a cursor inside ``BEGIN IMMEDIATE`` ... ``COMMIT``;
    nested calls join the outer transaction, so a layer can call another
    layer's catalog helpers inside its own transaction.
    """

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0
        try:
            if read_only:
                self._db = sqlite3.connect(
                    f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
                )
            else:
                self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.row_factory = sqlite3.Row
        except sqlite3.Error as error:
            raise StorageError(f"cannot open the catalog {path}: {error}") from error
        if not read_only:
            self.ensure_tables(_STORAGE_TABLES)
            self._check_format(create=True)
        else:
            self._check_format(create=False)

    def _check_format(self, *, create: bool) -> None:
        row = self.query_one("SELECT value FROM meta WHERE key = 'format_version'")
        if row is None:
            if not create:
                raise StorageError(f"{self.path} is not an EmbeDB catalog (no format_version)")
            with self.transaction() as cursor:
                cursor.execute(
                    "INSERT INTO meta (key, value) VALUES ('format_version', ?), ('created_at', ?)",
                    (str(CATALOG_FORMAT_VERSION), str(time.time())),
                )
            return
        version = int(row["value"])
        if version > CATALOG_FORMAT_VERSION:
            raise FormatVersionError(
                f"{self.path} has catalog format {version}; this EmbeDB reads up to {CATALOG_FORMAT_VERSION}. Upgrade EmbeDB."
            )

    def ensure_tables(self, ddl: str) -> None:
        """Create tables that do not exist yet (idempotent); a no-op on read-only opens."""
        if self.read_only:
            return
        with self._lock:
            self._db.executescript(ddl)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        if self.read_only:
            raise ReadOnlyError(f"{self.path} is open read-only")
        with self._lock:
            cursor = self._db.cursor()
            outermost = self._depth == 0
            if outermost:
                cursor.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield cursor
            except BaseException:
                self._depth -= 1
                if outermost:
                    cursor.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outermost:
                    cursor.execute("COMMIT")

    @contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Queries inside see one state of the catalog, whatever another process commits meanwhile."""
        with self._lock:
            if self._depth or self._db.in_transaction:
                yield  # already inside a transaction: its state is the one
                return
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
            return row

    def record_event(self, cursor: sqlite3.Cursor, kind: str, subject: str, **detail: Any) -> None:
        """Append an audit event inside the caller's transaction."""
        cursor.execute(
            "INSERT INTO events (time, kind, subject, detail) VALUES (?, ?, ?, ?)",
            (time.time(), kind, subject, json.dumps(detail, sort_keys=True, default=str)),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
