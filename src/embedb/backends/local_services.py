"""The services one data directory runs beside its storage engine, created once per engine.

Several clients of one process share an engine (``SHARED_ENGINES``); they must
also share its model registry (and its cache of loaded models), its embedding
bindings, its backfill threads and its index builder. ``EngineServices.attach``
creates them on first use, hooks them into the engine (new stores, close), and
resumes backfill jobs a crash interrupted.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from embedb.index.manager import BuildState, IndexService
from embedb.lifecycle.backfill import BackfillRunner
from embedb.lifecycle.bindings import EmbeddingBindings
from embedb.lifecycle.jobs import JobTable
from embedb.lifecycle.service import LifecycleService
from embedb.models import ModelRegistry
from embedb.storage.engine import CollectionInfo, StorageEngine
from embedb.storage.segment import SegmentData
from embedb.storage.store import CollectionStore

_ATTACHED: weakref.WeakKeyDictionary[StorageEngine, EngineServices] = weakref.WeakKeyDictionary()
_ATTACH_LOCK = threading.Lock()


@dataclass
class EngineServices:
    """Registry, bindings, jobs, lifecycle and indexes of one engine."""

    engine: StorageEngine
    indexes: IndexService
    models: ModelRegistry
    bindings: EmbeddingBindings
    jobs: JobTable
    runner: BackfillRunner
    lifecycle: LifecycleService

    @classmethod
    def attach(cls, engine: StorageEngine) -> EngineServices:
        """The engine's services, created and hooked in on first use."""
        with _ATTACH_LOCK:
            services = _ATTACHED.get(engine)
            if services is not None:
                return services
            indexes = IndexService.attach(engine)
            models = ModelRegistry(engine.catalog, engine.path / "artifacts")
            bindings = EmbeddingBindings(engine.catalog, models)
            jobs = JobTable(engine.catalog)

            def store_for(collection_id: int) -> tuple[CollectionInfo, CollectionStore]:
                info = engine.collection_by_id(collection_id)
                return info, engine.store(info)

            def index_gap(info: CollectionInfo, key: str) -> str | None:
                assert services is not None  # set below, before any job can run
                return services.index_gap(info, key)

            runner = BackfillRunner(
                jobs=jobs,
                bindings=bindings,
                registry=models,
                store_for=store_for,
                index_gap=index_gap,
                threads=engine.settings.backfill_threads,
            )
            services = cls(engine, indexes, models, bindings, jobs, runner, None)  # type: ignore[arg-type]
            services.lifecycle = LifecycleService(
                catalog=engine.catalog,
                registry=models,
                bindings=bindings,
                runner=runner,
                jobs=jobs,
                index_check=services.index_gap,
                drop_column=services.drop_column,
            )
            engine.add_store_opener(services._on_store_open)
            for store in engine.open_stores():
                services._listen(store)
            engine.add_close_hook(runner.close)
            _ATTACHED[engine] = services
        if not engine.read_only:
            runner.resume_unfinished()
        return services

    def _on_store_open(self, info: CollectionInfo, store: CollectionStore) -> None:
        self._listen(store)

    def _listen(self, store: CollectionStore) -> None:
        collection_id = store.collection_id

        def on_column(data: SegmentData, key: str) -> None:
            info = self.engine.collection_by_id(collection_id)
            indexes = self.indexes.collection(info)
            if indexes.definition_for_key(key) is not None:
                indexes.schedule(data, key)

        store.add_column_listener(on_column)

    def index_gap(self, info: CollectionInfo, key: str) -> str | None:
        """None when every sealed segment's ``key`` column has its index (or needs none), else why not."""
        indexes = self.indexes.collection(info)
        if indexes.definition_for_key(key) is None:
            return None
        missing = 0
        for data in self.engine.store(info).sealed_segments():
            if key not in data.vectors:
                missing += 1
                continue
            status = indexes.status.get((data.segment_id, key))
            if status is None or status.state not in (BuildState.READY, BuildState.SMALL):
                missing += 1
        return f"its index is not built yet on {missing} segment(s)" if missing else None

    def drop_column(self, info: CollectionInfo, key: str) -> int:
        return self.engine.store(info).drop_vector_column(key)
