"""The operation logs of a cluster, kept in its object store.

A log is a folder of numbered records (``{folder}/{seq:012d}``), each claimed
with ``ObjectStore.put_new``: a record exists once, at one position, or not at
all, so the store's own atomic create orders the writers — no consensus of
ours. Two kinds live in a cluster:

- the **catalog log** (``catalog/``): every decision — DDL, indexes, models,
  embedding versions, promotions, experiments — in the order the router took
  them; every shard applies all of it;
- one **shard log** per shard (``shards/{i}/log/``): the writes (insert,
  upsert, delete) of that shard's rows, each naming the catalog position it
  was written after, so a replay puts writes and decisions back in one order.

A record is the operation's name and its arguments in the wire encoding the
HTTP protocol uses (JSON, NumPy arrays packed), never pickled; a user's dict
that looks like a packed array is stored as a literal, so it reads back as itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedb.distributed.object_store import ObjectStore
from embedb.errors import CorruptionError, UnavailableError
from embedb.protocol import wire

RECORD_FORMAT = 1
# How many times an append looks for the next free position when other writers keep taking it.
MAX_APPEND_ATTEMPTS = 64


@dataclass(frozen=True)
class LogRecord:
    """One logged operation: its position, the operation and its arguments, and the catalog position it followed."""

    seq: int
    operation: str
    arguments: dict[str, Any]
    catalog_seq: int
    request: str | None = None  # the router's name for a write, so a retried write applies once


def encode_record(operation: str, arguments: dict[str, Any], catalog_seq: int, request: str | None) -> bytes:
    return wire.dumps(
        {
            "format": RECORD_FORMAT,
            "operation": operation,
            "arguments": {name: wire.to_wire(_escaped(value)) for name, value in arguments.items()},
            "catalog_seq": catalog_seq,
            "request": request,
        }
    )


def decode_record(seq: int, body: bytes) -> LogRecord:
    try:
        payload = wire.loads(body)
        if payload.get("format") != RECORD_FORMAT:
            raise CorruptionError(f"log record {seq} has format {payload.get('format')!r}, expected {RECORD_FORMAT}")
        return LogRecord(
            seq,
            payload["operation"],
            _restored(payload["arguments"]),
            int(payload["catalog_seq"]),
            payload.get("request"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CorruptionError(f"log record {seq} cannot be read: {error}") from error


# A user's dict that looks like a packed array (or like this wrapper) is stored inside it, so a replay reads it back
# as the dict it was and never unpacks it: only NumPy arrays the write carried become packed arrays.
LITERAL = "embedb:literal"


def _escaped(value: Any) -> Any:
    """``value`` with every dict a reader could take for a packed array wrapped as a literal."""
    if isinstance(value, dict):
        inner = {key: _escaped(item) for key, item in value.items()}
        return {LITERAL: inner} if wire.is_packed(value) or LITERAL in value else inner
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, (dict, list, tuple)) for item in value):
            return [_escaped(item) for item in value]
        return value
    return value


def _restored(value: Any) -> Any:
    """What ``_escaped`` (then the wire encoding) stored: packed arrays unpacked, literal dicts as they were."""
    if isinstance(value, dict):
        if len(value) == 1 and LITERAL in value:
            return {key: _restored(item) for key, item in value[LITERAL].items()}
        if wire.is_packed(value):
            return wire.unpack_array(value)
        return {key: _restored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restored(item) for item in value] if any(isinstance(item, (dict, list)) for item in value) else value
    return value


class OperationLog:
    """A numbered, append-only log of operations in one folder of an object store. Not thread-safe: one owner appends.

    Collected records (``delete_before``) leave their positions free again, so a writer that took a position
    from an old listing could re-create one: no reader would ever apply it. The collector therefore writes the
    highest position it deletes (the log's floor, ``{folder}.floor``) before deleting, and an append to a log
    with several writers (``shared``: the catalog, which every router appends to) reads the floor after its
    create and, landing at or below it, takes that record back and appends again at the end.
    """

    def __init__(self, store: ObjectStore, folder: str, *, shared: bool = False) -> None:
        self.store = store
        self.folder = folder.rstrip("/") + "/"
        self.shared = shared
        self._next: int | None = None

    def key(self, seq: int) -> str:
        return f"{self.folder}{seq:012d}"

    def last_seq(self) -> int:
        """The position of the newest record (0 for an empty log)."""
        keys = self.store.keys(self.folder)
        return int(keys[-1][len(self.folder) :]) if keys else 0

    def append(
        self, operation: str, arguments: dict[str, Any], *, catalog_seq: int = 0, request: str | None = None
    ) -> int:
        """Store a record at the next free position and return it; durable when this returns."""
        return self.append_record(operation, arguments, catalog_seq=catalog_seq, request=request)[0]

    def append_record(
        self, operation: str, arguments: dict[str, Any], *, catalog_seq: int = 0, request: str | None = None
    ) -> tuple[int, LogRecord]:
        """``append``, and the record as a reader will decode it."""
        for _ in range(MAX_APPEND_ATTEMPTS):
            appended = self.try_append(operation, arguments, catalog_seq=catalog_seq, request=request)
            if appended is not None:
                return appended
        raise UnavailableError(f"could not append to the log {self.store.url}{self.folder}: every position was taken")

    def try_append(
        self, operation: str, arguments: dict[str, Any], *, catalog_seq: int = 0, request: str | None = None
    ) -> tuple[int, LogRecord] | None:
        """One try of ``append_record`` at the position after the newest this writer knows; None when that
        position was taken (by another writer, or by an earlier try whose answer was lost)."""
        body = encode_record(operation, arguments, catalog_seq, request)
        seq = self._next if self._next is not None else self.last_seq() + 1
        if not self.store.put_new(self.key(seq), body):
            self._next = None  # look again next time
            return None
        if self.shared and seq <= self.floor():  # a collected position: no reader is that far behind
            self.store.delete([self.key(seq)])
            self._next = None
            return None
        self._next = seq + 1
        return seq, decode_record(seq, body)

    def read(self, *, after: int, upto: int | None = None) -> list[LogRecord]:
        """The records after position ``after`` (up to ``upto``), in order.

        Raises ``CorruptionError`` when a record after ``after`` is missing (collected by ``delete_before``):
        the reader is behind the snapshots, and must restore a newer one.
        """
        records: list[LogRecord] = []
        for key in self.store.keys(self.folder, after=self.key(after)):
            seq = int(key[len(self.folder) :])
            if seq != (records[-1].seq if records else after) + 1:  # before ``upto``: a gap at the end is one too
                raise CorruptionError(
                    f"the log {self.store.url}{self.folder} has no record {after + len(records) + 1}: records before "
                    "a shard's older snapshot are collected; restore the newest snapshot"
                )
            if upto is not None and seq > upto:
                break
            body = self.store.get(key)
            if body is None:
                raise CorruptionError(f"log record {key} was listed but cannot be read")
            records.append(decode_record(seq, body))
        return records

    def delete_before(self, seq: int) -> int:
        """Collect the records before position ``seq`` (never the newest one: appends find the next position
        from it), after raising the floor to the highest of them; return how many were deleted."""
        keys = self.store.keys(self.folder)
        doomed = [key for key in keys[:-1] if int(key[len(self.folder) :]) < seq]
        if doomed:
            highest = int(doomed[-1][len(self.folder) :])
            if highest > self.floor():
                self.store.put(self._floor_key, str(highest).encode())
            self.store.delete(doomed)
        return len(doomed)

    def floor(self) -> int:
        """The highest position collected so far (0: none)."""
        body = self.store.get(self._floor_key)
        return int(body) if body else 0

    @property
    def _floor_key(self) -> str:
        return self.folder.rstrip("/") + ".floor"
