"""The write-ahead log of one collection: checksummed records, group commit, rotation.

A log is a folder of files ``<first_lsn>.wal``. Each file starts with a header
(magic, format version, first LSN) and holds records::

    magic u32 | payload length u32 | lsn u64 | kind u8 | 3 pad | header crc32 u32
    payload bytes | payload crc32 u32

Only the last record of the last file can be torn by a crash (the log is
append-only), so a damaged record there is cut on open; a damaged record with
valid data after it, or in an older file, is corruption and raises
``CorruptionError`` naming the file and offset. The header has its own checksum
so that a flipped length byte cannot make us cut good records as a "torn tail".
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from embedb.errors import CorruptionError, StorageError
from embedb.storage.durable import fsync_path, make_dirs_durable

WAL_FORMAT_VERSION = 1
FILE_MAGIC = b"EMBEDWAL"
FILE_HEADER = struct.Struct("<8sIQI")  # magic, format version, first lsn, crc of the first 20 bytes
RECORD_MAGIC = 0xE3B0D1A1
RECORD_HEADER = struct.Struct("<IIQB3xI")  # magic, payload length, lsn, kind, header crc
CRC = struct.Struct("<I")
MAX_RECORD_BYTES = 1 << 31


@dataclass(frozen=True)
class WalRecord:
    lsn: int
    kind: int
    payload: bytes
    file: Path
    offset: int


@dataclass
class WalScan:
    """What reading one log file found."""

    records: list[WalRecord]
    valid_end: int  # byte offset just past the last good record
    torn: bool  # a damaged last record (to be cut)
    corruption: CorruptionError | None  # damage followed by good data


def _file_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}.wal"


def list_wal_files(folder: Path) -> list[Path]:
    """The log files of a folder, oldest first."""
    if not folder.exists():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".wal" and p.stem.isdigit())


def _encode_header(lsn: int, kind: int, length: int) -> bytes:
    head = struct.pack("<IIQB3x", RECORD_MAGIC, length, lsn, kind)
    return head + CRC.pack(zlib.crc32(head))


def _decode_header(buf: bytes | memoryview, pos: int) -> tuple[int, int, int] | None:
    """Return (length, lsn, kind) of a record header at ``pos``, or None if it is not valid."""
    magic, length, lsn, kind, crc = RECORD_HEADER.unpack_from(buf, pos)
    if magic != RECORD_MAGIC or zlib.crc32(bytes(buf[pos : pos + 20])) != crc:
        return None
    return length, lsn, kind


def _valid_record_after(data: bytes, start: int) -> bool:
    """True if a complete, checksummed record starts anywhere at or after ``start``."""
    magic_bytes = struct.pack("<I", RECORD_MAGIC)
    pos = data.find(magic_bytes, start)
    while pos != -1:
        if pos + RECORD_HEADER.size <= len(data):
            header = _decode_header(data, pos)
            if header is not None:
                length = header[0]
                end = pos + RECORD_HEADER.size + length + CRC.size
                if end <= len(data):
                    body = data[pos + RECORD_HEADER.size : pos + RECORD_HEADER.size + length]
                    if zlib.crc32(body) == CRC.unpack_from(data, end - CRC.size)[0]:
                        return True
        pos = data.find(magic_bytes, pos + 1)
    return False


def scan_file(path: Path, *, is_last: bool) -> WalScan:
    """Read every good record of a log file; classify damage as torn tail or corruption."""
    data = path.read_bytes()
    if len(data) < FILE_HEADER.size:
        if is_last:
            return WalScan([], 0, torn=True, corruption=None)
        return WalScan([], 0, False, CorruptionError(f"{path}: file header is truncated", file=str(path), offset=0))
    magic, version, _first_lsn, crc = FILE_HEADER.unpack_from(data, 0)
    if magic != FILE_MAGIC or zlib.crc32(data[:20]) != crc:
        return WalScan([], 0, False, CorruptionError(f"{path}: bad file header at offset 0", file=str(path), offset=0))
    if version > WAL_FORMAT_VERSION:
        raise StorageError(f"{path}: WAL format {version} is newer than this EmbeDB understands ({WAL_FORMAT_VERSION})")
    records: list[WalRecord] = []
    pos = FILE_HEADER.size
    size = len(data)
    while pos < size:
        damage: str | None = None
        if pos + RECORD_HEADER.size > size:
            damage = "truncated record header"
        else:
            header = _decode_header(data, pos)
            if header is None:
                damage = "bad record header checksum"
            else:
                length, lsn, kind = header
                body_start = pos + RECORD_HEADER.size
                end = body_start + length + CRC.size
                if end > size:
                    damage = "record runs past the end of the file"
                else:
                    body = data[body_start : body_start + length]
                    if zlib.crc32(body) != CRC.unpack_from(data, end - CRC.size)[0]:
                        damage = "bad record payload checksum"
                    else:
                        records.append(WalRecord(lsn, kind, body, path, pos))
                        pos = end
                        continue
        if is_last and not _valid_record_after(data, pos + 1):
            return WalScan(records, pos, torn=True, corruption=None)
        error = CorruptionError(f"{path}: {damage} at offset {pos}", file=str(path), offset=pos)
        return WalScan(records, pos, torn=False, corruption=error)
    return WalScan(records, pos, torn=False, corruption=None)


def read_log(folder: Path, *, after_lsn: int, repair: bool) -> Iterator[WalRecord]:
    """Yield records with ``lsn > after_lsn`` from every file, oldest first.

    A torn tail of the last file is cut when ``repair`` is true (a writer's open)
    and skipped otherwise (a read-only open). Corruption raises ``CorruptionError``.
    """
    files = list_wal_files(folder)
    for index, path in enumerate(files):
        if index + 1 < len(files) and int(files[index + 1].stem) <= after_lsn + 1:
            continue  # every record in this file is older than the checkpoint
        scan = scan_file(path, is_last=index == len(files) - 1)
        if scan.corruption is not None:
            raise scan.corruption
        for record in scan.records:
            if record.lsn > after_lsn:
                yield record
        if scan.torn and repair:
            with open(path, "r+b") as handle:
                handle.truncate(max(scan.valid_end, FILE_HEADER.size) if scan.valid_end else 0)
                handle.flush()
                os.fsync(handle.fileno())


class WalWriter:
    """Appends records to the newest log file; fsyncs with group commit.

    ``append`` only writes to the OS; ``sync_to(lsn)`` makes every record up to
    ``lsn`` durable. Threads that call ``sync_to`` while another is in fsync
    wait for it and are usually covered by it, so N concurrent writers cost far
    fewer than N fsyncs. With ``fsync`` a background thread starts the fsync as
    soon as a record is written, so the disk works while the caller applies the
    record in memory; ``sync_to`` then waits for it (or leads one itself).
    ``append`` is not thread-safe on its own: callers serialise it (the
    collection's write lock does).

    A failed fsync is final: the kernel may have dropped the dirty pages, so a
    later fsync that succeeds proves nothing. Every ``sync_to`` from then on
    raises ``StorageError``; reopening the directory replays what is on disk.
    """

    def __init__(self, folder: Path, *, next_lsn: int, fsync: bool) -> None:
        self.folder = folder
        self.fsync = fsync
        self.next_lsn = next_lsn
        make_dirs_durable(folder)
        self._fd = -1
        self._path: Path | None = None
        self._bytes_in_log = sum(p.stat().st_size for p in list_wal_files(folder))
        self._written_lsn = next_lsn - 1
        self._synced_lsn = next_lsn - 1
        self._syncing = False
        self._sync_failure: OSError | None = None
        self._closing = False
        self._cv = threading.Condition()
        files = list_wal_files(folder)
        if files and files[-1].stat().st_size >= FILE_HEADER.size:
            self._fd = os.open(files[-1], os.O_WRONLY | os.O_APPEND)
            self._path = files[-1]
        else:
            for empty in files[-1:]:
                empty.unlink()
            self._open_new_file()
        self._early_sync: threading.Thread | None = None  # started by the first append

    @property
    def bytes_in_log(self) -> int:
        return self._bytes_in_log

    def _open_new_file(self) -> None:
        path = self.folder / _file_name(self.next_lsn)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        head = struct.pack("<8sIQ", FILE_MAGIC, WAL_FORMAT_VERSION, self.next_lsn)
        _write_all(fd, head + CRC.pack(zlib.crc32(head)))
        os.fsync(fd)
        fsync_path(self.folder)
        self._fd, self._path = fd, path
        self._bytes_in_log += FILE_HEADER.size

    def append(self, kind: int, payload: bytes | memoryview) -> int:
        """Write one record; return its LSN. Durable only after ``sync_to``."""
        if len(payload) >= MAX_RECORD_BYTES:
            raise StorageError(f"a WAL record of {len(payload)} bytes is too large; write smaller batches")
        lsn = self.next_lsn
        header = _encode_header(lsn, kind, len(payload))
        crc = CRC.pack(zlib.crc32(payload))
        _write_all(self._fd, header, payload, crc)
        self.next_lsn = lsn + 1
        self._bytes_in_log += RECORD_HEADER.size + len(payload) + CRC.size
        with self._cv:
            self._written_lsn = lsn
            if self.fsync and self._early_sync is None and not self._closing:
                self._early_sync = threading.Thread(target=self._early_sync_loop, name="embedb-wal-sync", daemon=True)
                self._early_sync.start()
            self._cv.notify_all()  # wakes the early sync
        return lsn

    @property
    def synced_lsn(self) -> int:
        """The last LSN known to be on stable storage."""
        with self._cv:
            return self._synced_lsn

    def sync_to(self, lsn: int) -> None:
        """Block until every record up to ``lsn`` is on stable storage (no-op when relaxed).

        Raises ``StorageError`` if an fsync of this log ever failed.
        """
        if not self.fsync:
            return
        with self._cv:
            while self._synced_lsn < lsn:
                self._check_sync_failure()
                if self._syncing:
                    self._cv.wait()
                    continue
                self._fsync_locked()
            self._check_sync_failure()

    def _check_sync_failure(self) -> None:
        if self._sync_failure is not None:
            raise StorageError(
                f"fsync of the WAL in {self.folder} failed ({self._sync_failure}); writes since the last "
                "successful one may not be durable. Reopen the data directory."
            ) from self._sync_failure

    def _fsync_locked(self) -> None:
        """One fsync covering every record written so far; called and returns with ``_cv`` held."""
        self._syncing = True
        target, fd = self._written_lsn, self._fd
        self._cv.release()
        try:
            _sync_file(fd)
        except OSError as error:
            failure: OSError | None = error
        else:
            failure = None
        finally:
            self._cv.acquire()
            self._syncing = False
            self._cv.notify_all()
        if failure is not None:
            self._sync_failure = self._sync_failure or failure
        else:
            self._synced_lsn = max(self._synced_lsn, target)

    def _early_sync_loop(self) -> None:
        with self._cv:
            while not self._closing and self._sync_failure is None:
                if self._written_lsn > self._synced_lsn and not self._syncing:
                    self._fsync_locked()
                else:
                    self._cv.wait()

    def rotate(self) -> int:
        """Start a new log file; return the LSN of the last record in the old ones.

        Callers hold the write lock, so no append runs concurrently.
        """
        last = self.next_lsn - 1
        with self._cv:
            while self._syncing:
                self._cv.wait()
            self._fsync_locked()  # callers hold the write lock: this covers every record
            self._check_sync_failure()
            if self._path is not None and int(self._path.stem) == self.next_lsn:
                # The current file holds no record yet (a crash right after a
                # rotation leaves such a file): it already starts after ``last``,
                # and a new one would need its very name.
                return last
            old_fd = self._fd
            self._open_new_file()
            os.close(old_fd)
        return last

    def drop_files_through(self, lsn: int) -> None:
        """Delete log files whose records are all at or before ``lsn`` (a checkpoint)."""
        files = list_wal_files(self.folder)
        for index, path in enumerate(files[:-1]):
            if int(files[index + 1].stem) - 1 <= lsn:
                self._bytes_in_log -= path.stat().st_size
                path.unlink()
        fsync_path(self.folder)

    def close(self) -> None:
        with self._cv:
            self._closing = True
            self._cv.notify_all()
            early_sync = self._early_sync
        if early_sync is not None:
            early_sync.join()
        with self._cv:
            while self._syncing:
                self._cv.wait()
            if self._fd >= 0:
                if self.fsync and self._sync_failure is None:
                    os.fsync(self._fd)
                    # Everything written is on disk now: a writer still waiting in sync_to returns.
                    self._synced_lsn = max(self._synced_lsn, self._written_lsn)
                os.close(self._fd)
                self._fd = -1


def _sync_file(fd: int) -> None:
    """fsync a log file (a module function, so a test can make it fail)."""
    os.fsync(fd)


def _write_all(fd: int, *parts: bytes | memoryview) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            written = os.write(fd, view)
            view = view[written:]
