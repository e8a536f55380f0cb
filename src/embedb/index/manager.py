"""Index builds and their lifecycle: one ``IndexService`` per storage engine.

The database (``embedb.engine``) routes storage events to the service: it opens
with every collection store (loading the indexes its catalog names, verifying
their checksums), learns of every sealed, compacted or removed segment (a new
one gets an index built, a removed one is forgotten) and of every vector column
a backfill adds, and it is closed before the engine. Builds run on one
background thread, one (segment, column) at a time — Faiss already spreads a
build over every core — and until a segment's index is published, searches
scan that segment exactly. An index file is published only if its segment and
its definition still exist, in one catalog transaction.

What it does not do: it never changes rows or deletion marks, and a failed or
corrupt index never fails a search — the segment is searched exactly and
``describe_index`` says why. Nor does a failure to *schedule* a build (the
storage event arrived, but handling it raised) pass silently: the segments it
left without a build are FAILED with the error in ``describe_index``, and every
failure is kept in the catalog for ``embedb check`` until a build of that
segment is published (a writable reopen retries them all).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from embedb.errors import CorruptionError, StorageError
from embedb.index.catalog import IndexCatalog, IndexDefinition, SegmentIndexRecord
from embedb.index.files import load_index, remove_unlisted, save_index
from embedb.index.vector_index import BuildCancelled, VectorIndex, make_index
from embedb.pause_points import PausePoints
from embedb.schema import MetricType
from embedb.storage import CollectionInfo, CollectionStore, SegmentData, SegmentView, StorageEngine

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 30.0


class BuildState(enum.Enum):
    """Where the index of one (segment, column) stands."""

    # queued for the builder thread (or waiting for builds to be enabled)
    PENDING = "pending"
    # the builder is adding rows; rows_done says how far it got
    BUILDING = "building"
    # built or loaded; searches use it
    READY = "ready"
    # fewer rows than Settings.index_min_rows: searched exactly by design
    SMALL = "small"
    # the build or the load failed; the segment is searched exactly
    FAILED = "failed"


@dataclass(frozen=True)
class SegmentIndexStatus:
    """Progress of one (segment, column) index, for ``describe_index``."""

    state: BuildState
    rows: int
    rows_done: int = 0
    error: str | None = None
    nbytes: int = 0
    build_seconds: float = 0.0


class NormalizedRows:
    """Rows of a vector column as an index is built from them, chunk by chunk (no full copy).

    COSINE rows are divided by their stored norms; a null vector (a NaN row,
    never returned by a search) is indexed as zeros.
    """

    def __init__(self, vectors: np.ndarray, norms: np.ndarray, *, normalize: bool = True) -> None:
        self._vectors = vectors
        self._norms = norms
        self._normalize = normalize

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._vectors.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows: np.ndarray = np.asarray(self._vectors[key], dtype=np.float32)
        norms = np.asarray(self._norms[key], dtype=np.float32)
        null = np.isnan(norms)
        if self._normalize:
            rows = rows / np.where((norms == 0) | null, 1, norms)[:, None]
        if null.any():
            rows = rows.copy()  # never write into the segment's (memory-mapped) column
            rows[null] = 0
        return rows


def field_of_key(key: str, fields: dict[str, int]) -> str | None:
    """The vector field a storage column key belongs to: the key itself, or the field it extends (``field@version``)."""
    if key in fields:
        return key
    for name in fields:
        if key.startswith(name) and not (key[len(name)].isalnum() or key[len(name)] == "_"):
            return name
    return None


class CollectionIndexes:
    """Index definitions, loaded indexes and build progress of one collection. Thread-safe."""

    def __init__(self, service: IndexService, info: CollectionInfo, store: CollectionStore) -> None:
        self.service = service
        self.collection_id = info.id
        self.store = store
        self.dims = {f.name: int(f.dim or 0) for f in info.schema.vector_fields}
        self.definitions: dict[str, IndexDefinition] = service.catalog.definitions(info.id)
        # A model version's own index (a tuned recipe) for its column, over the field's definition.
        self.version_definitions: dict[str, IndexDefinition] = service.catalog.version_definitions(
            info.id, self.definitions
        )
        self.ready: dict[tuple[int, str], VectorIndex] = {}
        self.status: dict[tuple[int, str], SegmentIndexStatus] = {}
        self._gone: set[int] = set()
        self._changed = threading.Condition()
        self.closed = False

    # ------------------------------------------------------------- lookups

    def lookup(self, segment_id: int, key: str) -> VectorIndex | None:
        """The published index of a sealed segment's column, or None (search it exactly)."""
        return self.ready.get((segment_id, key))

    def definition_for_key(self, key: str) -> IndexDefinition | None:
        """The definition a column is indexed by: its version's own, else its field's (None: not indexed)."""
        own = self.version_definitions.get(key)
        if own is not None:
            return own
        name = field_of_key(key, self.dims)
        return self.definitions.get(name) if name is not None else None

    def sealed_views(self) -> list[SegmentView]:
        return [view for view in self.store.snapshot().segments if view.sealed]

    def sealed_view(self, segment_id: int) -> SegmentView | None:
        return next((v for v in self.sealed_views() if v.data.segment_id == segment_id), None)

    # -------------------------------------------------------------- status

    def set_status(self, segment_id: int, key: str, status: SegmentIndexStatus | None) -> None:
        with self._changed:
            if status is None or segment_id in self._gone:
                self.status.pop((segment_id, key), None)
            else:
                self.status[(segment_id, key)] = status
            self._changed.notify_all()

    def abandon(self, segment_id: int, key: str) -> None:
        """A build gave up: clear its BUILDING status, but not a PENDING one a newer definition scheduled meanwhile."""
        with self._changed:
            current = self.status.get((segment_id, key))
            if current is not None and current.state is BuildState.BUILDING:
                self.status.pop((segment_id, key))
            self._changed.notify_all()

    def progress(self, segment_id: int, key: str, rows_done: int) -> None:
        with self._changed:
            current = self.status.get((segment_id, key))
            if current is not None and current.state is BuildState.BUILDING:
                self.status[(segment_id, key)] = replace(current, rows_done=rows_done)

    def publish(self, segment_id: int, key: str, index: VectorIndex, record: SegmentIndexRecord) -> bool:
        """Make a built index visible to searches; False if its segment went away meanwhile."""
        with self._changed:
            if segment_id in self._gone or self.closed:
                return False
            self.ready[(segment_id, key)] = index
            self.status[(segment_id, key)] = SegmentIndexStatus(
                BuildState.READY, record.row_count, record.row_count, nbytes=index.nbytes, build_seconds=record.build_seconds
            )
            self._changed.notify_all()
            return True

    def wait_idle(self, field_name: str, timeout: float | None) -> bool:
        """Block until no index of ``field_name`` is pending or building; False on timeout."""
        if not self.service.builds_enabled:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        busy = (BuildState.PENDING, BuildState.BUILDING)
        with self._changed:
            while any(s.state in busy for (sid, key), s in self.status.items() if field_of_key(key, self.dims) == field_name):
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(0.5 if remaining is None else min(0.5, remaining))
        return True

    # ------------------------------------------------------------- changes

    def schedule(self, data: SegmentData, key: str) -> None:
        """Queue a build of one sealed segment's column (or mark it small)."""
        rows = data.num_rows
        if rows < self.service.settings.index_min_rows:
            self.set_status(data.segment_id, key, SegmentIndexStatus(BuildState.SMALL, rows))
            return
        self.set_status(data.segment_id, key, SegmentIndexStatus(BuildState.PENDING, rows))
        self.service.enqueue(self.collection_id, data.segment_id, key)

    def schedule_field(self, field_name: str) -> None:
        for view in self.sealed_views():
            for key in view.data.vectors:
                if field_of_key(key, self.dims) == field_name:
                    self.schedule(view.data, key)

    def on_segments(self, added: list[SegmentData], removed: list[int]) -> None:
        """Store listener: forget removed segments, build for added ones. Quick: it runs on the write path."""
        if removed:
            with self._changed:
                self._gone.update(removed)
                for pair in [p for p in (*self.ready, *self.status) if p[0] in self._gone]:
                    self.ready.pop(pair, None)
                    self.status.pop(pair, None)
                self._changed.notify_all()
            self.service.catalog.forget_segments(self.collection_id, removed)
        for data in added:
            for key in data.vectors:
                if self.definition_for_key(key) is not None:
                    self.schedule(data, key)

    def forget_key(self, key: str) -> None:
        """Forget every index of one storage column (its vectors were dropped)."""
        with self._changed:
            for pair in [p for p in (*self.ready, *self.status) if p[1] == key]:
                self.ready.pop(pair, None)
                self.status.pop(pair, None)
            self._changed.notify_all()

    def delete_files(self, records: list[SegmentIndexRecord]) -> None:
        """Delete the files of built indexes the catalog no longer lists."""
        for record in records:
            (self.store.segment_folder(record.segment_id) / record.file["file"]).unlink(missing_ok=True)

    def forget_field(self, field_name: str) -> None:
        with self._changed:
            for pair in [p for p in (*self.ready, *self.status) if field_of_key(p[1], self.dims) == field_name]:
                self.ready.pop(pair, None)
                self.status.pop(pair, None)
            self._changed.notify_all()

    def load_existing(self) -> None:
        """Open every index the catalog names for this collection; queue builds for the rest."""
        service = self.service
        records = {(r.segment_id, r.column_key): r for r in service.catalog.segment_records(self.collection_id)}
        live: set[tuple[int, str]] = set()
        for view in self.sealed_views():
            segment_id = view.data.segment_id
            folder = self.store.segment_folder(segment_id)
            keep: set[str] = set()
            for key, vectors in view.data.vectors.items():
                definition = self.definition_for_key(key)
                if definition is None:
                    continue
                live.add((segment_id, key))
                record = records.get((segment_id, key))
                if record is not None and record.index_name == definition.index_name:
                    try:
                        index = load_index(record.spec, int(vectors.shape[1]), folder, record.file, verify=service.settings.verify_checksums)
                        if index.ntotal != view.data.num_rows:
                            raise StorageError(
                                f"{record.file['file']}: {index.ntotal} rows indexed, the segment holds {view.data.num_rows}",
                                file=record.file["file"],
                            )
                    except (CorruptionError, StorageError) as error:
                        log.warning("index of segment %s column %r is unusable, rebuilding: %s", segment_id, key, error)
                    else:
                        keep.add(record.file["file"])
                        self.publish(segment_id, key, index, record)
                        continue
                self.schedule(view.data, key)
            if not service.read_only:
                remove_unlisted(folder, keep)
        if not service.read_only:
            service.catalog.forget_columns(self.collection_id, sorted(pair for pair in records if pair not in live))

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


