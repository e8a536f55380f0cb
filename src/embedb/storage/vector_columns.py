"""Vector columns of sealed segments: add one (a backfill chunk), drop one everywhere.

A sealed segment's files never change, but its set of vector columns can: a
backfill embeds a segment's rows with a new model version and adds the matrix
as one more column, keyed by embedding version. The column file is written
first, then the manifest that names it is published in one catalog update; a
crash in between leaves an unreferenced file that the next open removes.
Dropping a column publishes the manifest without it, then unlinks its files.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from embedb.storage.catalog import Catalog
from embedb.storage.segment import SegmentData, vector_norms
from embedb.storage.segment_files import add_vector_column, read_segment
from embedb.storage.state import StoreLayout, StoreState


def add_column(
    state: StoreState,
    data: SegmentData,
    key: str,
    matrix: np.ndarray,
    *,
    write_lock: threading.RLock,
    layout: StoreLayout,
    catalog: Catalog,
    collection_id: int,
) -> SegmentData:
    """Add the float32 ``matrix`` (row-aligned with ``data``) as vector column ``key``; return the updated segment.

    The caller holds the flush lock (no seal or compaction swaps the
    segment away) and has checked that ``data`` is sealed now and lacks
    ``key``. The file is written without the write lock; ``write_lock`` is
    taken for the catalog update and the swap of the segment in the state.
    Raises ``ValueError`` when the row counts differ (nothing written).
    """
    segment_id = data.segment_id
    if matrix.shape[0] != data.num_rows:
        raise ValueError(f"segment {segment_id} has {data.num_rows} rows, the new column {matrix.shape[0]}")
    folder = layout.segment(segment_id)
    published = _published_manifest(catalog, collection_id, segment_id)
    manifest = add_vector_column(folder, published, key, matrix, vector_norms(matrix))
    with write_lock:
        _publish_manifest(catalog, collection_id, segment_id, manifest)
        updated = read_segment(folder, manifest, segment_id=segment_id, verify=False)
        state.sealed[segment_id] = updated
        state.cached_snapshot = None
    return updated


def drop_column(
    state: StoreState,
    key: str,
    *,
    write_lock: threading.RLock,
    layout: StoreLayout,
    catalog: Catalog,
    collection_id: int,
) -> int:
    """Remove vector column ``key`` from every sealed segment that has it; return how many had it.

    The caller holds the flush lock and has sealed the growing rows first.
    Each segment is published on its own (one catalog update, under
    ``write_lock``), so a crash midway leaves some segments with the column and
    some without, each consistent; its files are unlinked after the update.
    """
    dropped = 0
    for segment_id, data in list(state.sealed.items()):
        if key not in data.vectors:
            continue
        manifest = _published_manifest(catalog, collection_id, segment_id)
        names = manifest["vectors"].pop(key)
        for name in names.values():
            manifest["files"].pop(name, None)
        folder = layout.segment(segment_id)
        with write_lock:
            _publish_manifest(catalog, collection_id, segment_id, manifest)
            state.sealed[segment_id] = read_segment(folder, manifest, segment_id=segment_id, verify=False)
            state.cached_snapshot = None
        # Readers holding an older snapshot keep their memory maps; unlinking is safe.
        for name in names.values():
            (folder / name).unlink(missing_ok=True)
        dropped += 1
    return dropped


def _published_manifest(catalog: Catalog, collection_id: int, segment_id: int) -> dict[str, Any]:
    row = catalog.query_one(
        "SELECT manifest FROM segments WHERE collection_id = ? AND segment_id = ?",
        (collection_id, segment_id),
    )
    assert row is not None, "a sealed segment in memory is in the catalog"
    manifest: dict[str, Any] = json.loads(row["manifest"])
    return manifest


def _publish_manifest(catalog: Catalog, collection_id: int, segment_id: int, manifest: dict[str, Any]) -> None:
    with catalog.transaction() as cursor:
        cursor.execute(
            "UPDATE segments SET manifest = ? WHERE collection_id = ? AND segment_id = ?",
            (json.dumps(manifest), collection_id, segment_id),
        )
