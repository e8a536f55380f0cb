"""The index layer's catalog tables: index definitions and built segment indexes.

``vector_indexes`` holds one definition per (collection, vector field): the
name, the requested type (``AUTOINDEX`` stays visible) and the resolved spec.
``segment_indexes`` holds one row per built (segment, column key) index: the
spec actually used (IVF sizes capped for small segments), the file entry with
its block checksums, and build timing. ``index_build_failures`` holds the
(segment, column key) pairs whose build failed or was never scheduled, with the
error, until a build of the pair is published or the pair goes away — so
``embedb check`` sees them from another process. ``version_indexes`` holds a
model version's own index spec for its column key (``field@version``), replacing
the field's spec for that column only — a tuned recipe — with the search
parameters the tuning found. All cascade away with their collection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, replace
from typing import Any

from embedb.errors import IndexNotFoundError
from embedb.index.vector_index import IndexSpec
from embedb.storage import Catalog

INDEX_TABLES = """
CREATE TABLE IF NOT EXISTS vector_indexes (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field_name TEXT NOT NULL,
    index_name TEXT NOT NULL,
    requested_type TEXT NOT NULL,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, field_name),
    UNIQUE (collection_id, index_name)
);
CREATE TABLE IF NOT EXISTS segment_indexes (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment_id INTEGER NOT NULL,
    column_key TEXT NOT NULL,
    index_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    file TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    build_seconds REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, segment_id, column_key)
);
CREATE TABLE IF NOT EXISTS version_indexes (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    column_key TEXT NOT NULL,
    field_name TEXT NOT NULL,
    spec TEXT NOT NULL,
    search_params TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, column_key)
);
CREATE TABLE IF NOT EXISTS index_build_failures (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    segment_id INTEGER NOT NULL,
    column_key TEXT NOT NULL,
    index_name TEXT NOT NULL,
    error TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (collection_id, segment_id, column_key)
);
"""


@dataclass(frozen=True)
class IndexDefinition:
    """A user's index on one vector field of a collection."""

    index_name: str
    field_name: str
    requested_type: str
    spec: IndexSpec
    created_at: float
    # A model version's own spec (``version_indexes``): the column it is for and the search parameters it was tuned at.
    column_key: str | None = None
    search_defaults: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class SegmentIndexRecord:
    """A built index of one (segment, column key), as the catalog records it."""

    segment_id: int
    column_key: str
    index_name: str
    spec: IndexSpec
    file: dict[str, Any]
    row_count: int
    build_seconds: float


