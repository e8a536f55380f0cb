"""Per-call cost of each way to reach EmbeDB, and Milvus Lite beside them, in one run.

Single-query search latency (top 10, one query vector per call, HNSW index on
sealed segments, COSINE) and bulk insert throughput, on the same random data,
through:

- ``embedb.connect(path)`` — the embedded contract (NumPy query in);
- ``embedb.milvus.MilvusClient(path)`` — pymilvus's API embedded (lists in,
  the thin native adapter EmbeDB ships);
- ``pymilvus → in-process gRPC`` — pymilvus's own ``MilvusClient`` against
  EmbeDB's gRPC service started in the same process (how Milvus Lite embeds
  itself): the alternative design for the embedded facade;
- ``REST`` — ``embedb.connect("http://...")`` against ``embedb serve``;
- ``gRPC`` — unmodified pymilvus against ``embedb serve --milvus-port``;
- ``Milvus Lite`` — pymilvus on a Milvus Lite file (``pip install milvus-lite``;
  skipped, and said so, when it is not installed).

Prints a table and writes ``benchmarks/results/milvus-protocols.json``.
Run: ``python benchmarks/milvus_protocols.py`` (about a minute);
``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

import embedb

RESULTS = Path(__file__).parent / "results" / "milvus-protocols.json"
NAME = "bench"
console = Console()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(path: Path) -> Iterator[tuple[str, str]]:
    """``embedb serve --no-auth --milvus-port`` on loopback; yields (REST URL, gRPC URI)."""
    http_port, grpc_port = free_port(), free_port()
    arguments = ["serve", str(path), "--no-auth", "--port", str(http_port), "--milvus-port", str(grpc_port), "--log-level", "warning"]
    process = subprocess.Popen([sys.executable, "-c", "from embedb.cli import main; main()", *arguments])
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("embedb serve did not start")
        yield url, f"http://127.0.0.1:{grpc_port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def timed_calls(call: Callable[[int], Any], count: int, warmup: int = 20) -> dict[str, float]:
    """Latency of ``count`` calls after ``warmup`` (microseconds: p50, p99, mean; calls per second)."""
    for i in range(warmup):
        call(i)
    seconds = []
    for i in range(count):
        start = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - start)
    values = np.asarray(seconds) * 1e6
    return {
        "p50_us": round(float(np.percentile(values, 50)), 1),
        "p99_us": round(float(np.percentile(values, 99)), 1),
        "mean_us": round(float(values.mean()), 1),
        "calls_per_s": round(float(1e6 / values.mean()), 1),
    }


def bulk_insert(insert: Callable[[np.ndarray, np.ndarray], Any], vectors: np.ndarray, batch: int) -> dict[str, float]:
    start = time.perf_counter()
    for at in range(0, len(vectors), batch):
        insert(np.arange(at, min(at + batch, len(vectors))), vectors[at : at + batch])
    seconds = time.perf_counter() - start
    return {"rows": len(vectors), "batch": batch, "seconds": round(seconds, 2), "rows_per_s": round(len(vectors) / seconds)}


def rows_of(keys: np.ndarray, vectors: np.ndarray) -> list[dict[str, Any]]:
    return [{"id": int(k), "vector": v.tolist()} for k, v in zip(keys, vectors, strict=True)]


def prepare_embedb(client: Any, vectors: np.ndarray) -> None:
    """A quick-setup collection with ``vectors``, sealed and indexed (HNSW)."""
    if client.has_collection(NAME):
        client.drop_collection(NAME)
    client.create_collection(NAME, dimension=vectors.shape[1])
    for at in range(0, len(vectors), 10_000):
        client.insert(NAME, {"id": np.arange(at, min(at + 10_000, len(vectors))), "vector": vectors[at : at + 10_000]})
    client.flush(NAME)
    client.wait_for_index(NAME, "vector", timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--insert-rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.queries, args.insert_rows = 2_000, 50, 5_000
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(args.rows, args.dim)).astype(np.float32)
    queries = rng.normal(size=(args.queries + 20, args.dim)).astype(np.float32)
    query_lists = [q.tolist() for q in queries]
    inserts = rng.normal(size=(args.insert_rows, args.dim)).astype(np.float32)
    searches: dict[str, dict[str, float]] = {}
    bulk: dict[str, dict[str, float]] = {}
    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="embedb-milvus-bench-"))

    from pymilvus import MilvusClient as PyMilvusClient

    from embedb.milvus import MilvusClient as EmbeddedMilvusClient
    from embedb.server.milvus import start_milvus_server

    def pymilvus_search(client: Any) -> Callable[[int], Any]:
        return lambda i: client.search(NAME, [query_lists[i]], limit=10)

    def pymilvus_insert(client: Any, name: str) -> Callable[[np.ndarray, np.ndarray], Any]:
        return lambda keys, block: client.insert(name, rows_of(keys, block))

    # embedded: the contract, and pymilvus's API over it
    with embedb.connect(work / "embedded") as db:
        prepare_embedb(db, vectors)
        searches["embedded (embedb.connect)"] = timed_calls(lambda i: db.search(NAME, queries[i], limit=10), args.queries)
    facade = EmbeddedMilvusClient(str(work / "embedded"))
    searches["embedded (embedb.milvus.MilvusClient)"] = timed_calls(pymilvus_search(facade), args.queries)
    facade.close()

    # pymilvus over an in-process gRPC server: what the embedded facade would cost built as Milvus Lite is
    from embedb.databases import Databases

    with embedb.connect(work / "embedded") as db:
        in_process = start_milvus_server(Databases(db, None, lambda _: embedb.connect()), host="127.0.0.1", port=0, tokens=None)
        client = PyMilvusClient(uri=f"http://127.0.0.1:{in_process.port}")
        searches["pymilvus → in-process gRPC"] = timed_calls(pymilvus_search(client), args.queries)
        client.close()
        in_process.stop(1)

    with embedb.connect(work / "bulk-embedded") as db:
        db.create_collection(NAME, dimension=args.dim)
        bulk["embedded (embedb.connect, columns)"] = bulk_insert(
            lambda keys, block: db.insert(NAME, {"id": keys, "vector": block}), inserts, args.batch
        )

    with server(work / "served") as (url, uri):
        with embedb.connect(url) as rest:
            prepare_embedb(rest, vectors)
            searches["REST (embedb.connect(url))"] = timed_calls(lambda i: rest.search(NAME, queries[i], limit=10), args.queries)
            rest.create_collection("bulk_rest", dimension=args.dim)
            bulk["REST (columns, packed float32)"] = bulk_insert(
                lambda keys, block: rest.insert("bulk_rest", {"id": keys, "vector": block}), inserts, args.batch
            )
        grpc_client = PyMilvusClient(uri=uri)
        searches["gRPC (pymilvus, unmodified)"] = timed_calls(pymilvus_search(grpc_client), args.queries)
        grpc_client.create_collection("bulk_grpc", dimension=args.dim)
        bulk["gRPC (pymilvus rows)"] = bulk_insert(pymilvus_insert(grpc_client, "bulk_grpc"), inserts, args.batch)
        grpc_client.close()

    try:
        import milvus_lite  # noqa: F401
    except ImportError:
        console.print("[yellow]milvus-lite is not installed: Milvus Lite left out (pip install milvus-lite)[/]")
    else:
        lite = PyMilvusClient(str(work / "lite.db"))
        lite.create_collection(NAME, dimension=args.dim)
        for at in range(0, len(vectors), 10_000):
            lite.insert(NAME, rows_of(np.arange(at, min(at + 10_000, len(vectors))), vectors[at : at + 10_000]))
        lite.flush(NAME)
        searches["Milvus Lite (pymilvus)"] = timed_calls(pymilvus_search(lite), args.queries)
        lite.create_collection("bulk_lite", dimension=args.dim)
        bulk["Milvus Lite (pymilvus rows)"] = bulk_insert(pymilvus_insert(lite, "bulk_lite"), inserts, args.batch)
        lite.close()

    table = Table(title=f"single-query search, top 10 of {args.rows:,} x {args.dim} (one query per call)")
    for column in ("path", "p50 µs", "p99 µs", "mean µs", "calls/s"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for label, numbers in searches.items():
        table.add_row(label, *(f"{numbers[k]:,}" for k in ("p50_us", "p99_us", "mean_us", "calls_per_s")))
    console.print(table)
    table = Table(title=f"bulk insert of {args.insert_rows:,} x {args.dim} in batches of {args.batch:,}")
    for column in ("path", "seconds", "rows/s"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for label, numbers in bulk.items():
        table.add_row(label, f"{numbers['seconds']}", f"{numbers['rows_per_s']:,}")
    console.print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_at_start": round(load, 2)},
                "dataset": {"rows": args.rows, "dim": args.dim, "kind": "random normal float32, seed 7", "metric": "COSINE"},
                "search": searches,
                "bulk_insert": bulk,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
