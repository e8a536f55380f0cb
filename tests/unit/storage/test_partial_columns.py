"""A sealed segment's new vector column written chunk by chunk: durable chunks, torn tails, debris, repair."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.unit.storage.conftest import make_batch

from embedb.config import Settings
from embedb.errors import CorruptionError
from embedb.schema import CollectionSchema
from embedb.storage.check import check_directory, repair_directory
from embedb.storage.engine import StorageEngine
from embedb.storage.partial_columns import partial_file_name
from embedb.storage.store import CollectionStore

ROWS = 100
KEY = "vector@toy/2"
WIDTH = 3


def column(rows: int = ROWS) -> np.ndarray:
    return np.random.default_rng(7).random((rows, WIDTH), dtype=np.float32)


@pytest.fixture
def data_dir(tmp_path: Path, settings: Settings, schema: CollectionSchema) -> Path:
    """One collection with one sealed segment of ``ROWS`` rows."""
    engine = StorageEngine(tmp_path / "data", settings=settings)
    engine.create_collection("c", schema)
    store = engine.store(engine.collection("c"))
    store.insert(make_batch(list(range(ROWS))))
    store.flush()
    engine.close()
    return tmp_path / "data"


class Opened:
    """A writable storage engine on ``data_dir`` and its one store, reopened at will."""

    def __init__(self, path: Path, settings: Settings) -> None:
        self.path = path
        self.settings = settings
        self.engine = StorageEngine(path, settings=settings)

    @property
    def store(self) -> CollectionStore:
        return self.engine.store(self.engine.collection("c"))

    @property
    def segment_id(self) -> int:
        (data,) = self.store.sealed_segments()
        return data.segment_id

    @property
    def partial_path(self) -> Path:
        return self.store.segment_folder(self.segment_id) / partial_file_name(KEY)

    def reopen(self) -> None:
        """Close, open again and open the store (its recovery runs)."""
        self.engine.close()
        self.engine = StorageEngine(self.path, settings=self.settings)
        assert self.store is not None


@pytest.fixture
def opened(data_dir: Path, settings: Settings) -> Iterator[Opened]:
    handle = Opened(data_dir, settings)
    yield handle
    handle.engine.close()


def test_committed_chunks_survive_a_reopen_and_the_last_one_publishes_the_column(opened: Opened) -> None:
    matrix = column()
    segment_id = opened.segment_id
    assert opened.store.vector_rows_done(segment_id, KEY) == 0
    assert opened.store.add_vector_rows(segment_id, KEY, 0, matrix[:30])
    assert opened.store.add_vector_rows(segment_id, KEY, 30, matrix[30:60])
    assert opened.store.vector_rows_done(segment_id, KEY) == 60
    assert KEY not in opened.store.snapshot().segments[0].data.vectors, "an incomplete column is not readable"

    opened.reopen()
    assert opened.store.vector_rows_done(segment_id, KEY) == 60
    assert opened.partial_path.stat().st_size == 128 + 60 * WIDTH * 4, "the .npy header and 60 rows"
    assert opened.store.add_vector_rows(segment_id, KEY, 60, matrix[60:])
    (view,) = opened.store.snapshot().segments
    np.testing.assert_array_equal(view.data.vectors[KEY], matrix)
    np.testing.assert_allclose(view.data.norms[KEY], np.linalg.norm(matrix, axis=1), rtol=1e-6)
    assert opened.store.vector_rows_done(segment_id, KEY) == ROWS
    assert not opened.partial_path.exists(), "the published column keeps the bytes under its own name"
    assert not opened.store.add_vector_rows(segment_id, KEY, 0, matrix), "a complete column takes no more rows"

    opened.reopen()
    np.testing.assert_array_equal(opened.store.snapshot().segments[0].data.vectors[KEY], matrix)
    assert check_directory(opened.path).ok


def test_rows_out_of_order_of_another_width_or_past_the_end_are_refused(opened: Opened) -> None:
    segment_id = opened.segment_id
    opened.store.add_vector_rows(segment_id, KEY, 0, column()[:10])
    with pytest.raises(ValueError, match="10 rows done, not 20"):
        opened.store.add_vector_rows(segment_id, KEY, 20, column()[:10])
    with pytest.raises(ValueError, match="3 wide, the new rows 4"):
        opened.store.add_vector_rows(segment_id, KEY, 10, np.zeros((5, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="do not fit"):
        opened.store.add_vector_rows(segment_id, KEY, 10, column(ROWS))
    assert opened.store.vector_rows_done(segment_id, KEY) == 10
    assert not opened.store.add_vector_rows(segment_id + 99, KEY, 0, column()), "no such segment"


def test_the_callers_writes_commit_with_the_chunk_or_not_at_all(opened: Opened) -> None:
    catalog = opened.engine.catalog
    catalog.ensure_tables("CREATE TABLE IF NOT EXISTS tally (rows INTEGER NOT NULL);")
    segment_id = opened.segment_id
    matrix = column()

    def count(rows: int) -> object:
        def write(cursor: sqlite3.Cursor) -> None:
            cursor.execute("INSERT INTO tally (rows) VALUES (?)", (rows,))

        return write

    def refuse(cursor: sqlite3.Cursor) -> None:
        cursor.execute("INSERT INTO tally (rows) VALUES (-1)")
        raise RuntimeError("the caller's bookkeeping failed")

    opened.store.add_vector_rows(segment_id, KEY, 0, matrix[:40], same_transaction=count(40))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="bookkeeping"):
        opened.store.add_vector_rows(segment_id, KEY, 40, matrix[40:70], same_transaction=refuse)
    assert opened.store.vector_rows_done(segment_id, KEY) == 40, "the chunk was not committed"
    assert [r["rows"] for r in catalog.query("SELECT rows FROM tally")] == [40]
    assert opened.partial_path.stat().st_size > 128 + 40 * WIDTH * 4, "its bytes are written, past the committed end"

    report = check_directory(opened.path)
    assert report.ok and any(partial_file_name(KEY) in torn for torn in report.torn_tails)
    opened.reopen()
    assert opened.partial_path.stat().st_size == 128 + 40 * WIDTH * 4, "the open cut the uncommitted chunk"
    assert opened.store.vector_rows_done(segment_id, KEY) == 40
    # The publishing chunk commits the caller's writes too.
    opened.store.add_vector_rows(segment_id, KEY, 40, matrix[40:], same_transaction=count(60))  # type: ignore[arg-type]
    assert [r["rows"] for r in opened.engine.catalog.query("SELECT rows FROM tally")] == [40, 60]
    np.testing.assert_array_equal(opened.store.snapshot().segments[0].data.vectors[KEY], matrix)


def test_an_unnamed_partial_file_is_debris_and_a_dropped_column_takes_its_partial_along(opened: Opened) -> None:
    segment_id = opened.segment_id
    folder = opened.store.segment_folder(segment_id)
    stray = folder / partial_file_name("never-recorded")
    stray.write_bytes(b"left by a crash before the first chunk committed")
    opened.store.add_vector_rows(segment_id, KEY, 0, column()[:50])
    opened.reopen()
    assert not stray.exists(), "a partial file the catalog does not name is removed on open"
    assert opened.partial_path.exists(), "a recorded partial is kept"

    assert opened.store.drop_vector_column(KEY) == 0, "no segment had the column complete"
    assert not opened.partial_path.exists()
    assert opened.store.vector_rows_done(segment_id, KEY) == 0
    opened.reopen()
    assert opened.store.vector_rows_done(segment_id, KEY) == 0
    assert opened.engine.catalog.query("SELECT * FROM partial_columns") == []


def test_a_segment_with_a_column_under_construction_is_not_compacted(data_dir: Path, schema: CollectionSchema) -> None:
    settings = Settings(background_compaction=False, background_interval_s=3600, compaction_deleted_ratio=0.1)
    opened = Opened(data_dir, settings)
    try:
        segment_id = opened.segment_id
        opened.store.add_vector_rows(segment_id, KEY, 0, column()[:50])
        opened.store.delete(np.arange(30))
        opened.store.flush()
        assert opened.store.compaction_plan() == [], "merging would throw the finished chunks away"
        opened.store.add_vector_rows(segment_id, KEY, 50, column()[50:])
        assert opened.store.compaction_plan() == [[segment_id]], "once published, the deletion-heavy segment is merged"
    finally:
        opened.engine.close()


def test_a_damaged_chunk_fails_the_open_and_a_repair_drops_the_partial(opened: Opened) -> None:
    segment_id = opened.segment_id
    opened.store.add_vector_rows(segment_id, KEY, 0, column()[:30])
    opened.store.add_vector_rows(segment_id, KEY, 30, column()[30:60])
    path = opened.partial_path
    opened.engine.close()
    damaged = bytearray(path.read_bytes())
    damaged[128 + 40 * WIDTH * 4] ^= 0x01  # inside the second chunk
    path.write_bytes(bytes(damaged))

    report = check_directory(opened.path)
    (problem,) = report.problems
    assert (problem.kind, problem.file, problem.offset) == ("partial", str(path), 128 + 30 * WIDTH * 4)
    assert "60 of 100 rows a backfill embedded so far" in problem.would_drop
    engine = StorageEngine(opened.path, settings=opened.settings)
    try:
        with pytest.raises(CorruptionError, match="checksum mismatch") as caught:
            engine.store(engine.collection("c"))
        assert caught.value.details["offset"] == 128 + 30 * WIDTH * 4
    finally:
        engine.close()

    actions = repair_directory(opened.path, report)
    assert actions == [f"c: dropped the partial column {KEY!r} of segment {segment_id}; its backfill embeds those rows again"]
    assert not path.exists()
    assert check_directory(opened.path).ok
    opened.engine = StorageEngine(opened.path, settings=opened.settings)
    assert opened.store.vector_rows_done(segment_id, KEY) == 0
    assert opened.store.add_vector_rows(segment_id, KEY, 0, column())


def test_a_publication_that_does_not_commit_leaves_the_partial_as_it_was(opened: Opened) -> None:
    segment_id = opened.segment_id
    folder = opened.store.segment_folder(segment_id)
    matrix = column()
    opened.store.add_vector_rows(segment_id, KEY, 0, matrix[:60])

    def refuse(cursor: sqlite3.Cursor) -> None:
        raise RuntimeError("the catalog transaction of the publication fails")

    with pytest.raises(RuntimeError, match="publication fails"):
        opened.store.add_vector_rows(segment_id, KEY, 60, matrix[60:], same_transaction=refuse)
    assert {p.name for p in folder.glob("*.1.npy")} == {"vector.1.npy", "norm.1.npy"}, "named, not published"
    assert opened.store.vector_rows_done(segment_id, KEY) == 60
    assert KEY not in opened.store.snapshot().segments[0].data.vectors

    opened.reopen()
    assert not list(folder.glob("*.1.npy")), "the unpublished column files are debris"
    assert opened.partial_path.stat().st_size == 128 + 60 * WIDTH * 4
    assert opened.store.add_vector_rows(segment_id, KEY, 60, matrix[60:])
    np.testing.assert_array_equal(opened.store.snapshot().segments[0].data.vectors[KEY], matrix)
    opened.reopen()
    assert check_directory(opened.path).ok
    np.testing.assert_array_equal(opened.store.snapshot().segments[0].data.vectors[KEY], matrix)
