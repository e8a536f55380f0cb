"""The write-ahead log: records round-trip, torn tails are cut, corruption is named."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from embedb.errors import CorruptionError, StorageError
from embedb.storage import durable as durable_module
from embedb.storage import wal as wal_module
from embedb.storage.wal import FILE_HEADER, RECORD_HEADER, WalWriter, list_wal_files, read_log, scan_file


def write_records(folder: Path, payloads: list[bytes], *, fsync: bool = False) -> WalWriter:
    wal = WalWriter(folder, next_lsn=1, fsync=fsync)
    for payload in payloads:
        wal.sync_to(wal.append(7, payload))
    return wal


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    write_records(tmp_path, [b"a", b"bb", b"ccc"]).close()
    records = list(read_log(tmp_path, after_lsn=0, repair=False))
    assert [(r.lsn, r.kind, r.payload) for r in records] == [(1, 7, b"a"), (2, 7, b"bb"), (3, 7, b"ccc")]


def test_reading_after_a_checkpoint_skips_older_records(tmp_path: Path) -> None:
    wal = write_records(tmp_path, [b"a", b"b"])
    wal.rotate()
    wal.sync_to(wal.append(1, b"c"))
    wal.close()
    assert [r.payload for r in read_log(tmp_path, after_lsn=2, repair=False)] == [b"c"]


def test_torn_tail_is_cut_on_a_writers_open(tmp_path: Path) -> None:
    write_records(tmp_path, [b"first", b"second" * 100]).close()
    path = list_wal_files(tmp_path)[-1]
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size - 50)  # the last record is only partly written
    assert [r.payload for r in read_log(tmp_path, after_lsn=0, repair=False)] == [b"first"]
    assert path.stat().st_size == size - 50, "a read-only scan changes nothing"
    list(read_log(tmp_path, after_lsn=0, repair=True))
    first_end = FILE_HEADER.size + RECORD_HEADER.size + len(b"first") + 4
    assert path.stat().st_size == first_end
    wal = WalWriter(tmp_path, next_lsn=2, fsync=False)
    wal.sync_to(wal.append(1, b"again"))
    wal.close()
    assert [r.payload for r in read_log(tmp_path, after_lsn=0, repair=False)] == [b"first", b"again"]


def test_garbage_after_the_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    write_records(tmp_path, [b"ok"]).close()
    path = list_wal_files(tmp_path)[-1]
    with open(path, "ab") as handle:
        handle.write(b"\x00" * 17)
    scan = scan_file(path, is_last=True)
    assert scan.torn and scan.corruption is None
    assert [r.payload for r in scan.records] == [b"ok"]


@pytest.mark.parametrize("where", ["payload", "header"])
def test_a_flipped_byte_before_the_tail_is_corruption_naming_file_and_offset(tmp_path: Path, where: str) -> None:
    write_records(tmp_path, [b"one" * 10, b"two" * 10, b"three" * 10]).close()
    path = list_wal_files(tmp_path)[-1]
    data = bytearray(path.read_bytes())
    second = FILE_HEADER.size + RECORD_HEADER.size + 30 + 4
    flip_at = second + (RECORD_HEADER.size + 5 if where == "payload" else 5)
    data[flip_at] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptionError) as caught:
        list(read_log(tmp_path, after_lsn=0, repair=True))
    assert caught.value.details["file"] == str(path)
    assert caught.value.details["offset"] == second
    assert f"offset {second}" in str(caught.value)
    assert path.read_bytes() == bytes(data), "corruption is never 'repaired' silently"


def test_damage_in_an_older_file_is_corruption_even_at_its_end(tmp_path: Path) -> None:
    wal = write_records(tmp_path, [b"a", b"b"])
    wal.rotate()
    wal.sync_to(wal.append(1, b"c"))
    wal.close()
    older = list_wal_files(tmp_path)[0]
    with open(older, "r+b") as handle:
        handle.truncate(older.stat().st_size - 2)
    with pytest.raises(CorruptionError, match=older.name):
        list(read_log(tmp_path, after_lsn=0, repair=True))


def test_drop_files_through_a_checkpoint(tmp_path: Path) -> None:
    wal = write_records(tmp_path, [b"a", b"b"])
    last = wal.rotate()
    wal.sync_to(wal.append(1, b"c"))
    wal.drop_files_through(last)
    wal.close()
    assert len(list_wal_files(tmp_path)) == 1
    assert [r.payload for r in read_log(tmp_path, after_lsn=0, repair=False)] == [b"c"]


def test_group_commit_from_many_threads_keeps_every_record(tmp_path: Path) -> None:
    wal = WalWriter(tmp_path, next_lsn=1, fsync=True)
    lock = threading.Lock()

    def writer(worker: int) -> None:
        for i in range(50):
            with lock:  # callers serialise append; sync_to runs concurrently
                lsn = wal.append(1, f"{worker}:{i}".encode())
            wal.sync_to(lsn)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wal.close()
    records = list(read_log(tmp_path, after_lsn=0, repair=False))
    assert [r.lsn for r in records] == list(range(1, 401))
    assert sorted(r.payload for r in records) == sorted(f"{w}:{i}".encode() for w in range(8) for i in range(50))


def test_rotating_a_reopened_log_whose_last_file_has_no_record(tmp_path: Path) -> None:
    # A crash right after a rotation leaves a last file with only its header,
    # named for the next LSN; the reopened writer appends there, and the next
    # rotation must not try to create a file of the same name.
    wal = write_records(tmp_path, [b"a", b"b"])
    assert wal.rotate() == 2
    wal.close()
    wal = WalWriter(tmp_path, next_lsn=3, fsync=True)
    assert wal.rotate() == 2
    wal.sync_to(wal.append(1, b"c"))
    assert wal.rotate() == 3
    wal.sync_to(wal.append(1, b"d"))
    wal.close()
    assert [r.payload for r in read_log(tmp_path, after_lsn=0, repair=False)] == [b"a", b"b", b"c", b"d"]
    assert [p.stem.lstrip("0") for p in list_wal_files(tmp_path)] == ["1", "3", "4"]


def test_a_new_log_folder_is_made_durable_in_its_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    original = durable_module.fsync_path

    def record_and_sync(folder: Path) -> None:
        synced.append(folder)
        original(folder)

    monkeypatch.setattr(durable_module, "fsync_path", record_and_sync)
    folder = tmp_path / "collections" / "7" / "wal"
    WalWriter(folder, next_lsn=1, fsync=True).close()
    assert synced[:3] == [tmp_path, tmp_path / "collections", tmp_path / "collections" / "7"]


def test_an_appended_record_is_fsynced_without_waiting_for_sync_to(tmp_path: Path) -> None:
    wal = WalWriter(tmp_path, next_lsn=1, fsync=True)
    lsn = wal.append(1, b"x" * 1000)
    deadline = time.monotonic() + 30
    while wal.synced_lsn < lsn and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wal.synced_lsn == lsn, "the early sync made the record durable on its own"
    wal.sync_to(lsn)
    wal.close()


def test_a_failed_fsync_fails_every_later_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = WalWriter(tmp_path, next_lsn=1, fsync=True)
    wal.sync_to(wal.append(1, b"before"))
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(wal_module, "_sync_file", failing_fsync)
    lsn = wal.append(1, b"lost?")
    with pytest.raises(StorageError, match=r"fsync of the WAL .* failed"):
        wal.sync_to(lsn)
    # The kernel may have dropped the dirty pages: a later fsync that works proves nothing.
    monkeypatch.undo()
    with pytest.raises(StorageError, match="Reopen the data directory"):
        wal.sync_to(wal.append(1, b"after"))
    wal.close()
