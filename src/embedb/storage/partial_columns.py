"""Vector columns under construction: a sealed segment's new column, written chunk by chunk.

Embedding the rows of a large segment with a new model version can take hours;
so that a crash costs at most one chunk of that work, the new column is written
as one file per (segment, column key), ``partial.<hash>.npy``, appended to in
chunks of rows, in row order. Its ``.npy`` header names the column's final shape
from the start, so the complete file *is* the column file that gets published.

Each chunk is made durable in two steps:

1. its bytes are written after the committed end of the file (cutting whatever
   a crash left past it) and fsync'd;
2. one catalog transaction records the new committed end — ``partial_columns``
   (rows done, bytes done) and the chunk's byte range and CRC32 in
   ``partial_column_chunks`` — together with what the caller writes in the same
   transaction (a backfill: its job's progress).

A crash before step 2 leaves bytes past the committed end, which the next open
cuts: after any crash the file holds exactly the rows the catalog says.
The chunk that completes a column is not recorded here: it publishes the column
(``vector_columns.append_rows``), which drops the partial's rows in the same
transaction. A partial file the catalog does not name is debris of a crash (or
of a column that was dropped) and the next writable open removes it.

A segment with a column under construction is not compacted (merging it would
throw the column's finished chunks away); a caller that gives a column up drops
it with ``CollectionStore.drop_vector_column``.
"""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from embedb.errors import CorruptionError
from embedb.storage.catalog import Catalog
from embedb.storage.durable import fsync_path

PARTIAL_PREFIX = "partial."


@dataclass(frozen=True)
class PartialColumn:
    """A vector column of a sealed segment whose first ``rows_done`` rows are durable."""

    segment_id: int
    key: str
    file: str
    dim: int
    rows: int  # the segment's row count: the column's final length
    rows_done: int
    bytes_done: int  # header and ``rows_done`` rows: the committed length of ``file``


@dataclass(frozen=True)
class Chunk:
    """Bytes ``[start, end)`` of a partial file, which hold its rows up to ``rows_done``, and their CRC32."""

    start: int
    end: int
    rows_done: int
    crc: int


def partial_file_name(key: str) -> str:
    """The partial file of column ``key``: derived from the key, so a retry after a crash writes the same name."""
    return f"{PARTIAL_PREFIX}{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}.npy"


def npy_header(rows: int, dim: int) -> bytes:
    """The ``.npy`` header of a C-ordered float32 ``(rows, dim)`` array, as ``np.save`` writes it."""
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False, "shape": (rows, dim)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


# ----------------------------------------------------------------- files


