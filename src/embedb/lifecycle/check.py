"""Embedding versions whose vectors disagree with their state: the lifecycle part of ``embedb check``.

A drop (or a cancelled backfill) marks its version RETIRING, deletes its vectors
and indexes, then marks it RETIRED; a crash in between leaves either a RETIRING
version or vectors of a RETIRED one still in a segment. Opening the directory
writable (or dropping the version again) finishes the job. A READY version has
a vector of every row, so every sealed segment with rows has its column (an
analyzer version of a BM25 field stores none: its counts come from the text);
``incomplete_ready_versions`` lists one that does not (no open repairs that).
Both only read the catalog's segment manifests (no writer lock, no segment
file), so ``embedb check`` lists them beside a running server.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from embedb.errors import StorageError
from embedb.storage import CATALOG_FILE, Catalog


@dataclass(frozen=True)
class HalfDroppedVersion:
    """One model version of a field whose drop did not finish."""

    collection: str
    field: str
    version: str
    state: str
    # sealed segments that still hold its vectors
    segments: int


@dataclass(frozen=True)
class IncompleteVersion:
    """A READY model version of a field that some sealed segments hold no vectors of."""

    collection: str
    field: str
    version: str
    # sealed segments with rows that lack its vector column
    segments: int


def half_dropped_versions(path: Path) -> list[HalfDroppedVersion]:
    """Versions left RETIRING, or RETIRED with vectors still in a segment; raise ``StorageError`` if ``path`` is no data directory."""
    found = []
    for version, columns in _versions_and_columns(path, ("RETIRING", "RETIRED")):
        segments = sum(1 for keys, _ in columns if version["column_key"] in keys)
        if version["state"] == "RETIRING" or segments:
            found.append(
                HalfDroppedVersion(version["name"], version["field"], _uri(version), version["state"], segments)
            )
    return found


def incomplete_ready_versions(path: Path) -> list[IncompleteVersion]:
    """READY versions that a sealed segment with rows has no column of; raise ``StorageError`` if ``path`` is no data directory."""
    found = []
    for version, columns in _versions_and_columns(path, ("READY",)):
        if not version["dimension"]:  # an analyzer version: its counts are made from the text, no column is stored
            continue
        segments = sum(1 for keys, rows in columns if rows and version["column_key"] not in keys)
        if segments:
            found.append(IncompleteVersion(version["name"], version["field"], _uri(version), segments))
    return found


def _versions_and_columns(path: Path, states: tuple[str, ...]) -> list[tuple[sqlite3.Row, list[tuple[set[str], int]]]]:
    """Each version in one of ``states``, with the (vector columns, rows) of every sealed segment of its collection."""
    if not (path / CATALOG_FILE).exists():
        raise StorageError(f"{path} is not an EmbeDB data directory (no {CATALOG_FILE})")
    catalog = Catalog(path / CATALOG_FILE, read_only=True)
    try:
        with catalog.read_transaction():  # versions and manifests of one catalog state
            if catalog.query_one("SELECT name FROM sqlite_master WHERE name = 'embedding_versions'") is None:
                return []
            versions = catalog.query(
                "SELECT c.name, e.collection_id, e.field, e.model_name, e.model_version, e.column_key, e.state, e.dimension"
                " FROM embedding_versions e JOIN collections c ON c.id = e.collection_id"
                f" WHERE e.state IN ({', '.join('?' for _ in states)})"
                " ORDER BY c.name, e.field, e.model_name, e.model_version",
                states,
            )
            columns: dict[int, list[tuple[set[str], int]]] = {}  # per collection: each sealed segment's columns, rows
            for row in catalog.query("SELECT collection_id, row_count, manifest FROM segments"):
                keys = set(json.loads(row["manifest"])["vectors"])
                columns.setdefault(int(row["collection_id"]), []).append((keys, int(row["row_count"])))
    finally:
        catalog.close()
    return [(version, columns.get(int(version["collection_id"]), [])) for version in versions]


def _uri(version: sqlite3.Row) -> str:
    return f"models:/{version['model_name']}/{version['model_version']}"
