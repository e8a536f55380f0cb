"""Opening a collection store: catalog state, sealed segments, WAL replay, debris.

``recover`` rebuilds a ``StoreState`` from what is durable: the checkpoint LSN
and the sealed segments the catalog names (with their deletion marks), then
every WAL record after the checkpoint, applied by ``StoreState.apply`` as the
live writes were. A writer also cuts a torn WAL tail and deletes what a crash
left behind (files the catalog does not name: a segment sealed or merged but
never published, a deletion-mark or vector-column file superseded or never
published), then opens the ``WalWriter`` that appends after the last record.
A vector column under construction (``partial_columns``) is kept while the
catalog names it, its file cut back to the chunks the catalog recorded.

A read-only open runs beside a writer in another process that may delete a
segment or a WAL file between our catalog read and our open. Such a load is
detected (a file is missing, or the log no longer reaches back to the
checkpoint) and, if the catalog moved meanwhile, done again from the new
catalog state; a read-only open never changes a file.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from typing import Any

from embedb.config import Settings
from embedb.errors import StorageError
from embedb.storage.catalog import Catalog
from embedb.storage.deletions import DeletionMarks
from embedb.storage.partial_columns import (
    PARTIAL_PREFIX,
    PartialColumn,
    cut_tail,
    forget_partials,
    load_partials,
    verify_partial,
)
from embedb.storage.records import RecordKind
from embedb.storage.segment import SegmentData
from embedb.storage.segment_files import read_deletions, read_segment
from embedb.storage.state import StoreLayout, StoreState
from embedb.storage.wal import WalWriter, list_wal_files, read_log

READ_ONLY_LOAD_ATTEMPTS = 20


class _CatalogMoved(Exception):
    """A read-only load met a file the writer removed after the catalog state the load started from."""


@dataclass(frozen=True)
class _CatalogState:
    checkpoint_lsn: int
    next_segment_id: int
    segments: tuple[tuple[int, str, str | None], ...]  # (segment_id, manifest JSON, deletions JSON)


@dataclass(frozen=True)
class Recovered:
    """A store's state as recovered, and the WAL writer to go on with (``None`` when read-only)."""

    state: StoreState
    wal: WalWriter | None


def recover(
    *,
    collection_id: int,
    layout: StoreLayout,
    catalog: Catalog,
    settings: Settings,
    vector_dims: dict[str, int],
    pk_is_int: bool,
    read_only: bool,
) -> Recovered:
    """Rebuild a collection store's state from the catalog, its segment files and its WAL.

    The caller is the store's constructor: nothing else sees the state yet, so
    no lock is held. A writer must hold the data directory's writer lock (the
    engine does), because it deletes debris and cuts a torn WAL tail. Raises
    ``CorruptionError`` for a damaged segment or log, ``FormatVersionError`` for
    a newer format, and ``StorageError`` when a read-only open met a moving
    writer on each of ``READ_ONLY_LOAD_ATTEMPTS`` attempts.
    """
    loader = _Loader(
        collection_id=collection_id,
        layout=layout,
        catalog=catalog,
        settings=settings,
        vector_dims=vector_dims,
        pk_is_int=pk_is_int,
        read_only=read_only,
    )
    if not read_only:
        return loader.load_once(loader.catalog_state(), {})
    # A seal or a compaction can delete a segment or a WAL file between our catalog
    # read and our open; segment files read by a failed attempt are immutable and
    # kept, so each retry is short.
    files_read: dict[tuple[Any, ...], Any] = {}
    for _ in range(READ_ONLY_LOAD_ATTEMPTS):
        try:
            return loader.load_once(loader.catalog_state(), files_read)
        except _CatalogMoved:
            continue
    raise StorageError(
        f"collection {collection_id}: the writer removed files under each of "
        f"{READ_ONLY_LOAD_ATTEMPTS} read-only loads; open again when it is less busy"
    )


