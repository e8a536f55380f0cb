"""Scalar indexes (Milvus's INVERTED, BITMAP, STL_SORT, TRIE): defined on scalar fields, used by filters.

A scalar index is a definition in the ``scalar_indexes`` table; what it
builds is a ``SortedColumn`` per sealed segment (``embedb.query``: the
column's values sorted, with their row numbers), made by the first filter
that can use it and kept with the segment (its rows never change). A
filter's top-level comparisons of an indexed field with constants (``==``,
``<``, ``<=``, ``>``, ``>=``, ``in``) then find their rows by binary search
instead of comparing every row. Milvus's four types are one structure here;
each keeps Milvus's rule on which field types it takes.

Rules as in Milvus: one index per field (the same definition again is a
no-op), names unique within the collection (vector indexes included), and a
nullable field, a JSON field or a vector field takes no scalar index here.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from embedb.errors import IndexAlreadyExistsError, InvalidArgumentError
from embedb.index.requests import IndexRequest
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType, check_name
from embedb.storage import Catalog

SCALAR_INDEX_TABLES = """
CREATE TABLE IF NOT EXISTS scalar_indexes (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field_name TEXT NOT NULL,
    index_name TEXT NOT NULL,
    index_type TEXT NOT NULL,
    requested_type TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (collection_id, field_name),
    UNIQUE (collection_id, index_name)
);
"""

_INTEGERS = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
# The field types each Milvus scalar index type takes (ARRAY and JSON fields: not yet).
SCALAR_INDEX_TYPES: dict[str, frozenset[DataType]] = {
    "INVERTED": frozenset({DataType.BOOL, *_INTEGERS, DataType.FLOAT, DataType.DOUBLE, DataType.VARCHAR, DataType.TIMESTAMPTZ}),
    "BITMAP": frozenset({DataType.BOOL, *_INTEGERS, DataType.VARCHAR}),
    "STL_SORT": frozenset({*_INTEGERS, DataType.FLOAT, DataType.DOUBLE, DataType.VARCHAR, DataType.TIMESTAMPTZ}),
    "TRIE": frozenset({DataType.VARCHAR}),
    # A sparse field's inverted lists are built from its rows on first use (embedb.storage.sparse_vectors).
    "SPARSE_INVERTED_INDEX": frozenset({DataType.SPARSE_FLOAT_VECTOR}),
    "SPARSE_WAND": frozenset({DataType.SPARSE_FLOAT_VECTOR}),
}
# Milvus's parameters of a sparse index: accepted (EmbeDB's inverted lists are exact and need none of them).
SPARSE_INDEX_PARAMS = frozenset({"inverted_index_algo", "drop_ratio_build", "bm25_k1", "bm25_b"})
SCALAR_AUTOINDEX = "INVERTED"


@dataclass(frozen=True)
class ScalarIndex:
    """A user's index on one scalar field."""

    index_name: str
    field_name: str
    index_type: str
    requested_type: str
    created_at: float

    def describe(self, total_rows: int) -> dict[str, Any]:
        """pymilvus's describe_index dict: ready once defined (each sealed segment sorts its column on first use)."""
        return {
            "index_name": self.index_name,
            "field_name": self.field_name,
            "index_type": self.index_type,
            "requested_index_type": self.requested_type,
            "metric_type": "",
            "params": {},
            "library": "embedb",
            "state": "Finished",
            "builds_enabled": True,
            "total_rows": total_rows,
            "indexed_rows": total_rows,
            "pending_index_rows": 0,
            "exact_rows": 0,
            "index_bytes": 0,
            "segments": {},
            "failures": [],
        }


def scalar_index(field: FieldSchema, index_type: str, index_name: str | None, params: dict[str, Any]) -> ScalarIndex:
    """Check a request for an index on a scalar field; raises ``InvalidArgumentError`` naming what is wrong."""
    requested = (index_type or "AUTOINDEX").strip().upper()
    automatic = "SPARSE_INVERTED_INDEX" if field.dtype.is_sparse else SCALAR_AUTOINDEX
    resolved = automatic if requested == "AUTOINDEX" else requested
    accepted = SCALAR_INDEX_TYPES.get(resolved)
    where = f"field {field.name!r} ({field.dtype.name})"
    if accepted is None:
        raise InvalidArgumentError(
            f"{where}: unknown scalar index type {index_type!r}; use one of {sorted(SCALAR_INDEX_TYPES)} or AUTOINDEX",
            parameter="index_type",
        )
    if field.dtype not in accepted:
        raise InvalidArgumentError(f"{where}: a {resolved} index does not take {field.dtype.name} fields", parameter="index_type")
    if field.nullable:
        raise InvalidArgumentError(f"{where}: nullable fields take no scalar index yet", parameter="field_name")
    allowed = SPARSE_INDEX_PARAMS if field.dtype.is_sparse else frozenset()
    if set(params) - allowed:
        raise InvalidArgumentError(
            f"{where}: a {resolved} index takes no parameters {sorted(set(params) - allowed)}", parameter="params"
        )
    name = index_name or field.name
    check_name(name, kind="index")
    return ScalarIndex(name, field.name, resolved, requested, time.time())


