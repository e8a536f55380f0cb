"""One collection's storage: writes, checkpoints, reopen, compaction, snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.unit.storage.conftest import make_batch

from embedb.config import Settings
from embedb.errors import CorruptionError, DirectoryLockedError, DuplicateKeyError, ReadOnlyError
from embedb.schema import CollectionSchema
from embedb.storage.engine import StorageEngine
from embedb.storage.store import CollectionStore


def live_keys(store: CollectionStore) -> list[int]:
    keys: list[int] = []
    for view in store.snapshot().segments:
        keys.extend(view.data.pks[~view.deleted].tolist())
    return sorted(keys)


def open_store(engine: StorageEngine, name: str = "c") -> CollectionStore:
    return engine.store(engine.collection(name))


def test_insert_delete_upsert_in_memory(engine: StorageEngine, schema: CollectionSchema) -> None:
    engine.create_collection("c", schema)
    store = open_store(engine)
    store.insert(make_batch([1, 2, 3]))
    assert store.delete(np.array([2, 99])) == 1
    store.upsert(make_batch([3, 4], seed=5))
    assert live_keys(store) == [1, 3, 4]
    with pytest.raises(DuplicateKeyError, match="1 primary key"):
        store.insert(make_batch([4, 5]))
    assert live_keys(store) == [1, 3, 4], "a refused insert writes nothing"


def test_everything_survives_reopen_from_the_wal(tmp_path: Path, settings: Settings, schema: CollectionSchema) -> None:
    engine = StorageEngine(tmp_path, settings=settings)
    engine.create_collection("c", schema)
    store = open_store(engine)
    store.insert(make_batch([1, 2, 3]))
    store.delete(np.array([1]))
    store.upsert(make_batch([2], seed=9))
    upserted = store.snapshot().segments[-1].data.vectors["vector"][-1].copy()
    engine.close()
    engine = StorageEngine(tmp_path, settings=settings)
    store = open_store(engine)
    assert live_keys(store) == [2, 3]
    view = store.snapshot().segments[-1]
    row = int(np.nonzero((view.data.pks == 2) & ~view.deleted)[0][0])
    np.testing.assert_array_equal(view.data.vectors["vector"][row], upserted)
    engine.close()


def test_checkpoint_seals_sorted_segments_and_truncates_the_wal(tmp_path: Path, settings: Settings, schema: CollectionSchema) -> None:
    engine = StorageEngine(tmp_path, settings=settings)
    engine.create_collection("c", schema)
    store = open_store(engine)
    store.insert(make_batch([5, 3, 9]))
    store.delete(np.array([3]))
    store.flush()
    (view,) = store.snapshot().segments
    assert view.sealed
    assert view.data.pks.tolist() == [5, 9], "sealing drops deleted rows and sorts by key"
    assert store.stats()["checkpoint_lsn"] == store.last_lsn
    store.insert(make_batch([7]))
    store.delete(np.array([9]))
    engine.close()
    engine = StorageEngine(tmp_path, settings=settings)
    store = open_store(engine)
    assert live_keys(store) == [5, 7]
    store.flush()
    engine.close()
    engine = StorageEngine(tmp_path, settings=settings)
    assert live_keys(open_store(engine)) == [5, 7]
    engine.close()


def test_snapshot_is_pinned_while_writes_continue(engine: StorageEngine, schema: CollectionSchema) -> None:
    engine.create_collection("c", schema)
    store = open_store(engine)
    store.insert(make_batch(list(range(10))))
    before = store.snapshot()
    store.delete(np.array([0, 1]))
    store.insert(make_batch(list(range(10, 2000))))
    store.flush()
    assert before.live_count == 10
    assert sorted(k for v in before.segments for k in v.data.pks[~v.deleted].tolist()) == list(range(10))
    assert store.snapshot().live_count == 1998


def test_compaction_merges_and_keeps_concurrent_deletes(tmp_path: Path, schema: CollectionSchema) -> None:
    settings = Settings(background_compaction=False, background_interval_s=3600, compaction_min_segment_rows=1000)
    engine = StorageEngine(tmp_path, settings=settings)
    engine.create_collection("c", schema)
    store = open_store(engine)
    for start in range(0, 50, 10):
        store.insert(make_batch(list(range(start, start + 10))))
        store.flush()
    store.delete(np.array([0, 11, 22]))
    reader = store.snapshot()
    assert len(reader.segments) == 5
    assert store.compact() == 5
    assert len(store.snapshot().segments) == 1
    assert reader.live_count == 47, "a snapshot taken before compaction still reads its segments"
    assert live_keys(store) == sorted(set(range(50)) - {0, 11, 22})
    engine.close()
    engine = StorageEngine(tmp_path, settings=settings)
    assert live_keys(open_store(engine)) == sorted(set(range(50)) - {0, 11, 22})
    engine.close()


def test_second_writer_is_refused_and_read_only_open_works(tmp_path: Path, settings: Settings, schema: CollectionSchema) -> None:
    engine = StorageEngine(tmp_path, settings=settings)
    engine.create_collection("c", schema)
    open_store(engine).insert(make_batch([1, 2]))
    with pytest.raises(DirectoryLockedError, match="read_only=True"):
        StorageEngine(tmp_path, settings=settings)
    reader = StorageEngine(tmp_path, settings=settings, read_only=True)
    store = open_store(reader)
    assert live_keys(store) == [1, 2]
    with pytest.raises(ReadOnlyError):
        store.insert(make_batch([3]))
    reader.close()
    engine.close()


def test_flipped_byte_in_a_segment_file_names_file_and_offset(tmp_path: Path, settings: Settings, schema: CollectionSchema) -> None:
    engine = StorageEngine(tmp_path, settings=settings)
    engine.create_collection("c", schema)
    store = open_store(engine)
    store.insert(make_batch(list(range(100))))
    store.flush()
    folder = store.segment_folder(store.snapshot().segments[0].data.segment_id)
    engine.close()
    target = folder / "vector.0.npy"
    data = bytearray(target.read_bytes())
    data[200] ^= 0x01
    target.write_bytes(bytes(data))
    engine = StorageEngine(tmp_path, settings=settings)
    with pytest.raises(CorruptionError) as caught:
        open_store(engine)
    assert caught.value.details["file"] == str(target)
    assert caught.value.details["offset"] == 0
    engine.close()


def test_drop_partition_deletes_its_rows(engine: StorageEngine, schema: CollectionSchema) -> None:
    engine.create_collection("c", schema)
    engine.create_partition("c", "p1")
    store = open_store(engine)
    store.insert(make_batch([1, 2]))
    store.insert(make_batch([3, 4], partition_id=1))
    engine.drop_partition("c", "p1")
    assert live_keys(store) == [1, 2]
    assert "p1" not in engine.collection("c").partitions


def test_compaction_leaves_a_lone_small_segment_alone(tmp_path: Path, schema: CollectionSchema) -> None:
    settings = Settings(background_compaction=False, background_interval_s=3600, segment_max_rows=100)
    engine = StorageEngine(tmp_path, settings=settings)
    engine.create_collection("c", schema)
    store = open_store(engine)
    for keys in (range(0, 90), range(90, 120), range(120, 150)):
        store.insert(make_batch(list(keys)))
        store.flush()
    first, second, third = (view.data.segment_id for view in store.snapshot().segments)
    # 90 rows fit with neither neighbour under the 100-row cap; the two 30-row segments merge.
    assert store.compaction_plan() == [[second, third]]
    assert store.compact() == 2
    assert store.compaction_plan() == [], "a merged segment that fits with no neighbour is not rewritten again"
    assert store.compact() == 0
    assert store.snapshot().segments[0].data.segment_id == first
    assert live_keys(store) == list(range(150))
    engine.close()
