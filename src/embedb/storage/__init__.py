"""Storage: durable rows of collections in one data directory, and consistent snapshots of them.

This module is the layer's interface; the implementations sit beside it. Other
layers import from here only. The vocabulary:

- a ``StorageEngine`` is everything stored in one data directory: the writer
  lock, the ``Catalog`` (one SQLite database) and one ``CollectionStore`` per
  collection it has opened; a collection is described by a ``CollectionInfo``;
- a ``CollectionStore`` takes writes as ``RowBatch``es (insert, upsert, delete,
  drop a partition), each logged as one WAL record, and seals them into
  immutable segments (``checkpoint``) that it merges in the background
  (``compact``);
- a reader takes a ``Snapshot``: a tuple of ``SegmentView``s, each a
  ``SegmentData`` (primary keys, row LSNs, partitions, an Arrow table of
  scalars, one float32 matrix per vector column) and its pinned deletion marks.

What the layer guarantees:

- A write is atomic: one WAL record, all of it or none of it after a crash (an
  upsert deletes and inserts in the same record). Once a write returns it
  survives ``kill -9``, and also an OS crash under the default ``fsync``
  durability (``relaxed``: a write reaches the OS, not the disk, before it returns).
- Readers never lock and never see a change: a snapshot keeps its segment list
  and deletion marks for as long as it is held, while writes, seals and
  compactions go on.
- A seal (with the WAL checkpoint it advances), a compaction or a new vector
  column is published in one catalog transaction; its files are written first
  (temp, fsync, rename) and what a crash leaves unpublished is deleted on the
  next open. A new vector column of a sealed segment may be written in chunks
  (``CollectionStore.add_vector_rows``): each chunk is fsync'd and committed in
  one catalog transaction with the caller's own writes, so a crash keeps every
  committed chunk; dropping the column drops its committed chunks too. Other
  layers add their own tables to the same catalog (``Catalog.ensure_tables``)
  and write them in the same transactions.
- One writer process per data directory (a second one gets
  ``DirectoryLockedError``); read-only opens may run beside it and each sees a
  consistent point in time. A checksum mismatch raises ``CorruptionError``
  naming the file and offset; a newer on-disk format raises ``FormatVersionError``.
- Storage tells the layers above of every opened store and every change of
  sealed segments through the one ``StorageObserver`` its owner passes in.

Ingest (``to_columns`` / ``prepare_batch`` / ``check_vectors`` /
``check_query_vectors``) turns what a user hands in — rows, columns, NumPy,
Arrow, pandas — into a schema-checked ``RowBatch`` before anything is written;
a bad value raises ``DataError`` naming the row and field.

What it does *not* do: the store itself does not check rows against the schema
(a ``RowBatch`` has passed ingest; the store refuses only an insert of a live
key), evaluate filters, search or build indexes (``embedb.query`` and
``embedb.index`` read snapshots), embed text or know what a model version is:
a vector column's key is an opaque string to it. It never imports the layers
above it.

Besides the engine, it lends two durability primitives to layers that keep
files of their own (index files, model artifacts): ``fsync_path``, and the
per-block checksums ``block_checksums`` / ``verify_file``. The offline checker
behind ``embedb check`` (``embedb.storage.check``) is a tool, not part of this
interface: it opens a data directory without an engine and is imported by the
CLI only.

Importing this package loads NumPy, pyarrow and sqlite3, nothing heavier.
"""

from __future__ import annotations

from embedb.storage.catalog import Catalog, CollectionInfo
from embedb.storage.durable import fsync_path
from embedb.storage.engine import CATALOG_FILE, DEFAULT_PARTITION, StorageEngine
from embedb.storage.ingest import PreparedRows, prepare_batch, supplied_column, to_columns
from embedb.storage.records import RowBatch, primary_key_array
from embedb.storage.segment import SegmentData, SegmentView
from embedb.storage.segment_files import block_checksums, verify_file
from embedb.storage.state import Snapshot
from embedb.storage.store import CollectionStore, StorageObserver, WritePreconditionFailed
from embedb.storage.vector_input import check_query_vectors, check_vectors

__all__ = [
    "CATALOG_FILE",
    "DEFAULT_PARTITION",
    "Catalog",
    "CollectionInfo",
    "CollectionStore",
    "PreparedRows",
    "RowBatch",
    "SegmentData",
    "SegmentView",
    "Snapshot",
    "StorageEngine",
    "StorageObserver",
    "WritePreconditionFailed",
    "block_checksums",
    "check_query_vectors",
    "check_vectors",
    "fsync_path",
    "prepare_batch",
    "primary_key_array",
    "supplied_column",
    "to_columns",
    "verify_file",
]
