"""``Database``: everything one data directory runs in this process, built in one place.

A ``Database`` is the composition root of the embedded engine. Its constructor
builds every part once and hands each the others it needs: the storage engine
(WAL, segments, catalog), the index service, the model registry, the embedding
bindings, the backfill jobs and their runner, the lifecycle service and the
experiment service with its query log. There are no process-wide registries and
no hooks added after construction: storage reports its changes to the database
(a ``StorageObserver``), which routes them to the index service.

``start()`` starts background work (housekeeping, backfills a crash
interrupted); ``stop()`` ends it in the reverse order of dependence —
experiments flush their logs, backfills stop, housekeeping stops, index builds
stop — and then closes the storage engine and releases the directory.
"""

from __future__ import annotations

import enum
import sqlite3
import threading
from pathlib import Path

from embedb.config import Settings
from embedb.engine.collections import CollectionOperations
from embedb.engine.data import DataOperations
from embedb.engine.drift import DriftOperation
from embedb.engine.evaluation import EvaluationOperation
from embedb.engine.experiments import ExperimentOperations
from embedb.engine.indexes import IndexOperations
from embedb.engine.lifecycle import LifecycleOperations
from embedb.engine.making import LocalRegistration, LocalRows
from embedb.engine.models import ModelOperations
from embedb.engine.monitoring import MonitoringOperation
from embedb.engine.operations import operation_table
from embedb.engine.policies import PolicyOperation
from embedb.engine.retraining import RetrainingOperation
from embedb.engine.selection import SelectionOperation
from embedb.engine.tuning import TuningOperation
from embedb.errors import ClosedError
from embedb.experiments import ExperimentService
from embedb.index import BuildState, IndexService
from embedb.lifecycle import BackfillRunner, EmbeddingBindings, JobTable, LifecycleService
from embedb.metadata import CollectionMetadata
from embedb.models import ARTIFACTS_DIR, CodeModelPolicy, ModelRegistry, ModelVersion
from embedb.monitoring import SearchMonitor
from embedb.pause_points import PausePoints
from embedb.search import ConfiguredSearch, SearchOperation
from embedb.storage import CollectionInfo, CollectionStore, SegmentData, StorageEngine


class DatabaseState(enum.Enum):
    """Where a ``Database`` is in its life; transitions go down this list only."""

    # built: every part exists, no background thread runs yet
    CREATED = "created"
    # housekeeping runs, interrupted backfills resumed
    STARTED = "started"
    # background work ended, files closed, the directory released
    STOPPED = "stopped"


