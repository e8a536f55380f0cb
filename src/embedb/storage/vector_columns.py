"""Vector columns of sealed segments: add one chunk by chunk (a backfill), drop one everywhere.

A sealed segment's files never change, but its set of vector columns can: a
backfill embeds a segment's rows with a new model version and adds the matrix
as one more column, keyed by embedding version. The rows arrive in chunks; each
is made durable in a partial file with its end recorded in the catalog (see
``partial_columns``), so a crash loses at most the chunk being written. The
chunk that completes the column publishes it: the column file and its norms
get their names, then the manifest that names them is published in one catalog
update that also forgets the partial; a crash in between leaves unreferenced
files that the next open removes, and the partial as it was.
Dropping a column publishes the manifest without it, then unlinks its files.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from embedb.storage.catalog import Catalog
from embedb.storage.partial_columns import (
    PartialColumn,
    forget_partials,
    partial_file_name,
    record_chunk,
    write_chunk,
)
from embedb.storage.segment import SegmentData, vector_norms
from embedb.storage.segment_files import add_vector_column, read_segment
from embedb.storage.state import StoreLayout, StoreState

SameTransaction = Callable[[sqlite3.Cursor], None]
"""Writes of the caller's own tables, committed in the catalog transaction that records a chunk."""
NORM_ROWS = 65_536


def append_rows(
    state: StoreState,
    data: SegmentData,
    key: str,
    start: int,
    matrix: np.ndarray,
    *,
    write_lock: threading.RLock,
    layout: StoreLayout,
    catalog: Catalog,
    collection_id: int,
    same_transaction: SameTransaction | None = None,
) -> SegmentData | None:
    """Make ``matrix`` rows ``start...`` of vector column ``key`` of ``data``, durably; return the segment if now complete.

    Returns the updated segment when these rows completed the column (it is
    published), ``None`` when more rows are to come (the chunk is recorded).
    Either way ``same_transaction`` runs in the catalog transaction that commits
    the rows. The caller holds the flush lock (no seal, compaction or other
    column change runs meanwhile) and has checked that ``data`` is sealed now and
    lacks ``key``; ``write_lock`` is taken only to publish. Raises ``ValueError``
    (nothing written) when ``start`` is not the number of rows done, the matrix
    is empty, of another width than the rows before, or runs past the segment.
    """
    segment_id = data.segment_id
    rows, dim = int(matrix.shape[0]), int(matrix.shape[1])
    partial = state.partials.get((segment_id, key)) or PartialColumn(
        segment_id, key, partial_file_name(key), dim, data.num_rows, rows_done=0, bytes_done=0
    )
    if start != partial.rows_done:
        raise ValueError(f"column {key!r} of segment {segment_id} has {partial.rows_done} rows done, not {start}")
    if rows == 0 or start + rows > data.num_rows:
        raise ValueError(f"rows {start}..{start + rows} do not fit segment {segment_id} of {data.num_rows} rows")
    if dim != partial.dim:
        raise ValueError(f"column {key!r} of segment {segment_id} is {partial.dim} wide, the new rows {dim}")
    folder = layout.segment(segment_id)
    written, chunk = write_chunk(folder, partial, start, matrix)
    if written.rows_done < data.num_rows:
        # Only flush-lock holders read or change a segment's partials, so the write
        # lock (which every insert takes) stays free while the chunk commits.
        with catalog.transaction() as cursor:
            record_chunk(cursor, collection_id, written, chunk)
            if same_transaction is not None:
                same_transaction(cursor)
        state.partials[(segment_id, key)] = written
        return None
    return _publish(state, data, written, write_lock, layout, catalog, collection_id, same_transaction)


def _publish(
    state: StoreState,
    data: SegmentData,
    partial: PartialColumn,
    write_lock: threading.RLock,
    layout: StoreLayout,
    catalog: Catalog,
    collection_id: int,
    same_transaction: SameTransaction | None,
) -> SegmentData:
    """Publish a complete partial file as a column of ``data``, in one catalog transaction that forgets the partial."""
    segment_id = data.segment_id
    folder = layout.segment(segment_id)
    column_file = folder / partial.file
    column = np.load(column_file, mmap_mode="r")
    norms = np.concatenate(
        [vector_norms(np.asarray(column[i : i + NORM_ROWS])) for i in range(0, data.num_rows, NORM_ROWS)]
    )
    del column
    manifest = add_vector_column(
        folder, _published_manifest(catalog, collection_id, segment_id), partial.key, column_file, norms
    )
    with write_lock:
        with catalog.transaction() as cursor:
            _publish_manifest(cursor, collection_id, segment_id, manifest)
            forget_partials(cursor, collection_id, segment_id=segment_id, key=partial.key)
            if same_transaction is not None:
                same_transaction(cursor)
        updated = read_segment(folder, manifest, segment_id=segment_id, verify=False)
        state.sealed[segment_id] = updated
        state.partials.pop((segment_id, partial.key), None)
        state.cached_snapshot = None
    column_file.unlink(missing_ok=True)  # the column's own name keeps the bytes
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
    The column's partial files (segments it was being built on) are forgotten
    first, in one catalog update, and unlinked.
    """
    building = [partial for (_, partial_key), partial in state.partials.items() if partial_key == key]
    if building:
        with catalog.transaction() as cursor:
            forget_partials(cursor, collection_id, key=key)
        for partial in building:
            del state.partials[(partial.segment_id, key)]
            (layout.segment(partial.segment_id) / partial.file).unlink(missing_ok=True)
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
            with catalog.transaction() as cursor:
                _publish_manifest(cursor, collection_id, segment_id, manifest)
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


def _publish_manifest(cursor: sqlite3.Cursor, collection_id: int, segment_id: int, manifest: dict[str, Any]) -> None:
    cursor.execute(
        "UPDATE segments SET manifest = ? WHERE collection_id = ? AND segment_id = ?",
        (json.dumps(manifest), collection_id, segment_id),
    )
