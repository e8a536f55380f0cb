"""Backfill: embed every existing row with a new model version, with no downtime, resumably.

The moment a job is created (one catalog transaction), the new version joins the
field's write set, so every row written from then on carries both versions. The
job then seals the growing segment and embeds the source text of each sealed
segment that lacks the new column, in chunks of ``Settings.backfill_chunk_rows``
rows in segment order. A chunk is the unit of progress: storage makes its
vectors durable and commits them in one catalog transaction together with the
job's progress (``CollectionStore.add_vector_rows``), and the last chunk of a
segment publishes its column. After ``kill -9`` the job resumes by itself on the
next writable open, from the last committed chunk of the segment it was in, and
its ``rows_done`` counts exactly the committed rows. Searches keep reading the
serving version the whole time; nothing they read is modified in place.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc

from embedb.lifecycle.bindings import EmbeddingBindings, EmbeddingVersionState, set_version_state
from embedb.lifecycle.jobs import JobRecord, JobState, JobTable
from embedb.models import LoadedModel, ModelRegistry
from embedb.models.threads import limit_compute_threads
from embedb.pause_points import PausePoints
from embedb.storage import CollectionInfo, CollectionStore, SegmentView
from embedb.storage.sparse_vectors import tokenized_index
from embedb.text import analyzer

log = logging.getLogger(__name__)

StoreLookup = Callable[[int], tuple[CollectionInfo, CollectionStore]]
IndexGap = Callable[[CollectionInfo, str], "str | None"]
"""``gap(info, column_key)``: None once the column's index is built everywhere (or it needs none)."""
INDEX_POLL_S = 0.2
JobProgress = Callable[[int, int], None]
"""``progress(rows_done, rows_total)``, called after every committed chunk."""
ChunkEmbedding = Callable[[LoadedModel, list[str]], np.ndarray]
"""``embed(model, texts)``: one chunk's vectors; a cluster's shard has Ray workers embed them (``BackfillRunner.chunk_embedding``)."""


@dataclass
class _Tally:
    """A job's counters as the catalog has them: rows embedded, live rows without source text, segments done."""

    rows_done: int
    rows_without_source: int
    segments_done: int

    def take(self, other: _Tally) -> None:
        self.rows_done, self.rows_without_source, self.segments_done = (
            other.rows_done,
            other.rows_without_source,
            other.segments_done,
        )


@dataclass(frozen=True)
class _Work:
    """What a job embeds: the store, the new column, the source field, the model and the chunk size."""

    job_id: int
    store: CollectionStore
    key: str
    source: str
    embedder: LoadedModel
    chunk_rows: int


def _live_from(view: SegmentView, start: int) -> int:
    """Live rows of a segment from row ``start`` on: what is left to embed after its committed chunks."""
    return int((~view.deleted[start:]).sum())


class _Stop(Exception):
    """Raised inside a job's thread when a user paused or cancelled it, or the database closes."""


@dataclass
class _Running:
    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)
    rows_at_start: int = 0
    rows_now: int = 0
    rows_total: int = 0
    progress: list[JobProgress] = field(default_factory=list)

    def rate(self) -> float | None:
        elapsed = time.monotonic() - self.started_at
        done = self.rows_now - self.rows_at_start
        return done / elapsed if elapsed > 0 and done > 0 else None


