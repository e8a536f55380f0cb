"""Index builds a data directory records as failed or never scheduled: the index part of ``embedb check``.

``failed_index_builds`` only reads the catalog (no writer lock, so it works
beside a running server). Each entry stays recorded until a build of that
segment is published; a writable open of the directory retries them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from embedb.errors import StorageError
from embedb.index.catalog import IndexCatalog
from embedb.storage import CATALOG_FILE, Catalog


@dataclass(frozen=True)
class FailedIndexBuild:
    """One (segment, column) whose index build failed or was never scheduled; it is searched exactly meanwhile."""

    collection: str
    index_name: str
    segment_id: int
    column_key: str
    error: str
    time: float


def failed_index_builds(path: Path) -> list[FailedIndexBuild]:
    """Every recorded index build failure of a data directory; raise ``StorageError`` if it is not one."""
    if not (path / CATALOG_FILE).exists():
        raise StorageError(f"{path} is not an EmbeDB data directory (no {CATALOG_FILE})")
    catalog = Catalog(path / CATALOG_FILE, read_only=True)
    try:
        rows = IndexCatalog(catalog).build_failures()
    finally:
        catalog.close()
    return [
        FailedIndexBuild(
            row["collection"], row["index_name"], int(row["segment_id"]), row["column_key"], row["error"], row["time"]
        )
        for row in rows
    ]
