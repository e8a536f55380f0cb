"""A cluster under continuous writes and searches loses a shard's process, then a whole node: nothing acknowledged is lost.

A real local multi-node Ray cluster (``ray.cluster_utils.Cluster``: a head and
two worker nodes, separate raylets on this machine), three shard actors spread
over the nodes, and their logs and snapshots in a real S3-compatible server on
loopback. A writer thread inserts batches and keeps the keys of every batch
the cluster acknowledged; a reader thread searches all along and records when
searches failed (``UnavailableError``, retriable) and when they answered again.
Then the test kills -9 a shard's worker process, and later removes the node
that hosts another shard. Every acknowledged key must be readable afterwards,
the killed shards must come back in new processes (rebuilt from the object
store), and searches must answer again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.s3_server import S3Server, start_s3_server

from embedb.distributed import RayBackend
from embedb.errors import UnavailableError

pytestmark = pytest.mark.slow

DIMENSION = 8
BATCH = 20
RECOVERY_LIMIT_S = 120.0


@dataclass
class Load:
    """Writes and searches running against the cluster until ``stop`` is set."""

    db: RayBackend
    collection: str
    stop: threading.Event = field(default_factory=threading.Event)
    acknowledged: list[int] = field(default_factory=list)
    write_errors: list[str] = field(default_factory=list)
    search_failures: list[float] = field(default_factory=list)
    search_answers: list[float] = field(default_factory=list)
    slowest_search_s: float = 0.0
    threads: list[threading.Thread] = field(default_factory=list)
    crashes: list[BaseException] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._guarded, args=(run,)) for run in (self._write, self._search)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=RECOVERY_LIMIT_S)

    def _guarded(self, run: Callable[[], None]) -> None:
        try:
            run()
        except BaseException as error:
            self.crashes.append(error)
            self.stop.set()

    def _write(self) -> None:
        rng = np.random.default_rng(7)
        next_key = 1
        while not self.stop.is_set():
            keys = list(range(next_key, next_key + BATCH))
            next_key += BATCH
            rows = [{"id": key, "vector": rng.random(DIMENSION).tolist()} for key in keys]
            try:
                self.db.insert(self.collection, rows)
            except UnavailableError as error:  # not acknowledged: the keys may or may not be there
                self.write_errors.append(str(error))
                continue
            self.acknowledged.extend(keys)

    def _search(self) -> None:
        query = np.ones((1, DIMENSION), dtype=np.float32)
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                self.db.search(self.collection, query, limit=3)
                self.search_answers.append(time.monotonic())
                self.slowest_search_s = max(self.slowest_search_s, time.monotonic() - began)
            except UnavailableError:
                self.search_failures.append(time.monotonic())
            time.sleep(0.01)

    def outage_after(self, moment: float) -> float:
        """Seconds from ``moment`` until searches answered again after their last failure (0 if none failed)."""
        deadline = time.monotonic() + RECOVERY_LIMIT_S
        while time.monotonic() < deadline and not self.crashes:
            failures = [t for t in self.search_failures if t > moment]
            start = max(failures, default=moment)
            answers = [t for t in self.search_answers if t > start]
            if len(answers) >= 5:  # answering steadily again
                return answers[0] - moment if failures else 0.0
            time.sleep(0.05)
        assert not self.crashes, f"the load stopped on {self.crashes[0]!r}"
        raise AssertionError(f"searches did not answer again within {RECOVERY_LIMIT_S}s")


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture
def cluster(s3_server: S3Server) -> Iterator[object]:
    """A fresh three-node cluster per test (each removes a node); started after the S3 server, so its
    raylets (and the shards) inherit the S3 credentials and endpoint."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # a one-machine Ray left by another suite: this test needs a multi-node one
        ray.shutdown()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, namespace="embedb-failures", log_to_driver=False)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def _primaries(db: RayBackend) -> list[dict[str, Any]]:
    return [status for status in db.shard_status() if status["replica"] == 0]


def _wait_until_back(db: RayBackend, shard: int, old_pid: int, replica: int = 0) -> dict[str, Any]:
    deadline = time.monotonic() + RECOVERY_LIMIT_S
    while time.monotonic() < deadline:
        try:
            status = next(s for s in db.shard_status() if s["shard"] == shard and s["replica"] == replica)
            if status["pid"] != old_pid:
                return status
        except Exception:
            pass
        time.sleep(0.2)
    raise AssertionError(f"shard {shard} did not come back within {RECOVERY_LIMIT_S}s")