def write_chunk(folder: Path, partial: PartialColumn, start: int, matrix: np.ndarray) -> tuple[PartialColumn, Chunk]:
    """Write ``matrix`` as rows ``start...`` of ``partial``'s file and fsync it; return the new state, not yet recorded.

    ``partial`` is what the catalog recorded (``rows_done == 0``: nothing, the
    file is created). The caller has checked that ``start == partial.rows_done``,
    the width and that the rows fit. Bytes past the committed end (an
    unrecorded chunk a crash or a failed transaction left) are overwritten.
    """
    payload = np.ascontiguousarray(matrix, dtype=np.float32).tobytes()
    path = folder / partial.file
    if partial.rows_done == 0:
        payload = npy_header(partial.rows, partial.dim) + payload
        with open(path, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_path(folder)  # the catalog is about to name this file: its name must be durable first
    else:
        with open(path, "r+b") as handle:
            handle.seek(partial.bytes_done)
            handle.truncate()
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    end = partial.bytes_done + len(payload)
    rows_done = start + int(matrix.shape[0])
    chunk = Chunk(partial.bytes_done, end, rows_done, zlib.crc32(payload))
    return replace(partial, rows_done=rows_done, bytes_done=end), chunk


def verify_partial(folder: Path, partial: PartialColumn, chunks: list[Chunk]) -> int:
    """Check the committed bytes of a partial file against their CRCs; return how many bytes follow them.

    Raises ``CorruptionError`` naming the file and the offset of the first bad
    chunk (or of the end, when the file is shorter than recorded). Bytes after
    the committed end are a chunk a crash cut short: not damage.
    """
    path = folder / partial.file
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorruptionError(f"{path}: file is missing", file=str(path), offset=0) from None
    if size < partial.bytes_done:
        raise CorruptionError(
            f"{path}: size is {size} bytes, the catalog recorded {partial.bytes_done}",
            file=str(path),
            offset=size,
        )
    with open(path, "rb") as handle:
        for chunk in chunks:
            handle.seek(chunk.start)
            if zlib.crc32(handle.read(chunk.end - chunk.start)) != chunk.crc:
                raise CorruptionError(
                    f"{path}: checksum mismatch in the chunk of bytes {chunk.start}..{chunk.end}",
                    file=str(path),
                    offset=chunk.start,
                )
    return size - partial.bytes_done


def cut_tail(folder: Path, partial: PartialColumn) -> None:
    """Cut a partial file back to its committed length (a writer, after a crash)."""
    path = folder / partial.file
    with open(path, "r+b") as handle:
        handle.truncate(partial.bytes_done)
        os.fsync(handle.fileno())


# --------------------------------------------------------------- catalog


def load_partials(catalog: Catalog, collection_id: int) -> dict[tuple[int, str], tuple[PartialColumn, list[Chunk]]]:
    """Every column under construction of a collection, with its chunks, keyed by (segment id, key).

    Empty for a catalog written before columns were built in chunks (a read-only
    open cannot add the tables).
    """
    if catalog.query_one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'partial_columns'") is None:
        return {}
    with catalog.read_transaction():
        rows = catalog.query(
            "SELECT * FROM partial_columns WHERE collection_id = ? ORDER BY segment_id, column_key", (collection_id,)
        )
        chunk_rows = catalog.query(
            "SELECT segment_id, column_key, byte_start, byte_end, rows_done, crc FROM partial_column_chunks"
            " WHERE collection_id = ? ORDER BY segment_id, column_key, byte_start",
            (collection_id,),
        )
    found: dict[tuple[int, str], tuple[PartialColumn, list[Chunk]]] = {}
    for row in rows:
        partial = PartialColumn(
            segment_id=int(row["segment_id"]),
            key=row["column_key"],
            file=row["file"],
            dim=int(row["dim"]),
            rows=int(row["rows"]),
            rows_done=int(row["rows_done"]),
            bytes_done=int(row["bytes_done"]),
        )
        found[(partial.segment_id, partial.key)] = (partial, [])
    for row in chunk_rows:
        entry = found.get((int(row["segment_id"]), row["column_key"]))
        if entry is not None:
            entry[1].append(Chunk(int(row["byte_start"]), int(row["byte_end"]), int(row["rows_done"]), int(row["crc"])))
    return found


def record_chunk(cursor: sqlite3.Cursor, collection_id: int, partial: PartialColumn, chunk: Chunk) -> None:
    """Record ``chunk`` and the committed end of ``partial`` (its state after the chunk), in the caller's transaction."""
    cursor.execute(
        "INSERT INTO partial_columns (collection_id, segment_id, column_key, file, dim, rows, rows_done, bytes_done)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collection_id, segment_id, column_key)"
        " DO UPDATE SET rows_done = excluded.rows_done, bytes_done = excluded.bytes_done",
        (
            collection_id,
            partial.segment_id,
            partial.key,
            partial.file,
            partial.dim,
            partial.rows,
            partial.rows_done,
            partial.bytes_done,
        ),
    )
    cursor.execute(
        "INSERT INTO partial_column_chunks (collection_id, segment_id, column_key, byte_start, byte_end, rows_done, crc)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (collection_id, partial.segment_id, partial.key, chunk.start, chunk.end, chunk.rows_done, chunk.crc),
    )


def forget_partials(
    cursor: sqlite3.Cursor, collection_id: int, *, segment_id: int | None = None, key: str | None = None
) -> None:
    """Delete the catalog rows of partial columns (of one segment, one key, or both), in the caller's transaction.

    Their files become debris: the caller unlinks them after the commit, or the next open does.
    """
    where = "collection_id = ?"
    params: list[object] = [collection_id]
    if segment_id is not None:
        where += " AND segment_id = ?"
        params.append(segment_id)
    if key is not None:
        where += " AND column_key = ?"
        params.append(key)
    cursor.execute(f"DELETE FROM partial_column_chunks WHERE {where}", params)
    cursor.execute(f"DELETE FROM partial_columns WHERE {where}", params)
