"""Index properties (pymilvus's ``alter_index_properties``): a JSON object per index, shown by ``describe_index``.

EmbeDB stores them and acts on none (``mmap.enabled`` is Milvus's usual one; EmbeDB
decides its own memory mapping). They go with their index when it is dropped and
with their collection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from embedb.storage import Catalog

INDEX_PROPERTY_TABLES = """
CREATE TABLE IF NOT EXISTS index_properties (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    index_name TEXT NOT NULL,
    properties TEXT NOT NULL,
    PRIMARY KEY (collection_id, index_name)
);
"""


class IndexProperties:
    """The properties of every index of a database, in its catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        if not catalog.read_only:
            catalog.ensure_tables(INDEX_PROPERTY_TABLES)
        self._cache: dict[tuple[int, str], dict[str, Any]] = {}  # dropped on every change made here

    def get(self, collection_id: int, index_name: str) -> dict[str, Any]:
        """An index's properties (a copy); read from the catalog once, then from memory (BM25 reads them per search)."""
        cached = self._cache.get((collection_id, index_name))
        if cached is None:
            cached = self._cache[(collection_id, index_name)] = self._read(collection_id, index_name)
        return dict(cached)

    def _read(self, collection_id: int, index_name: str) -> dict[str, Any]:
        try:
            row = self.catalog.query_one(
                "SELECT properties FROM index_properties WHERE collection_id = ? AND index_name = ?", (collection_id, index_name)
            )
        except sqlite3.OperationalError:  # a read-only open of a directory that never had one
            return {}
        return {} if row is None else dict(json.loads(row["properties"]))

    def alter(self, collection_id: int, index_name: str, changes: dict[str, Any], dropped: Sequence[str] = ()) -> None:
        """Set ``changes`` and remove ``dropped`` (JSON-ready values), in one transaction."""
        self._cache.pop((collection_id, index_name), None)
        with self.catalog.transaction() as cursor:
            row = cursor.execute(
                "SELECT properties FROM index_properties WHERE collection_id = ? AND index_name = ?", (collection_id, index_name)
            ).fetchone()
            properties = {**(json.loads(row["properties"]) if row else {}), **changes}
            for key in dropped:
                properties.pop(key, None)
            cursor.execute(
                "INSERT OR REPLACE INTO index_properties (collection_id, index_name, properties) VALUES (?, ?, ?)",
                (collection_id, index_name, json.dumps(properties)),
            )

    def forget(self, collection_id: int, index_name: str) -> None:
        """An index was dropped: its properties go too."""
        self._cache.pop((collection_id, index_name), None)
        with self.catalog.transaction() as cursor:
            cursor.execute("DELETE FROM index_properties WHERE collection_id = ? AND index_name = ?", (collection_id, index_name))