def scalar_definitions(schema: CollectionSchema, requests: list[IndexRequest]) -> list[ScalarIndex]:
    """Requests for indexes on scalar and sparse fields, checked against the schema (before anything is written).

    A sparse field's index may name its field's metric (IP, or BM25 for a BM25
    function's output); a scalar index takes none.
    """
    for request in requests:
        field = schema.field(request.field_name)
        if request.metric_type and not (field.dtype.is_sparse and MetricType.parse(request.metric_type) is field.metric_type):
            expected = f"uses metric {field.metric_type.value}" if field.dtype.is_sparse and field.metric_type else "takes no metric_type"
            raise InvalidArgumentError(f"field {request.field_name!r}: its index {expected}", parameter="metric_type")
    return [scalar_index(schema.field(r.field_name), r.index_type, r.index_name or None, r.params) for r in requests]


class ScalarIndexes:
    """The scalar index definitions of a database, in its catalog; cached per collection. Thread-safe reads."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        if not catalog.read_only:
            catalog.ensure_tables(SCALAR_INDEX_TABLES)
        self._cache: dict[int, dict[str, ScalarIndex]] = {}

    def definitions(self, collection_id: int) -> dict[str, ScalarIndex]:
        """The scalar indexes of a collection, by field name."""
        cached = self._cache.get(collection_id)
        if cached is not None:
            return cached
        try:
            rows = self.catalog.query("SELECT * FROM scalar_indexes WHERE collection_id = ?", (collection_id,))
        except sqlite3.OperationalError:  # a read-only open of a directory that never had one
            rows = []
        found = {
            row["field_name"]: ScalarIndex(row["index_name"], row["field_name"], row["index_type"], row["requested_type"], row["created_at"])
            for row in rows
        }
        self._cache = {**self._cache, collection_id: found}
        return found

    def check(self, collection_id: int, index: ScalarIndex, taken_names: set[str]) -> None:
        """Raise ``IndexAlreadyExistsError`` when ``add`` would refuse ``index`` (another index on its field, a taken name)."""
        existing = self.definitions(collection_id).get(index.field_name)
        if existing is not None:
            if (existing.index_name, existing.index_type) == (index.index_name, index.index_type):
                return
            raise IndexAlreadyExistsError(
                f"field {index.field_name!r} already has index {existing.index_name!r} ({existing.index_type}); drop it first",
                index=existing.index_name,
            )
        if index.index_name in taken_names or any(i.index_name == index.index_name for i in self.definitions(collection_id).values()):
            raise IndexAlreadyExistsError(f"index name {index.index_name!r} is taken", index=index.index_name)

    def add(self, collection_id: int, index: ScalarIndex, taken_names: set[str]) -> None:
        """Record ``index`` (a no-op when the same one exists); raises ``IndexAlreadyExistsError``."""
        self.check(collection_id, index, taken_names)
        if index.field_name in self.definitions(collection_id):
            return
        with self.catalog.transaction() as cursor:
            cursor.execute(
                "INSERT INTO scalar_indexes (collection_id, field_name, index_name, index_type, requested_type, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (collection_id, index.field_name, index.index_name, index.index_type, index.requested_type, index.created_at),
            )
        self._cache.pop(collection_id, None)

    def drop(self, collection_id: int, index: ScalarIndex) -> None:
        with self.catalog.transaction() as cursor:
            cursor.execute("DELETE FROM scalar_indexes WHERE collection_id = ? AND field_name = ?", (collection_id, index.field_name))
        self._cache.pop(collection_id, None)

    def find(self, collection_id: int, index_name: str) -> ScalarIndex | None:
        """The index named ``index_name`` (or on the field of that name)."""
        definitions = self.definitions(collection_id)
        return next((i for i in definitions.values() if i.index_name == index_name), None) or definitions.get(index_name)

    def indexed_fields(self, collection_id: int, schema: CollectionSchema) -> frozenset[str]:
        """The fields filters may read through a sorted column (defined, and still scalar in the schema)."""
        return frozenset(name for name in self.definitions(collection_id) if schema.has_field(name))
