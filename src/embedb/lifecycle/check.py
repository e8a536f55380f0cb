"""Embedding versions a crash left half dropped: the lifecycle part of ``embedb check``.

A drop (or a cancelled backfill) marks its version RETIRING, deletes its vectors
and indexes, then marks it RETIRED; a crash in between leaves either a RETIRING
version or vectors of a RETIRED one still in a segment. Opening the directory
writable (or dropping the version again) finishes the job; ``half_dropped_versions``
only reads the catalog (no writer lock), so ``embedb check`` lists them beside a
running server.
"""

from __future__ import annotations

import json
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


def half_dropped_versions(path: Path) -> list[HalfDroppedVersion]:
    """Versions left RETIRING, or RETIRED with vectors still in a segment; raise ``StorageError`` if ``path`` is no data directory."""
    if not (path / CATALOG_FILE).exists():
        raise StorageError(f"{path} is not an EmbeDB data directory (no {CATALOG_FILE})")
    catalog = Catalog(path / CATALOG_FILE, read_only=True)
    try:
        if catalog.query_one("SELECT name FROM sqlite_master WHERE name = 'embedding_versions'") is None:
            return []
        versions = catalog.query(
            "SELECT c.name, e.collection_id, e.field, e.model_name, e.model_version, e.column_key, e.state"
            " FROM embedding_versions e JOIN collections c ON c.id = e.collection_id"
            " WHERE e.state IN ('RETIRING', 'RETIRED') ORDER BY c.name, e.field, e.model_name, e.model_version"
        )
        columns: dict[int, list[set[str]]] = {}  # per collection, the vector columns of each sealed segment
        for row in catalog.query("SELECT collection_id, manifest FROM segments"):
            columns.setdefault(int(row["collection_id"]), []).append(set(json.loads(row["manifest"])["vectors"]))
    finally:
        catalog.close()
    found = []
    for row in versions:
        segments = sum(1 for keys in columns.get(int(row["collection_id"]), []) if row["column_key"] in keys)
        if row["state"] == "RETIRING" or segments:
            found.append(
                HalfDroppedVersion(
                    row["name"], row["field"], f"models:/{row['model_name']}/{row['model_version']}", row["state"], segments
                )
            )
    return found