class Database:
    """Storage, indexes, registry, bindings, backfills, lifecycle and experiments of one data directory.

    ``operations`` implements every operation of the contract over them, by name.

    ``path=None`` makes a temporary directory removed by ``stop()``. Thread-safe.
    Raises ``DirectoryLockedError`` when another process writes to the directory and
    ``FormatVersionError`` when a newer EmbeDB wrote it.
    """

    def __init__(self, path: Path | None, *, settings: Settings, read_only: bool = False) -> None:
        self.settings = settings
        self.read_only = read_only
        # Named points a test can hold a thread at (no-ops unless armed): how races are tested.
        self.pause_points = PausePoints()
        self.storage = StorageEngine(
            path, settings=settings, read_only=read_only, observer=self, start_housekeeping=False
        )
        self.path = self.storage.path
        self.catalog = self.storage.catalog
        self.indexes = IndexService(self.storage, self.pause_points)
        self.models = ModelRegistry(
            self.catalog,
            self.path / ARTIFACTS_DIR,
            version_users=self._collections_using,
            code_models=CodeModelPolicy(settings.allow_code_models),
        )
        self.bindings = EmbeddingBindings(self.catalog, self.models, pause_points=self.pause_points)
        self.jobs = JobTable(self.catalog)
        self.backfills = BackfillRunner(
            jobs=self.jobs,
            bindings=self.bindings,
            registry=self.models,
            store_for=self._store_by_id,
            index_gap=self.index_gap,
            threads=settings.backfill_threads,
            pause_points=self.pause_points,
        )
        self.lifecycle = LifecycleService(
            catalog=self.catalog,
            registry=self.models,
            bindings=self.bindings,
            runner=self.backfills,
            jobs=self.jobs,
            index_check=self.index_gap,
            drop_column=self._drop_column,
            version_added=self.indexes.forget_version_spec,
            collection_by_id=self.storage.collection_by_id,
            version_users=self._experiments_using,
            end_experiments=self._end_experiments,
            pause_points=self.pause_points,
        )
        self.experiments = ExperimentService(self.lifecycle, read_only=read_only)
        self.monitor = SearchMonitor(self.catalog, read_only=read_only)
        self.metadata = CollectionMetadata(self.storage, self.bindings, self.models)
        self.parts = self._operation_parts()
        self.operations = operation_table(self.parts)
        self.state = DatabaseState.CREATED
        self._state_lock = threading.Lock()

    def _operation_parts(self) -> tuple[object, ...]:
        """The objects whose methods implement the contract's operations over this database."""
        searcher = SearchOperation(
            self.metadata, self.indexes, self.models, self.experiments, self.monitor, self.pause_points
        )
        self.searching = searcher  # a cluster embeds a text query once for every shard (query_vectors)
        configured = ConfiguredSearch(searcher)
        indexes = IndexOperations(self.metadata, self.indexes)
        data = DataOperations(self.storage, self.metadata, self.models, self.pause_points)
        self.data_operations = data  # a cluster's router checks whole writes with it (write_keys)
        # a cluster's shards measure their own index for an evaluation the router scores (ann_of_texts)
        self.evaluation = EvaluationOperation(
            self.storage, self.metadata, self.indexes, self.models, self.lifecycle, searcher, configured
        )
        # a cluster runs drift at its router from shards' samples, and tunes an index on one shard (in parts)
        self.drifting = DriftOperation(self.metadata, self.models, searcher, self.monitor)
        self.tuning = TuningOperation(self.metadata, self.models, searcher, indexes, self.experiments)
        # a cluster's shard makes models on rows its router gathered, and logs their registration (making.py)
        rows, registration = LocalRows(self.metadata, data), LocalRegistration(self.models)
        # a cluster runs the policy loop at its router; every shard writes each step it logs (write_step)
        self.policies = PolicyOperation(self.catalog, self.metadata, lambda name: self.operations[name])
        return (
            CollectionOperations(self.storage, self.metadata, self.indexes, self.bindings, self.lifecycle),
            data,
            searcher,
            configured,
            indexes,
            ModelOperations(self.models),
            LifecycleOperations(self.storage, self.metadata, self.lifecycle),
            ExperimentOperations(self.storage, self.metadata, self.experiments, configured),
            self.evaluation,
            self.drifting,
            self.tuning,
            RetrainingOperation(self.metadata, self.models, rows, registration, self.experiments),
            MonitoringOperation(self.metadata, self.monitor, self.experiments),
            SelectionOperation(self.metadata, self.models, rows, registration),
            self.policies,
        )

    # -------------------------------------------------------------- life

    def start(self) -> Database:
        """Start housekeeping, finish version drops and resume backfills a crash interrupted; return self. Idempotent."""
        with self._state_lock:
            if self.state is DatabaseState.STOPPED:
                raise ClosedError(f"the database at {self.path} is stopped")
            if self.state is DatabaseState.STARTED:
                return self
            self.state = DatabaseState.STARTED
        if not self.read_only:
            self.storage.start()
            self.lifecycle.finish_retirements()
            self.backfills.resume_unfinished()
        return self

    def stop(self) -> None:
        """End background work, flush logs and the WAL, close files, release the directory. Idempotent."""
        with self._state_lock:
            if self.state is DatabaseState.STOPPED:
                return
            self.state = DatabaseState.STOPPED
        self.experiments.close()
        self.monitor.close()
        self.backfills.close()
        self.storage.stop_housekeeping()
        self.indexes.close()
        self.storage.close()

    # ---------------------------------------------------- storage events

    def store_opened(self, info: CollectionInfo, store: CollectionStore) -> None:
        self.indexes.open_store(info, store)

    def segments_changed(self, collection_id: int, added: list[SegmentData], removed: list[int]) -> None:
        self.indexes.segments_changed(collection_id, added, removed)

    def column_added(self, collection_id: int, data: SegmentData, key: str) -> None:
        self.indexes.column_added(collection_id, data, key)

    # ------------------------------------------------------------ wiring

    def store(self, info: CollectionInfo) -> CollectionStore:
        """The open store of a collection (opened, with its indexes, on first use)."""
        return self.storage.store(info)

    def index_gap(self, info: CollectionInfo, key: str) -> str | None:
        """None when every sealed segment's ``key`` column has its index (or needs none), else why not."""
        indexes = self.indexes.collection(info)
        if indexes.definition_for_key(key) is None:
            return None
        missing = 0
        for data in self.storage.store(info).sealed_segments():
            if key not in data.vectors:
                missing += 1
                continue
            status = indexes.status.get((data.segment_id, key))
            if status is None or status.state not in (BuildState.READY, BuildState.SMALL):
                missing += 1
        return f"its index is not built yet on {missing} segment(s)" if missing else None

    def _store_by_id(self, collection_id: int) -> tuple[CollectionInfo, CollectionStore]:
        info = self.storage.collection_by_id(collection_id)
        return info, self.storage.store(info)

    def _drop_column(self, info: CollectionInfo, key: str) -> int:
        """Drop one version's vectors from every segment, then its indexes and their files."""
        store = self.storage.store(info)
        segments = store.drop_vector_column(key)
        self.indexes.forget_column(info, key)
        for view in store.snapshot().segments:  # an analyzer version's term counts, kept with each segment
            view.data.memo.pop(("sparse_index", key), None)
        return segments

    def _collections_using(self, version: ModelVersion) -> list[str]:
        return [*self.bindings.users_of(version), *self.experiments.version_users(version.uri)]

    def _experiments_using(self, info: CollectionInfo, field: str, key: str) -> list[str]:
        return self.experiments.users(info, field, key)

    def _end_experiments(self, cursor: sqlite3.Cursor, info: CollectionInfo, field: str, why: str) -> list[int]:
        return self.experiments.end_on_serving_change(cursor, info, field, why)
