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


def test_a_decisions_outcome_survives_a_restart_from_the_snapshot_that_holds_it(tmp_path: Path) -> None:
    """A router waiting out the first shard's restart asks for its decision's outcome again: a shard rebuilt from a
    snapshot taken after the decision still answers it (a registered version), not None — the router would
    otherwise report a failure and its caller register the model a second time."""
    from tests.support.bound_collections import HASH_16
    from tests.support.server_process import TEST_EMBEDDERS

    register = _arguments(lambda db: db.register_model("m", HASH_16, alias="champion"))
    settings = Settings(allow_code_models=TEST_EMBEDDERS)

    def shard() -> ShardServer:
        return ShardServer(
            0, storage=str(tmp_path / "store"), settings=settings, workdir=str(tmp_path / "work"), snapshot_every=1
        )

    first = shard()
    catalog = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER)
    try:
        seq = catalog.append("register_model", register)
        registered = first.apply_catalog(seq)
        assert registered["version"] == 1
        assert first.checkpoint() is not None
    finally:
        first.stop()
    again = shard()
    try:
        assert again.replayed == 0, "rebuilt from the snapshot alone"
        assert again.apply_catalog(seq) == registered
    finally:
        again.stop()


class _Gone(Exception):
    """Ray's ``RayActorError`` in ``_FakeRay``: the actor's process is gone."""


class _FakeRay:
    exceptions = type("exceptions", (), {"RayActorError": _Gone})

    @staticmethod
    def get(future: Any) -> Any:
        if isinstance(future, Exception):
            raise future
        return future


class _Restarting:
    """An actor whose ``apply_catalog`` calls answer ``answers`` in turn (an exception: the process is gone)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    @property
    def apply_catalog(self) -> Any:
        def remote(seq: int) -> Any:
            self.calls += 1
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

        return type("method", (), {"remote": staticmethod(remote)})


def _shard_set(replicas: list[list[_Restarting]], write_retry_s: float) -> Any:
    from embedb.distributed.shard_set import ShardSet

    shards = object.__new__(ShardSet)
    shards._ray = _FakeRay()
    shards.replicas = replicas
    shards.write_retry_s = write_retry_s
    return shards


def test_a_decision_waits_out_the_first_shards_restart_for_its_outcome() -> None:
    import pytest

    from embedb.errors import UnavailableError

    first = _Restarting(_Gone("killed"), _Gone("restarting"), {"version": 1})
    other = _Restarting(None)
    assert _shard_set([[first], [other]], write_retry_s=30).apply_catalog(7) == {"version": 1}
    assert first.calls == 3 and other.calls == 1
    never = _Restarting(_Gone("killed"))
    with pytest.raises(UnavailableError, match="decision 7 is logged and will apply, but no replica of shard 0 came back"):
        _shard_set([[never], [other]], write_retry_s=0.3).apply_catalog(7)


def test_the_store_keeps_two_snapshots_and_the_logs_after_them_and_a_shard_still_comes_back(tmp_path: Path) -> None:
    """Collected after each snapshot: older manifests, contents no kept snapshot names, log records before the
    older kept snapshot (the catalog too, by the first shard). A rebuilt shard, and a replica that fell behind
    what was collected, still hold every row."""
    store = DirectoryStore(tmp_path / "store")
    catalog = OperationLog(store, CATALOG_FOLDER)
    primary = _shard(tmp_path, snapshot_every=3)
    replica = ShardServer(
        0, storage=str(tmp_path / "store"), settings=Settings(), workdir=str(tmp_path / "r"), replica=1
    )
    try:
        created = catalog.append("create_collection", CREATE)
        primary.apply_catalog(created)
        replica.apply_catalog(created)
        for key in range(40):
            row = {"id": key, "vector": [float(key), 1.0]}
            written = primary.write("insert", _arguments(lambda db, row=row: db.insert("a", [row])), f"r{key}")
            if key < 5:
                assert replica.follow(written.seq) == written.seq
            if key % 7 == 0:
                primary.apply_catalog(catalog.append("create_partition", _partition(f"p{key}")))
        assert len(store.keys("shards/0000/snapshot/")) == 2
        assert len(store.keys("shards/0000/log/")) <= 6, "records before the older kept snapshot are gone"
        assert len(store.keys(f"{CATALOG_FOLDER}/")) <= 4
        assert primary.collected > 0 and primary.status()["collected"] == primary.collected
        # the replica, told of nothing since key 4, is behind the collected log: it restarts from the newest snapshot
        assert replica.follow(written.seq) == written.seq
        assert replica.replayed < 10, "restored from the newest snapshot, not replayed from key 5 on"
        assert replica.backend.query("a", "", output_fields=["count(*)"])[0]["count(*)"] == 40
    finally:
        replica.stop()
        primary.backend.close()
    again = _shard(tmp_path)
    try:
        assert again.backend.query("a", "", output_fields=["count(*)"])[0]["count(*)"] == 40
        assert sorted(again.backend.list_partitions("a")) == sorted(["_default", *(f"p{k}" for k in range(0, 40, 7))])
    finally:
        again.stop()


def _partition(name: str) -> dict[str, Any]:
    return _arguments(lambda db: db.create_partition("a", name))


def test_a_replica_whose_restore_loses_the_race_with_collecting_restores_the_next_snapshot(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A replica behind the collected log restores the newest snapshot; the primary snapshots twice meanwhile
    (so collects the one being read): the replica meets a missing content, restores the next newest, serves."""
    primary = _shard(tmp_path, snapshot_every=1)
    replica = ShardServer(
        0, storage=str(tmp_path / "store"), settings=Settings(), workdir=str(tmp_path / "r"), replica=1
    )
    written: list[Any] = []

    def write() -> None:
        key = len(written)
        row = {"id": key, "vector": [float(key), 1.0]}
        written.append(primary.write("insert", _arguments(lambda db: db.insert("a", [row])), f"r{key}"))

    try:
        created = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER).append("create_collection", CREATE)
        primary.apply_catalog(created)
        replica.apply_catalog(created)
        for _ in range(8):
            write()
        stored_get = replica.store.get

        def get_while_the_primary_writes(key: str) -> bytes | None:
            if "/files/" in key and len(written) == 8:
                write()
                write()
            return stored_get(key)

        monkeypatch.setattr(replica.store, "get", get_while_the_primary_writes)
        assert replica.follow(written[7].seq) == written[-1].seq == 10
        assert replica.backend.query("a", "", output_fields=["count(*)"])[0]["count(*)"] == 10
    finally:
        replica.stop()
        primary.stop()