class IndexService:
    """The index layer of one storage engine; ``embedb.engine.Database`` builds one and feeds it storage events."""

    def __init__(self, engine: StorageEngine, pause_points: PausePoints | None = None) -> None:
        self.engine = engine
        self.pause_points = pause_points or PausePoints()
        self.settings = engine.settings
        self.read_only = engine.read_only
        self.catalog = IndexCatalog(engine.catalog)
        self.collections: dict[int, CollectionIndexes] = {}
        self._jobs: deque[tuple[int, int, str]] = deque()
        self._queued: set[tuple[int, int, str]] = set()
        self._wakeup = threading.Condition()
        self._commit_lock = threading.Lock()
        self._stopped = False
        self._thread: threading.Thread | None = None

    @property
    def builds_enabled(self) -> bool:
        return self.settings.build_indexes and not self.read_only and not self._stopped

    def open_store(self, info: CollectionInfo, store: CollectionStore) -> None:
        """A store opened: load this collection's indexes (queue builds for the rest)."""
        collection = CollectionIndexes(self, info, store)
        self.collections[info.id] = collection
        collection.load_existing()

    def segments_changed(self, collection_id: int, added: list[SegmentData], removed: list[int]) -> None:
        """Sealed segments were published or dropped: build for the new, forget the old."""
        collection = self.collections.get(collection_id)
        if collection is None:
            return
        try:
            collection.on_segments(added, removed)
        except Exception as error:
            self._not_scheduled(collection, [(data, key) for data in added for key in data.vectors], error)

    def column_added(self, collection_id: int, data: SegmentData, key: str) -> None:
        """A backfill added a vector column to a sealed segment: index it if its field has an index."""
        collection = self.collections.get(collection_id)
        if collection is None:
            return
        try:
            if collection.definition_for_key(key) is not None:
                collection.schedule(data, key)
        except Exception as error:
            self._not_scheduled(collection, [(data, key)], error)

    def _not_scheduled(
        self, collection: CollectionIndexes, pairs: list[tuple[SegmentData, str]], error: Exception
    ) -> None:
        """Handling a storage event raised: fail the indexed pairs it left without a build, visibly and durably."""
        log.error("index builds of collection %s were not scheduled", collection.collection_id, exc_info=error)
        message = f"index build not scheduled: {type(error).__name__}: {error} (reopen the database to retry)"
        failed: dict[str, list[tuple[int, str]]] = {}
        for data, key in pairs:
            definition = collection.definition_for_key(key)
            if definition is None or (data.segment_id, key) in collection.status:
                continue  # not indexed, or scheduled before the failure
            if data.num_rows < self.settings.index_min_rows:
                collection.set_status(data.segment_id, key, SegmentIndexStatus(BuildState.SMALL, data.num_rows))
                continue
            status = SegmentIndexStatus(BuildState.FAILED, data.num_rows, error=message)
            collection.set_status(data.segment_id, key, status)
            failed.setdefault(definition.index_name, []).append((data.segment_id, key))
        self._record_failures(collection.collection_id, failed, message)

    def _record_failures(self, collection_id: int, failed: dict[str, list[tuple[int, str]]], message: str) -> None:
        try:
            for index_name, failed_pairs in failed.items():
                self.catalog.record_failures(collection_id, index_name, failed_pairs, message)
        except Exception:  # the catalog may be what failed; describe_index still shows it in this process
            log.exception("could not record index build failures of collection %s", collection_id)

    def collection(self, info: CollectionInfo) -> CollectionIndexes:
        """The index state of a collection (opening its store if needed)."""
        collection = self.collections.get(info.id)
        if collection is None:
            self.engine.store(info)
            collection = self.collections[info.id]
        return collection

    def forget_column(self, info: CollectionInfo, key: str) -> int:
        """A vector column was dropped from every segment: forget its indexes and delete their files; return how many."""
        collection = self.collection(info)
        records = [r for r in self.catalog.segment_records(info.id) if r.column_key == key]
        collection.forget_key(key)
        collection.version_definitions.pop(key, None)
        self.catalog.forget_columns(info.id, [(r.segment_id, key) for r in records])
        self.catalog.forget_version_definition(info.id, key)
        collection.delete_files(records)
        return len(records)

    def forget_version_spec(self, info: CollectionInfo, key: str) -> None:
        """Drop a column's own index spec (a version added again starts with its field's index)."""
        self.collection(info).version_definitions.pop(key, None)
        self.catalog.forget_version_definition(info.id, key)

    def forget_collection(self, collection_id: int) -> None:
        collection = self.collections.pop(collection_id, None)
        if collection is not None:
            collection.close()

    # --------------------------------------------------------------- builds

    def enqueue(self, collection_id: int, segment_id: int, key: str) -> None:
        if not self.builds_enabled:
            return
        job = (collection_id, segment_id, key)
        with self._wakeup:
            if job not in self._queued:
                self._queued.add(job)
                self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="embedb-index-builder", daemon=True)
                self._thread.start()
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._jobs and not self._stopped:
                    self._wakeup.wait()
                if self._stopped:
                    return
                job = self._jobs.popleft()
                self._queued.discard(job)
            try:
                self._build(*job)
            except Exception:
                log.exception("index build failed for %s", job)

    def _build(self, collection_id: int, segment_id: int, key: str) -> None:
        collection = self.collections.get(collection_id)
        if collection is None or collection.closed:
            return
        definition = collection.definition_for_key(key)
        view = collection.sealed_view(segment_id)
        if definition is None or view is None:
            collection.set_status(segment_id, key, None)
            return
        data = view.data
        rows = data.num_rows
        vectors: Any = data.vectors[key]
        if definition.spec.metric is MetricType.COSINE or np.isnan(data.norms[key]).any():
            vectors = NormalizedRows(data.vectors[key], data.norms[key], normalize=definition.spec.metric is MetricType.COSINE)
        index = make_index(definition.spec, int(data.vectors[key].shape[1]))
        collection.set_status(segment_id, key, SegmentIndexStatus(BuildState.BUILDING, rows))

        def should_stop() -> bool:
            return self._stopped or collection.closed or collection.definition_for_key(key) is not definition

        started = time.perf_counter()
        try:
            index.build(vectors, should_stop=should_stop, progress=lambda done: collection.progress(segment_id, key, done))
            seconds = time.perf_counter() - started
            entry = save_index(index, collection.store.segment_folder(segment_id))
        except BuildCancelled:
            collection.abandon(segment_id, key)
            self.pause_points.reach("index.build.abandoned")
            return
        except FileNotFoundError:  # the segment was compacted away while we built
            collection.abandon(segment_id, key)
            return
        except Exception as error:
            log.exception("building the index of segment %s column %r failed", segment_id, key)
            message = f"{type(error).__name__}: {error}"
            collection.set_status(segment_id, key, SegmentIndexStatus(BuildState.FAILED, rows, error=message))
            self._record_failures(collection_id, {definition.index_name: [(segment_id, key)]}, message)
            return
        record = SegmentIndexRecord(segment_id, key, definition.index_name, index.spec, entry, rows, seconds)
        path = collection.store.segment_folder(segment_id) / entry["file"]
        with self._commit_lock:
            outcome = False if self._stopped else self.catalog.publish_segment_index(collection_id, record, definition)
            if outcome is False or not collection.publish(segment_id, key, index, record):
                path.unlink(missing_ok=True)
                collection.abandon(segment_id, key)
                return
        if isinstance(outcome, dict):
            (collection.store.segment_folder(segment_id) / outcome["file"]).unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the builder (it drops a half-done build); call it before the engine closes the catalog."""
        with self._commit_lock, self._wakeup:
            self._stopped = True
            self._wakeup.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(CLOSE_WAIT_S)
        for collection in self.collections.values():
            collection.close()