@pytest.mark.parametrize("replicas", [1, 2])
def test_kill_9_of_a_shard_then_loss_of_a_node_lose_no_acknowledged_write(
    cluster: object, s3_server: S3Server, tmp_path: Path, replicas: int
) -> None:
    """With one actor per shard searches fail (retriably) while it restarts; with two, they keep answering."""
    db = RayBackend(
        storage=s3_server.storage("failures"),
        endpoint_url=s3_server.endpoint_url,
        shards=3,
        replicas=replicas,
        name=f"failures-{replicas}",
        snapshot_every=25,
        workdir=str(tmp_path),
    )
    try:
        db.create_collection("docs", dimension=DIMENSION, metric_type="L2")
        load = Load(db, "docs")
        load.start()
        try:
            while len(load.acknowledged) < 400:  # enough writes that every shard has a snapshot and a log after it
                time.sleep(0.1)

            # 1. kill -9 the worker process of shard 1
            before = _primaries(db)
            killed_at = time.monotonic()
            os.kill(int(before[1]["pid"]), signal.SIGKILL)
            after_kill = _wait_until_back(db, 1, int(before[1]["pid"]))
            shard_back_in = time.monotonic() - killed_at
            outage = load.outage_after(killed_at)
            # the new process rebuilt the shard from its snapshot and log in the object store, up to where it was
            assert int(after_kill["data_seq"]) >= int(before[1]["data_seq"]) > 0
            written_before_node_loss = len(load.acknowledged)
            while len(load.acknowledged) < written_before_node_loss + 200:
                time.sleep(0.1)

            # 2. remove the worker node that hosts a shard (its raylet and every worker on it die)
            import ray

            head = ray.get_runtime_context().get_node_id()
            status = db.shard_status()
            nodes_of: dict[int, set[str]] = {}
            for s in status:
                nodes_of.setdefault(int(s["shard"]), set()).add(s["node_id"])
            # a shard's replicas run on different nodes, so losing one node leaves every shard a replica
            assert all(len(nodes) == replicas for nodes in nodes_of.values()), nodes_of
            victim = next(s for s in status if s["node_id"] != head)  # a worker node that hosts a shard's actor
            node = next(n for n in cluster.worker_nodes if n.node_id == victim["node_id"])  # type: ignore[attr-defined]
            lost_at = time.monotonic()
            cluster.remove_node(node, allow_graceful=False)  # type: ignore[attr-defined]
            moved = _wait_until_back(db, int(victim["shard"]), int(victim["pid"]), int(victim["replica"]))
            node_shard_back_in = time.monotonic() - lost_at
            node_outage = load.outage_after(lost_at)
            assert moved["node_id"] != victim["node_id"], "Ray placed the shard on a surviving node"
            written_after = len(load.acknowledged)
            while len(load.acknowledged) < written_after + 100:
                time.sleep(0.1)
        finally:
            load.finish()

        if replicas > 1:
            assert load.search_failures == [], "with a read replica per shard, searches keep answering"
        acknowledged = sorted(load.acknowledged)
        stored = db.query("docs", filter="", output_fields=["count(*)"])[0]["count(*)"]
        assert stored >= len(acknowledged)
        found = db.get("docs", acknowledged)
        missing = sorted(set(acknowledged) - {row["id"] for row in found})
        assert missing == [], f"{len(missing)} acknowledged rows were lost, first {missing[:5]}"
        print(
            f"\n{replicas} replica(s) per shard: acknowledged {len(acknowledged)} rows, none lost. kill -9 of a shard: back in a new process after "
            f"{shard_back_in:.2f}s, searches failing (retriable) for {outage:.2f}s. Loss of a node: shard back on "
            f"another node after {node_shard_back_in:.2f}s, searches failing for {node_outage:.2f}s. "
            f"{len(load.search_failures)} searches failed retriably in all, the slowest answered in "
            f"{load.slowest_search_s:.2f}s; "
            f"{len(load.write_errors)} write batches were not acknowledged"
        )
    finally:
        db.close()
