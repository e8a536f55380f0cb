"""A shard in this process (no Ray): what it answers a second router, and when it snapshots."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from embedb.client import Client
from embedb.config import Settings
from embedb.distributed.log import OperationLog
from embedb.distributed.object_store import DirectoryStore
from embedb.distributed.shard import CATALOG_FOLDER, ShardServer


class Arguments(Client):
    """What a router logs for a call: the operation's every argument (``arguments_of``), kept in ``last``."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    def close(self) -> None:
        pass

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        self.last = arguments


def _arguments(call: Any) -> dict[str, Any]:
    captured = Arguments()
    call(captured)
    return captured.last


CREATE = _arguments(lambda db: db.create_collection("a", dimension=2))


def _shard(tmp_path: Path, snapshot_every: int = 2000) -> ShardServer:
    return ShardServer(
        0,
        storage=str(tmp_path / "store"),
        settings=Settings(),
        workdir=str(tmp_path / "work"),
        snapshot_every=snapshot_every,
    )


def test_a_decision_applied_by_another_routers_call_still_answers_its_outcome(tmp_path: Path) -> None:
    """Routers of one name share the shard actors: the one that logged a decision may ask after the other's
    request applied it, and gets the decision's own outcome, not None."""
    shard = _shard(tmp_path)
    try:
        catalog = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER)
        first = catalog.append("create_collection", CREATE)
        second = catalog.append("create_collection", CREATE)
        refused = shard.apply_catalog(second)  # the other router's call applies both
        assert type(refused).__name__ == "Failed" and "already exists" in str(refused.error)
        assert shard.apply_catalog(first) is None  # create_collection answers None
        assert shard.apply_catalog(second) is refused, "asked again, the same outcome"
    finally:
        shard.stop()


def test_a_snapshot_waits_for_a_long_read_that_uses_the_engine_outside_the_lock(tmp_path: Path) -> None:
    shard = _shard(tmp_path, snapshot_every=1)
    try:
        catalog = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER)
        shard.apply_catalog(catalog.append("create_collection", CREATE))
        reading, release = threading.Event(), threading.Event()
        seen: list[list[str]] = []

        def long_read() -> None:
            with shard.outside_the_lock():
                reading.set()
                release.wait(10)
                seen.append(shard.backend.list_collections())  # the engine it started with is still open

        reader = threading.Thread(target=long_read)
        reader.start()
        assert reading.wait(10)
        written = shard.write("insert", _arguments(lambda db: db.insert("a", [{"id": 1, "vector": [1.0, 0.0]}])), "r1")
        assert written.seq == 1 and shard.records_since_snapshot >= 1, "the due snapshot is put off"
        snapshot: list[str | None] = []
        waiting = threading.Thread(target=lambda: snapshot.append(shard.checkpoint()))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and not snapshot, "an asked-for snapshot waits for the read"
        release.set()
        reader.join(10)
        waiting.join(10)
        assert seen == [["a"]] and snapshot[0] is not None and shard.records_since_snapshot == 0
    finally:
        shard.stop()


def test_a_write_retried_after_a_restart_from_the_snapshot_that_holds_it_applies_once(tmp_path: Path) -> None:
    """A snapshot taken by the write itself, then the actor dies before the router hears back: the router's retry
    (the same request id) reaches a shard rebuilt from that snapshot, with nothing after it in the log to replay."""
    shard = _shard(tmp_path, snapshot_every=1)
    catalog = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER)
    shard.apply_catalog(catalog.append("create_collection", CREATE))
    insert = _arguments(lambda db: db.insert("a", [{"id": 1, "vector": [1.0, 0.0]}]))
    first = shard.write("insert", insert, "request-1")
    assert shard.records_since_snapshot == 0, "the write took a snapshot"
    shard.backend.close()  # the actor is gone; a new one starts from the store
    again = _shard(tmp_path)
    try:
        assert again.replayed == 0, "nothing after the snapshot to replay"
        retried = again.write("insert", insert, "request-1")
        assert (retried.seq, retried.outcome) == (first.seq, first.outcome), "the first outcome, not a second insert"
        assert again.backend.get("a", [1]) == [{"id": 1, "vector": [1.0, 0.0]}]
    finally:
        again.stop()