class IndexCatalog:
    """Reads and writes the index tables; every write joins the caller's transaction if there is one."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        catalog.ensure_tables(INDEX_TABLES)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        try:
            return self.catalog.query(sql, params)
        except sqlite3.OperationalError:  # a read-only open of a directory that never had indexes
            return []

    def definitions(self, collection_id: int) -> dict[str, IndexDefinition]:
        """Index definitions of a collection, by field name."""
        return {
            row["field_name"]: IndexDefinition(
                row["index_name"],
                row["field_name"],
                row["requested_type"],
                IndexSpec.from_dict(json.loads(row["spec"])),
                float(row["created_at"]),
            )
            for row in self._rows("SELECT * FROM vector_indexes WHERE collection_id = ?", (collection_id,))
        }

    def version_definitions(self, collection_id: int, fields: dict[str, IndexDefinition]) -> dict[str, IndexDefinition]:
        """The version specs of a collection by column key, each on its field's definition (``fields``)."""
        found = {}
        for row in self._rows("SELECT * FROM version_indexes WHERE collection_id = ?", (collection_id,)):
            base = fields.get(row["field_name"])
            if base is not None:
                found[row["column_key"]] = version_definition(
                    base,
                    row["column_key"],
                    IndexSpec.from_dict(json.loads(row["spec"])),
                    json.loads(row["search_params"]),
                    float(row["created_at"]),
                )
        return found

    def set_version_definition(self, collection_id: int, definition: IndexDefinition) -> list[SegmentIndexRecord]:
        """Record a version's own spec and forget its column's built indexes, in one transaction; return those
        (their files are the caller's). Raises ``IndexNotFoundError`` when the field has no index."""
        assert definition.column_key is not None
        with self.catalog.transaction() as cursor:
            base = cursor.execute(
                "SELECT index_name FROM vector_indexes WHERE collection_id = ? AND field_name = ?",
                (collection_id, definition.field_name),
            ).fetchone()
            if base is None or base["index_name"] != definition.index_name:
                raise IndexNotFoundError(
                    f"field {definition.field_name!r} has no index {definition.index_name!r} to give a version its own",
                    index=definition.index_name,
                )
            records = [
                r
                for r in self.segment_records(collection_id, index_name=definition.index_name)
                if r.column_key == definition.column_key
            ]
            cursor.execute(
                "INSERT OR REPLACE INTO version_indexes (collection_id, column_key, field_name, spec, search_params,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    definition.column_key,
                    definition.field_name,
                    json.dumps(definition.spec.to_dict()),
                    json.dumps(dict(definition.search_defaults)),
                    definition.created_at,
                ),
            )
            for table in ("segment_indexes", "index_build_failures"):
                cursor.execute(
                    f"DELETE FROM {table} WHERE collection_id = ? AND column_key = ?",
                    (collection_id, definition.column_key),
                )
            self.catalog.record_event(
                cursor, "index.version", definition.index_name, collection_id=collection_id, key=definition.column_key
            )
        return records

    def replace_definition(self, collection_id: int, definition: IndexDefinition) -> list[SegmentIndexRecord]:
        """Change a field's index spec in place and forget its built indexes, in one transaction; return those."""
        with self.catalog.transaction() as cursor:
            records = self.segment_records(collection_id, index_name=definition.index_name)
            updated = cursor.execute(
                "UPDATE vector_indexes SET requested_type = ?, spec = ?, created_at = ?"
                " WHERE collection_id = ? AND field_name = ? AND index_name = ?",
                (
                    definition.requested_type,
                    json.dumps(definition.spec.to_dict()),
                    definition.created_at,
                    collection_id,
                    definition.field_name,
                    definition.index_name,
                ),
            ).rowcount
            if not updated:
                raise IndexNotFoundError(f"field {definition.field_name!r} has no index {definition.index_name!r}")
            _forget_built(cursor, collection_id, definition)
            self.catalog.record_event(cursor, "index.replace", definition.index_name, collection_id=collection_id)
        return records

    def forget_version_definition(self, collection_id: int, column_key: str) -> None:
        """Delete a version's own spec (its column was dropped)."""
        if self.catalog.read_only:
            return
        with self.catalog.transaction() as cursor:
            cursor.execute(
                "DELETE FROM version_indexes WHERE collection_id = ? AND column_key = ?", (collection_id, column_key)
            )

    def add_definition(self, collection_id: int, definition: IndexDefinition) -> None:
        with self.catalog.transaction() as cursor:
            cursor.execute(
                "INSERT INTO vector_indexes (collection_id, field_name, index_name, requested_type, spec, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    definition.field_name,
                    definition.index_name,
                    definition.requested_type,
                    json.dumps(definition.spec.to_dict()),
                    definition.created_at,
                ),
            )
            self.catalog.record_event(cursor, "index.create", definition.index_name, collection_id=collection_id)

    def drop_definition(self, collection_id: int, definition: IndexDefinition) -> list[SegmentIndexRecord]:
        """Remove a definition and its segment rows in one transaction; return the rows (their files are the caller's)."""
        with self.catalog.transaction() as cursor:
            records = self.segment_records(collection_id, index_name=definition.index_name)
            _forget_built(cursor, collection_id, definition)
            cursor.execute(
                "DELETE FROM vector_indexes WHERE collection_id = ? AND index_name = ?",
                (collection_id, definition.index_name),
            )
            self.catalog.record_event(cursor, "index.drop", definition.index_name, collection_id=collection_id)
        return records

    def segment_records(self, collection_id: int, *, index_name: str | None = None) -> list[SegmentIndexRecord]:
        sql = "SELECT * FROM segment_indexes WHERE collection_id = ?"
        params: tuple[Any, ...] = (collection_id,)
        if index_name is not None:
            sql += " AND index_name = ?"
            params = (collection_id, index_name)
        return [
            SegmentIndexRecord(
                int(row["segment_id"]),
                row["column_key"],
                row["index_name"],
                IndexSpec.from_dict(json.loads(row["spec"])),
                json.loads(row["file"]),
                int(row["row_count"]),
                float(row["build_seconds"]),
            )
            for row in self._rows(sql, params)
        ]

    def publish_segment_index(
        self, collection_id: int, record: SegmentIndexRecord, definition: IndexDefinition
    ) -> bool | dict[str, Any]:
        """Record a built index if its segment and definition still exist; return the replaced file entry, True, or False.

        False means the build is stale (segment compacted away, index dropped or
        redefined) and its file should be deleted.
        """
        with self.catalog.transaction() as cursor:
            segment = cursor.execute(
                "SELECT 1 FROM segments WHERE collection_id = ? AND segment_id = ?", (collection_id, record.segment_id)
            ).fetchone()
            current = cursor.execute(
                "SELECT index_name, spec FROM vector_indexes WHERE collection_id = ? AND field_name = ?",
                (collection_id, definition.field_name),
            ).fetchone()
            if segment is None or current is None or current["index_name"] != definition.index_name:
                return False
            own = cursor.execute(
                "SELECT spec FROM version_indexes WHERE collection_id = ? AND column_key = ?",
                (collection_id, record.column_key),
            ).fetchone()
            if (own is None) != (definition.column_key is None):  # a version spec set or dropped while this built
                return False
            if IndexSpec.from_dict(json.loads((own or current)["spec"])) != definition.spec:
                return False
            old = cursor.execute(
                "SELECT file FROM segment_indexes WHERE collection_id = ? AND segment_id = ? AND column_key = ?",
                (collection_id, record.segment_id, record.column_key),
            ).fetchone()
            cursor.execute(
                "INSERT OR REPLACE INTO segment_indexes (collection_id, segment_id, column_key, index_name, spec, file,"
                " row_count, build_seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    collection_id,
                    record.segment_id,
                    record.column_key,
                    record.index_name,
                    json.dumps(record.spec.to_dict()),
                    json.dumps(record.file),
                    record.row_count,
                    record.build_seconds,
                    time.time(),
                ),
            )
            cursor.execute(
                "DELETE FROM index_build_failures WHERE collection_id = ? AND segment_id = ? AND column_key = ?",
                (collection_id, record.segment_id, record.column_key),
            )
        return json.loads(old["file"]) if old is not None else True

    def record_failures(self, collection_id: int, index_name: str, pairs: list[tuple[int, str]], error: str) -> None:
        """Remember that the builds of these (segment, column key) pairs failed or were never scheduled."""
        if not pairs or self.catalog.read_only:
            return
        now = time.time()
        with self.catalog.transaction() as cursor:
            cursor.executemany(
                "INSERT OR REPLACE INTO index_build_failures (collection_id, segment_id, column_key, index_name, error,"
                " time) VALUES (?, ?, ?, ?, ?, ?)",
                [(collection_id, segment_id, key, index_name, error, now) for segment_id, key in pairs],
            )

    def build_failures(self) -> list[sqlite3.Row]:
        """Every recorded failure with its collection's name: ``collection``, ``segment_id``, ``column_key``, ``index_name``, ``error``, ``time``."""
        return self._rows(
            "SELECT c.name AS collection, f.segment_id, f.column_key, f.index_name, f.error, f.time"
            " FROM index_build_failures f JOIN collections c ON c.id = f.collection_id"
            " ORDER BY c.name, f.segment_id, f.column_key",
            (),
        )

    def forget_columns(self, collection_id: int, pairs: list[tuple[int, str]]) -> None:
        """Delete the rows of (segment, column key) pairs whose column no longer exists."""
        if not pairs or self.catalog.read_only:
            return
        with self.catalog.transaction() as cursor:
            for table in ("segment_indexes", "index_build_failures"):
                cursor.executemany(
                    f"DELETE FROM {table} WHERE collection_id = ? AND segment_id = ? AND column_key = ?",
                    [(collection_id, segment_id, key) for segment_id, key in pairs],
                )

    def forget_segments(self, collection_id: int, segment_ids: list[int]) -> None:
        """Delete the rows of segments that no longer exist (their files went with the segment folder)."""
        if not segment_ids or self.catalog.read_only:
            return
        with self.catalog.transaction() as cursor:
            for table in ("segment_indexes", "index_build_failures"):
                cursor.executemany(
                    f"DELETE FROM {table} WHERE collection_id = ? AND segment_id = ?",
                    [(collection_id, segment_id) for segment_id in segment_ids],
                )


def _forget_built(cursor: sqlite3.Cursor, collection_id: int, definition: IndexDefinition) -> None:
    """Delete, in the caller's transaction, what an index built and failed to build, and its versions' own specs."""
    for table in ("segment_indexes", "index_build_failures"):
        cursor.execute(
            f"DELETE FROM {table} WHERE collection_id = ? AND index_name = ?", (collection_id, definition.index_name)
        )
    cursor.execute(
        "DELETE FROM version_indexes WHERE collection_id = ? AND field_name = ?", (collection_id, definition.field_name)
    )


def version_definition(
    base: IndexDefinition, column_key: str, spec: IndexSpec, search_params: dict[str, Any], created_at: float
) -> IndexDefinition:
    """``base`` (the field's definition) with a version's own spec for ``column_key``."""
    defaults = tuple(sorted((str(name), int(value)) for name, value in search_params.items()))
    return replace(base, spec=spec, created_at=created_at, column_key=column_key, search_defaults=defaults)
