"""The operation log on both object stores: positions claimed once, records read back exactly, in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.support.s3_server import S3Server, start_s3_server

from embedb.distributed import DirectoryStore, ObjectStore, OperationLog, open_object_store
from embedb.errors import CorruptionError, InvalidArgumentError


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "directory":
        opened: ObjectStore = DirectoryStore(tmp_path / "store")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        opened = open_object_store(server.storage("log"), endpoint_url=server.endpoint_url)
    yield opened
    opened.close()  # an S3 client's pooled sockets


def test_put_new_creates_a_key_once(store: ObjectStore) -> None:
    assert store.put_new("a/000001", b"first")
    assert not store.put_new("a/000001", b"second")
    assert store.get("a/000001") == b"first"
    assert store.get("a/000002") is None
    store.put("a/000001", b"replaced")
    assert store.get("a/000001") == b"replaced"
    store.put_new("a/000003", b"x")
    store.put_new("b/000001", b"y")
    assert store.keys("a/") == ["a/000001", "a/000003"]
    assert store.keys("a/", after="a/000001") == ["a/000003"]


def test_records_come_back_with_their_arrays_exact(store: ObjectStore) -> None:
    log = OperationLog(store, "shards/0000/log")
    vectors = np.random.default_rng(1).random((3, 5), dtype=np.float32)
    first = log.append(
        "insert", {"collection_name": "c", "data": {"id": [1, 2, 3], "v": vectors}}, catalog_seq=4, request="r1"
    )
    second = log.append("delete", {"collection_name": "c", "ids": [2], "filter": None}, catalog_seq=5)
    assert (first, second) == (1, 2)
    records = log.read(after=0)
    assert [record.seq for record in records] == [1, 2]
    assert records[0].operation == "insert" and records[0].catalog_seq == 4 and records[0].request == "r1"
    assert np.array_equal(records[0].arguments["data"]["v"], vectors)
    assert records[0].arguments["data"]["v"].dtype == np.float32
    assert [record.seq for record in log.read(after=1)] == [2]
    assert log.read(after=0, upto=1)[0].seq == 1
    assert log.last_seq() == 2


def test_two_writers_never_share_a_position(store: ObjectStore) -> None:
    logs = [OperationLog(store, "catalog"), OperationLog(store, "catalog")]
    taken: list[int] = []
    lock = threading.Lock()

    def append(log: OperationLog, count: int) -> None:
        for i in range(count):
            seq = log.append("create_partition", {"collection_name": "c", "partition_name": f"p{i}"})
            with lock:
                taken.append(seq)

    threads = [threading.Thread(target=append, args=(log, 15)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(1, 31))
    assert [record.seq for record in logs[0].read(after=0)] == list(range(1, 31))


def test_an_unreadable_record_is_corruption_not_an_empty_log(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "store")
    store.put("catalog/000000000001", b"{not json")
    with pytest.raises(CorruptionError, match="log record 1"):
        OperationLog(store, "catalog").read(after=0)


def test_storage_urls_are_checked(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="names no bucket"):
        open_object_store("s3:///prefix")
    with pytest.raises(InvalidArgumentError, match="s3://bucket/prefix or a directory"):
        open_object_store("gs://bucket/x")
    with pytest.raises(InvalidArgumentError, match="leaves the store"):
        DirectoryStore(tmp_path).get("../outside")


def test_a_dict_that_looks_like_a_packed_array_reads_back_as_itself(tmp_path: Path) -> None:
    log = OperationLog(DirectoryStore(tmp_path / "store"), "shards/0000/log")
    looks_packed = {"dtype": "bytes", "shape": [2], "b64": "YWI="}
    looks_wrapped = {"embedb:literal": {"x": 1}}
    rows = [{"id": 1, "j": looks_packed}, {"id": 2, "j": looks_wrapped}, {"id": 3, "j": [looks_packed, 1.5]}]
    vectors = np.ones((3, 2), dtype=np.float32)
    seq, stored = log.append_record("insert", {"collection_name": "c", "data": rows, "v": vectors})
    for record in (stored, log.read(after=0)[0]):
        assert record.seq == seq
        assert record.arguments["data"] == rows
        assert np.array_equal(record.arguments["v"], vectors) and record.arguments["v"].dtype == np.float32


def test_collected_records_leave_the_newest_and_a_reader_behind_them_meets_a_gap(store: ObjectStore) -> None:
    log = OperationLog(store, "shards/0000/log")
    for i in range(6):
        log.append("insert", {"i": i})
    assert log.delete_before(4) == 3
    assert [record.seq for record in log.read(after=3)] == [4, 5, 6]
    with pytest.raises(CorruptionError, match="has no record 2"):
        log.read(after=1)
    assert log.delete_before(100) == 2, "the newest record stays"
    again = OperationLog(store, "shards/0000/log")  # a new appender finds the next position from the newest
    assert again.append("insert", {"i": 6}) == 7
    assert [record.seq for record in again.read(after=6)] == [7]


def test_a_writer_behind_the_collected_log_appends_at_its_end_not_at_a_freed_position(store: ObjectStore) -> None:
    """A router whose next position is from before a collection would re-create a deleted position that no shard
    reads any more (its decision lost though acknowledged): the floor the collector writes first turns it back."""
    behind = OperationLog(store, "catalog", shared=True)
    for i in range(3):
        behind.append("create_partition", {"i": i})  # it will next try position 4
    other = OperationLog(store, "catalog", shared=True)
    assert [other.append("create_partition", {"i": i}) for i in range(3, 6)] == [4, 5, 6]
    assert OperationLog(store, "catalog").delete_before(6) == 5
    assert behind.append("create_partition", {"i": 6}) == 7
    assert [record.seq for record in behind.read(after=6)] == [7]
    assert store.keys("catalog/") == ["catalog/000000000006", "catalog/000000000007"]


def test_a_read_up_to_a_collected_position_is_a_gap_not_an_empty_answer(store: ObjectStore) -> None:
    log = OperationLog(store, "shards/0000/log")
    for i in range(4):
        log.append("insert", {"i": i})
    log.delete_before(3)
    with pytest.raises(CorruptionError, match="has no record 2"):
        log.read(after=1, upto=2)  # a replica at 1 told to follow to 2: it must restore, not report 1


def test_a_put_cut_short_by_a_kill_leaves_a_temporary_file_that_collecting_removes_later(tmp_path: Path) -> None:
    import os
    import time

    store = DirectoryStore(tmp_path / "store")
    log = OperationLog(store, "shards/0000/log")
    log.append("insert", {"i": 0})
    folder = tmp_path / "store" / "shards" / "0000" / "log"
    old, fresh = folder / ".put-old", folder / ".put-fresh"  # as a killed writer leaves them
    old.write_bytes(b"half a record")
    fresh.write_bytes(b"a put in progress")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert store.keys("shards/0000/log/") == ["shards/0000/log/000000000001"], "never listed as a record"
    assert store.remove_abandoned("shards/0000/log/", 3600) == 1
    assert not old.exists() and fresh.exists()