@dataclass(frozen=True)
class _Loader:
    collection_id: int
    layout: StoreLayout
    catalog: Catalog
    settings: Settings
    vector_dims: dict[str, int]
    pk_is_int: bool
    read_only: bool

    def catalog_state(self) -> _CatalogState:
        """The checkpoint and the sealed segments, read in one catalog transaction."""
        with self.catalog.read_transaction():
            row = self.catalog.query_one(
                "SELECT checkpoint_lsn, next_segment_id FROM collections WHERE id = ?", (self.collection_id,)
            )
            segments = self.catalog.query(
                "SELECT segment_id, manifest, deletions FROM segments WHERE collection_id = ? ORDER BY segment_id",
                (self.collection_id,),
            )
        assert row is not None, "the engine opens only collections that are in the catalog"
        return _CatalogState(
            int(row["checkpoint_lsn"]),
            int(row["next_segment_id"]),
            tuple((int(seg["segment_id"]), seg["manifest"], seg["deletions"]) for seg in segments),
        )

    def load_once(self, catalog_state: _CatalogState, files_read: dict[tuple[Any, ...], Any]) -> Recovered:
        """Load ``catalog_state``'s segments and replay the log after its checkpoint.

        ``files_read`` keeps what was read from immutable files (a segment by its
        manifest, deletion marks by their entry) for the next attempt of a read-only load.
        """
        sealed: dict[int, SegmentData] = {}
        marks: dict[int, DeletionMarks] = {}
        verify = self.settings.verify_checksums
        column_files: dict[int, set[str]] = {}
        try:
            for segment_id, manifest_json, deletions_json in catalog_state.segments:
                folder = self.layout.segment(segment_id)
                manifest = json.loads(manifest_json)
                data = files_read.get((segment_id, manifest_json))
                if data is None:
                    data = files_read[(segment_id, manifest_json)] = read_segment(
                        folder, manifest, segment_id=segment_id, verify=verify
                    )
                column_files[segment_id] = set(manifest["files"])
                entry = json.loads(deletions_json) if deletions_json else None
                marks_key = (segment_id, manifest_json, deletions_json)
                if marks_key not in files_read:
                    files_read[marks_key] = read_deletions(folder, entry, data.num_rows, verify=verify)
                deleted = files_read[marks_key].copy()  # the log replay may mark more rows
                sealed[segment_id] = data
                marks[segment_id] = DeletionMarks(deleted, generation=_generation(entry))
        except OSError as error:  # StorageError and CorruptionError included
            self._raise_if_moved(catalog_state, error)
            raise
        partials: dict[tuple[int, str], PartialColumn] = {}
        if not self.read_only:
            partials = self._recover_partials(sealed)
            building: dict[int, set[str]] = {}
            for partial in partials.values():
                building.setdefault(partial.segment_id, set()).add(partial.file)
            remove_debris(self.layout, marks, column_files, building)
        state = StoreState(
            settings=self.settings,
            vector_dims=self.vector_dims,
            pk_is_int=self.pk_is_int,
            checkpoint_lsn=catalog_state.checkpoint_lsn,
            next_segment_id=catalog_state.next_segment_id,
            sealed=sealed,
            marks=marks,
            partials=partials,
        )
        try:
            for record in read_log(self.layout.wal, after_lsn=state.checkpoint_lsn, repair=not self.read_only):
                state.apply(RecordKind(record.kind), record.payload, record.lsn)
                state.last_lsn = record.lsn
        except OSError as error:
            self._raise_if_moved(catalog_state, error)
            raise
        if self.read_only and not self._log_reaches_back_to(state.checkpoint_lsn + 1):
            # Log files are only ever deleted, oldest first, and only once a checkpoint covers
            # them: the one holding our first record went before read_log could list it.
            self._raise_if_moved(catalog_state, None)
        if self.read_only:
            return Recovered(state, None)
        fsync = self.settings.durability.value == "fsync"
        return Recovered(state, WalWriter(self.layout.wal, next_lsn=state.last_lsn + 1, fsync=fsync))

    def _recover_partials(self, sealed: dict[int, SegmentData]) -> dict[tuple[int, str], PartialColumn]:
        """The columns under construction of ``sealed``, each file cut back to what the catalog recorded.

        A writer only. Rows naming a segment that is gone, or a column that is
        complete, are forgotten (their files are then debris). Verifies each
        chunk's CRC when ``verify_checksums`` is on; raises ``CorruptionError``
        for a damaged or short file (``embedb check --repair`` drops it).
        """
        found = load_partials(self.catalog, self.collection_id)
        stale = [(sid, key) for sid, key in found if sid not in sealed or key in sealed[sid].vectors]
        if stale:
            with self.catalog.transaction() as cursor:
                for segment_id, key in stale:
                    forget_partials(cursor, self.collection_id, segment_id=segment_id, key=key)
        partials: dict[tuple[int, str], PartialColumn] = {}
        for (segment_id, key), (partial, chunks) in found.items():
            if (segment_id, key) in stale:
                continue
            folder = self.layout.segment(segment_id)
            tail = verify_partial(folder, partial, chunks if self.settings.verify_checksums else [])
            if tail:  # a chunk written but never recorded: the crash came before its commit
                cut_tail(folder, partial)
            partials[(segment_id, key)] = partial
        return partials

    def _log_reaches_back_to(self, lsn: int) -> bool:
        """Whether the WAL folder still holds the file a record with ``lsn`` would be in."""
        return any(int(path.stem) <= lsn for path in list_wal_files(self.layout.wal))

    def _raise_if_moved(self, catalog_state: _CatalogState, error: OSError | None) -> None:
        """In a read-only load, raise ``_CatalogMoved`` when the writer changed the catalog since ``catalog_state``."""
        if self.read_only and self.catalog_state() != catalog_state:
            raise _CatalogMoved() from error


def remove_debris(
    layout: StoreLayout,
    marks: dict[int, DeletionMarks],
    column_files: dict[int, set[str]],
    partial_files: dict[int, set[str]] | None = None,
) -> None:
    """Delete segment folders, vector columns and deletion files the catalog does not name (a crash's leftovers).

    ``marks`` holds the published segments (their current deletion-file
    generation), ``column_files`` the files each one's manifest names,
    ``partial_files`` the files of each one's columns under construction.
    Only a writer calls this, before anything else can read the folders.
    """
    if not layout.segments.exists():
        return
    for folder in layout.segments.iterdir():
        try:
            segment_id = int(folder.name)
        except ValueError:
            segment_id = -1
        if segment_id not in marks:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        keep = f"deleted.{marks[segment_id].generation}.npy"
        for stale in folder.glob("deleted.*"):
            if stale.name != keep:
                stale.unlink()
        for pattern in ("vector.*", "norm.*"):
            for stale in folder.glob(pattern):
                if stale.name not in column_files[segment_id]:
                    stale.unlink()
        for stale in folder.glob(f"{PARTIAL_PREFIX}*"):
            if stale.name not in (partial_files or {}).get(segment_id, set()):
                stale.unlink()


def _generation(entry: dict[str, Any] | None) -> int:
    """The generation of a deletion-mark file from its catalog entry (0: none written yet)."""
    if not entry:
        return 0
    return int(entry["file"].split(".")[1])