def test_a_shard_no_write_reaches_still_snapshots_from_its_decisions(tmp_path: Path) -> None:
    """Decisions count toward ``snapshot_every`` too: a shard holding no collection's rows still snapshots (and
    collects), so the catalog log does not grow without bound behind it."""
    shard = _shard(tmp_path, snapshot_every=2)
    try:
        catalog = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER)
        shard.apply_catalog(catalog.append("create_collection", CREATE))
        for name in ("p1", "p2", "p3", "p4", "p5"):
            shard.apply_catalog(catalog.append("create_partition", _partition(name)))
        assert len(shard.snapshots.keys()) == 2, "snapshots taken, the older ones collected"
        assert len(catalog.store.keys(f"{CATALOG_FOLDER}/")) < 6
    finally:
        shard.stop()


def test_a_filter_compiled_at_the_router_is_the_one_the_shard_evaluates(tmp_path: Path) -> None:
    """The router compiles a read's filter once and ships it; the shard evaluates that one (not its own compile)
    when it was compiled in the shard's own context, and compiles its own otherwise."""
    import dataclasses

    from embedb.distributed.shard_base import SHIPPED_FILTER
    from embedb.query import compile_filter

    shard = _shard(tmp_path)
    try:
        shard.apply_catalog(OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER).append("create_collection", CREATE))
        shard.write("insert", _arguments(lambda db: db.insert("a", [{"id": k, "vector": [1.0, k]} for k in range(9)])), "w")
        view = shard.collection_view("a")
        schema, context = view.schema, view.filter_context
        # a marked compile: the text says id < 8, what it evaluates is id < 2 — which one answers shows who compiled
        marked = dataclasses.replace(compile_filter("id < 2", schema, indexed=context[0]), expression="id < 8")
        query = _arguments(lambda db: db.query("a", "id < 8"))
        assert [row["id"] for row in shard.call("query", {**query, SHIPPED_FILTER: (context, marked)})] == [0, 1]
        other = _arguments(lambda db: db.query("a", "id < 8", timezone="Asia/Tokyo"))
        assert len(shard.call("query", {**other, SHIPPED_FILTER: (context, marked)})) == 8, "another zone: own compile"
    finally:
        shard.stop()


def test_a_shard_whose_first_restore_meets_a_collected_snapshot_starts_all_the_same(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """Ray does not restart an actor whose constructor raised: a restore that loses the race with the primary's
    collecting (a content deleted under it) is tried again from the then newest snapshot."""
    from embedb.distributed.snapshots import SnapshotStore
    from embedb.errors import DataError

    first = _shard(tmp_path, snapshot_every=1)
    first.apply_catalog(OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER).append("create_collection", CREATE))
    first.write("insert", _arguments(lambda db: db.insert("a", [{"id": 1, "vector": [1.0, 0.0]}])), "w")
    first.backend.close()
    restore, failures = SnapshotStore.restore, [DataError("the stored content of data/LOCK is missing")]

    def restore_losing_once(self: SnapshotStore, directory: Path) -> Any:
        if failures:
            raise failures.pop()
        return restore(self, directory)

    monkeypatch.setattr(SnapshotStore, "restore", restore_losing_once)
    again = _shard(tmp_path)
    try:
        assert not failures and again.backend.get("a", [1]) == [{"id": 1, "vector": [1.0, 0.0]}]
    finally:
        again.stop()


def test_a_primary_applies_the_records_another_writer_put_in_its_log_before_its_own(tmp_path: Path) -> None:
    """A position taken under a primary (a try of its own whose answer was lost, or a second writer) and records
    it never applied before its own: it applies the log in order, so it is what a replay of the log makes."""
    first, second = _shard(tmp_path), ShardServer(
        0, storage=str(tmp_path / "store"), settings=Settings(), workdir=str(tmp_path / "second")
    )
    try:
        created = OperationLog(DirectoryStore(tmp_path / "store"), CATALOG_FOLDER).append("create_collection", CREATE)
        first.apply_catalog(created)
        second.apply_catalog(created)
        for key, writer in enumerate([first, second, first, first, second]):  # second's positions are taken
            row = {"id": key, "vector": [1.0, float(key)]}
            writer.write("insert", _arguments(lambda db, row=row: db.insert("a", [row])), f"w{key}")
        assert [row["id"] for row in second.backend.query("a", "", limit=10)] == [0, 1, 2, 3, 4]
        assert [row["id"] for row in first.backend.query("a", "", limit=10)] == [0, 1, 2, 3], "4 is second's"
    finally:
        first.stop()
        second.stop()
    rebuilt = _shard(tmp_path)
    try:
        assert [row["id"] for row in rebuilt.backend.query("a", "", limit=10)] == [0, 1, 2, 3, 4]
    finally:
        rebuilt.stop()