class BackfillRunner:
    """Runs backfill jobs in background threads; one thread per running job.

    ``chunk_rows`` (rows embedded and committed at a time) defaults to the
    collection store's ``Settings.backfill_chunk_rows``.
    """

    def __init__(
        self,
        *,
        jobs: JobTable,
        bindings: EmbeddingBindings,
        registry: ModelRegistry,
        store_for: StoreLookup,
        index_gap: IndexGap,
        chunk_rows: int | None = None,
        threads: int = 1,
        pause_points: PausePoints | None = None,
    ) -> None:
        self.jobs = jobs
        self.bindings = bindings
        self.registry = registry
        self.store_for = store_for
        self.index_gap = index_gap
        self.threads = threads
        self.chunk_rows = chunk_rows
        self.pause_points = pause_points or PausePoints()
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()
        self._closed = False
        # How a chunk's texts are embedded: None, by the model in this process; read at every chunk, so a job
        # resumed before it is set picks it up at its next chunk.
        self.chunk_embedding: ChunkEmbedding | None = None

    # ------------------------------------------------------------- control

    def start(self, job_id: int, progress: JobProgress | None = None) -> None:
        """Run (or resume) a job in a background thread; a no-op if it runs already."""
        with self._lock:
            if self._closed or job_id in self._running:
                return
            thread = threading.Thread(target=self._run, args=(job_id,), name=f"embedb-backfill-{job_id}", daemon=True)
            running = _Running(thread)
            if progress is not None:
                running.progress.append(progress)
            self._running[job_id] = running
        thread.start()

    def resume_unfinished(self) -> None:
        """Restart jobs that were running when the process stopped (e.g. a crash), each from its last committed chunk."""
        for record in self.jobs.unfinished():
            self.start(record.id)

    def stop(self, job_id: int, *, timeout: float | None = None) -> None:
        """Ask a running job's thread to stop at the next chunk and wait for it."""
        with self._lock:
            running = self._running.get(job_id)
        if running is not None:
            running.stop.set()
            running.thread.join(timeout)

    def rate(self, job_id: int) -> float | None:
        with self._lock:
            running = self._running.get(job_id)
        return running.rate() if running is not None else None

    def wait(self, job_id: int, timeout: float | None = None) -> JobRecord:
        """Block until the job's thread ends (or ``timeout``); return the job."""
        with self._lock:
            running = self._running.get(job_id)
        if running is not None:
            running.thread.join(timeout)
        return self.jobs.get(job_id)

    def close(self) -> None:
        """Stop every thread; running jobs stay RUNNING in the catalog and resume on the next open."""
        with self._lock:
            self._closed = True
            running = list(self._running.values())
        for item in running:
            item.stop.set()
        for item in running:
            item.thread.join()

    # ---------------------------------------------------------------- work

    def _run(self, job_id: int) -> None:
        running = self._running[job_id]
        try:
            record = self.jobs.get(job_id)
            if record.state is not JobState.RUNNING:
                record = self.jobs.transition(job_id, JobState.RUNNING)
            running.rows_at_start = running.rows_now = record.rows_done
            self._backfill(record, running)
        except _Stop:
            pass
        except Exception as error:  # the job records why; the database keeps serving
            log.exception("backfill job %s failed", job_id)
            try:
                self.jobs.transition(job_id, JobState.FAILED, error=f"{type(error).__name__}: {error}")
            except Exception:
                log.exception("could not record the failure of job %s", job_id)
        finally:
            with self._lock:
                self._running.pop(job_id, None)

    def _backfill(self, record: JobRecord, running: _Running) -> None:
        info, store = self.store_for(record.collection_id)
        source = info.schema.field(record.field).source
        assert source is not None, "backfills run on model-bound fields only"
        key = record.column_key
        if info.schema.field(record.field).dtype.is_sparse:
            self._tokenize(record, running, store, source)
            self._mark_ready(record, running)
            return
        work = _Work(
            job_id=record.id,
            store=store,
            key=key,
            source=source,
            embedder=self.registry.load(record.model_uri),
            chunk_rows=self.chunk_rows or store.settings.backfill_chunk_rows,
        )
        tally = _Tally(record.rows_done, record.rows_without_source, record.segments_done)
        while True:
            self._check_stop(running)
            store.flush()  # seal rows written before the new version joined the write set
            snapshot = store.snapshot()
            pending = [v for v in snapshot.segments if v.sealed and v.data.num_rows and key not in v.data.vectors]
            unsealed = [v for v in snapshot.segments if not v.sealed and v.data.num_rows and key not in v.data.vectors]
            if not pending and not unsealed:
                break
            remaining = sum(_live_from(v, store.vector_rows_done(v.data.segment_id, key)) for v in pending)
            total = tally.rows_done + remaining + sum(v.live_count for v in unsealed)
            running.rows_total = total
            self._record_progress(record.id, tally, rows_total=total)
            for view in pending:
                self._embed_segment(work, view, tally, running)
        # The job is done when the new vectors can serve: indexed like the field's other versions.
        while self.index_gap(info, key) is not None:
            self._check_stop(running)
            running.stop.wait(INDEX_POLL_S)
        self._mark_ready(record, running)

    def _mark_ready(self, record: JobRecord, running: _Running) -> None:
        with self.jobs.catalog.transaction() as cursor:
            set_version_state(cursor, record.collection_id, record.column_key, EmbeddingVersionState.READY)
            self.jobs.transition(record.id, JobState.DONE, cursor=cursor)
            self.pause_points.reach("backfill.ready.checked")
        self.pause_points.reach("backfill.ready.committed")
        self.bindings.forget(record.collection_id)
        self._report(running)

    def _tokenize(self, record: JobRecord, running: _Running, store: CollectionStore, source: str) -> None:
        """An analyzer version's backfill: count its terms of every sealed segment's text, segment by segment.

        The counts are kept with each segment in memory (``tokenized_index``), as a
        search would make them; nothing is written but the job's progress, so a
        resumed job counts again from the first segment, and rows written from now on
        are counted when first searched. Live rows without text count as such.
        """
        tokens = analyzer(self.registry.load(record.model_uri).analyzer_params).tokens
        store.flush()
        sealed = [view for view in store.snapshot().segments if view.sealed and view.data.num_rows]
        tally = _Tally(0, 0, 0)
        running.rows_at_start = running.rows_now = 0
        running.rows_total = sum(view.live_count for view in sealed)
        self._record_progress(record.id, tally, rows_total=running.rows_total)
        for view in sealed:
            self._check_stop(running)
            texts = view.data.table.column(source)
            tokenized_index(view.data.memo, record.column_key, texts, tokens)
            live = ~view.deleted[: view.data.num_rows]
            without = int((live & pc.is_null(texts).to_numpy(zero_copy_only=False)).sum())
            tally = _Tally(tally.rows_done + view.live_count - without, tally.rows_without_source + without, tally.segments_done + 1)
            self._record_progress(record.id, tally)
            running.rows_now = tally.rows_done
            self._report(running)

    def _embed_segment(self, work: _Work, view: SegmentView, tally: _Tally, running: _Running) -> None:
        """Embed one sealed segment into the new column chunk by chunk, from its last committed chunk on.

        Live rows with text are embedded; deleted or text-less rows get zeros.
        Each chunk's vectors commit together with the job's progress (one
        catalog transaction), so ``tally`` and the catalog count exactly the
        committed rows. Returns early when the segment is gone (a compaction
        merged it: its rows come back in the next pass).
        """
        segment_id, num_rows = view.data.segment_id, view.data.num_rows
        texts_column = view.data.table.column(work.source)
        has_text = ~pc.is_null(texts_column).to_numpy(zero_copy_only=False)
        dimension = work.embedder.dimension
        for start in range(work.store.vector_rows_done(segment_id, work.key), num_rows, work.chunk_rows):
            self._check_stop(running)
            end = min(start + work.chunk_rows, num_rows)
            live = ~view.deleted[start:end]
            todo = np.nonzero(live & has_text[start:end])[0]
            matrix = np.zeros((end - start, dimension), dtype=np.float32)
            if todo.size:
                texts = [str(t) for t in texts_column.take(todo + start).to_pylist()]
                embed = self.chunk_embedding
                with limit_compute_threads(self.threads):
                    matrix[todo] = work.embedder.embed(texts) if embed is None else embed(work.embedder, texts)
            after = _Tally(
                tally.rows_done + int(todo.size),
                tally.rows_without_source + int((live & ~has_text[start:end]).sum()),
                tally.segments_done + (1 if end == num_rows else 0),
            )

            def record_progress(cursor: sqlite3.Cursor, after: _Tally = after) -> None:
                self._record_progress(work.job_id, after, cursor=cursor)

            if not work.store.add_vector_rows(segment_id, work.key, start, matrix, same_transaction=record_progress):
                return
            self.pause_points.reach("backfill.chunk.committed")
            if end == num_rows:
                self.pause_points.reach("backfill.column.published")
            tally.take(after)
            running.rows_now = tally.rows_done
            self._report(running)

    def _record_progress(
        self, job_id: int, tally: _Tally, *, rows_total: int | None = None, cursor: sqlite3.Cursor | None = None
    ) -> None:
        self.jobs.progress(
            job_id,
            rows_total=rows_total,
            rows_done=tally.rows_done,
            rows_without_source=tally.rows_without_source,
            segments_done=tally.segments_done,
            cursor=cursor,
        )

    def _check_stop(self, running: _Running) -> None:
        if running.stop.is_set():
            raise _Stop()

    def _report(self, running: _Running) -> None:
        for callback in running.progress:
            try:
                callback(running.rows_now, max(running.rows_total, running.rows_now))
            except Exception:  # a progress bar must not stop the job
                log.exception("backfill progress callback failed")
