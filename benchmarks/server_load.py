"""Server load: N concurrent clients mixing search and insert against ``embedb serve`` on loopback.

The script starts a server on a fresh data directory (or uses ``--url`` and
``--token``), preloads ``--preload`` rows of ``--dim``-d random vectors
(COSINE, quick setup, so sealed segments get the default HNSW index), then runs
``--clients`` threads for ``--seconds`` seconds. Each client is one
``embedb.connect(url, token=...)`` (keep-alive, packed float32 vectors) and
loops: with probability ``--insert-ratio`` it inserts ``--batch`` new rows,
otherwise it searches one query vector for the top ``--k``. Every call's
latency and outcome is recorded; a sampler reads the server's RSS every half
second. Default durability (fsync per acknowledged write) is used.

Reports throughput, p50/p99 latency and errors per operation (the target is
zero errors) and RSS over time; prints a rich table and writes
``benchmarks/results/server_load.json``.

Run: ``python benchmarks/server_load.py`` (about 40 s); ``--quick`` for a 10 s
smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

import embedb
from embedb.errors import EmbedbError
from embedb.server.auth import TokenStore

RESULTS = Path(__file__).parent / "results" / "server_load.json"
COLLECTION = "load"


@dataclass
class Calls:
    """Latencies (seconds) of successful calls and the errors of one operation, across clients."""

    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.latencies.append(seconds)
            else:
                self.errors[error] = self.errors.get(error, 0) + 1

    def summary(self, seconds: float) -> dict[str, Any]:
        values = np.asarray(self.latencies) * 1000
        return {
            "calls": int(values.size),
            "throughput_per_s": round(values.size / seconds, 1),
            "p50_ms": round(float(np.percentile(values, 50)), 2) if values.size else None,
            "p99_ms": round(float(np.percentile(values, 99)), 2) if values.size else None,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
        }


@contextlib.contextmanager
def local_server(folder: Path, *, wait_s: float = 60.0) -> Iterator[tuple[str, str, int]]:
    """Start ``embedb serve`` on a free loopback port; yield (url, admin token, pid); stop it with SIGTERM."""
    store = TokenStore.open(folder)
    token, _ = store.create(role="admin", name="server-load")
    store.close()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(folder.parent / "server.log", "wb")  # noqa: SIM115 - closed below
    command = [sys.executable, "-c", "from embedb.cli import main; main()", "serve", str(folder), "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {folder.parent / 'server.log'}")
            time.sleep(0.1)
        yield url, token, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        log.close()


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux ``/proc``), or None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def sample_rss(pid: int | None, stop: threading.Event, started: float, samples: list[tuple[float, float]]) -> None:
    while pid is not None and not stop.wait(0.5):
        value = rss_mib(pid)
        if value is not None:
            samples.append((round(time.monotonic() - started, 1), round(value, 1)))


def preload(url: str, token: str, *, rows: int, dim: int, seed: int) -> None:
    with embedb.connect(url, token=token) as db:
        if db.has_collection(COLLECTION):
            db.drop_collection(COLLECTION)
        db.create_collection(COLLECTION, dimension=dim)
        rng = np.random.default_rng(seed)
        for start in range(0, rows, 2000):
            count = min(2000, rows - start)
            db.insert(
                COLLECTION,
                {"id": np.arange(start, start + count), "vector": rng.standard_normal((count, dim), dtype=np.float32)},
            )
        db.flush(COLLECTION)
        for index in db.list_indexes(COLLECTION):
            db.wait_for_index(COLLECTION, index, timeout=120)


def client_loop(
    number: int, url: str, token: str, args: argparse.Namespace, deadline: float, calls: dict[str, Calls]
) -> None:
    """One client: search or insert until the deadline, recording each call."""
    rng = np.random.default_rng(1000 + number)
    next_id = 10_000_000 * (number + 1)
    with embedb.connect(url, token=token) as db:
        while time.monotonic() < deadline:
            inserting = rng.random() < args.insert_ratio
            started = time.perf_counter()
            error = None
            try:
                if inserting:
                    keys = np.arange(next_id, next_id + args.batch)
                    next_id += args.batch
                    db.insert(
                        COLLECTION,
                        {"id": keys, "vector": rng.standard_normal((args.batch, args.dim), dtype=np.float32)},
                    )
                else:
                    db.search(COLLECTION, rng.standard_normal((1, args.dim), dtype=np.float32), limit=args.k)
            except EmbedbError as failure:
                error = failure.wire_name
            calls["insert" if inserting else "search"].record(time.perf_counter() - started, error)


def run(url: str, token: str, pid: int | None, args: argparse.Namespace) -> dict[str, Any]:
    preload(url, token, rows=args.preload, dim=args.dim, seed=args.seed)
    calls = {"search": Calls(), "insert": Calls()}
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.monotonic()
    sampler = threading.Thread(target=sample_rss, args=(pid, stop, started, samples), daemon=True)
    sampler.start()
    deadline = started + args.seconds
    clients = [
        threading.Thread(target=client_loop, args=(n, url, token, args, deadline, calls)) for n in range(args.clients)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    with embedb.connect(url, token=token) as db:
        rows = db.get_collection_stats(COLLECTION)["row_count"]
    results = {name: c.summary(elapsed) for name, c in calls.items()}
    total = sum(r["calls"] for r in results.values())
    return {
        "operations": results,
        "total_throughput_per_s": round(total / elapsed, 1),
        "errors": sum(r["errors"] for r in results.values()),
        "elapsed_s": round(elapsed, 1),
        "rows_after": rows,
        "rss_mib": {
            "start": samples[0][1] if samples else None,
            "max": max(v for _, v in samples) if samples else None,
            "end": samples[-1][1] if samples else None,
            "samples": samples,
        },
    }


def print_report(report: dict[str, Any], console: Console) -> None:
    config = report["config"]
    table = Table(
        "operation", "calls", "throughput/s", "p50 ms", "p99 ms", "errors",
        title=f"{config['clients']} clients, {config['seconds']} s, dim {config['dim']}, "
        f"{config['preload']} rows preloaded, insert ratio {config['insert_ratio']} (batch {config['batch']})",
    )  # fmt: skip
    for name, result in report["operations"].items():
        table.add_row(
            name,
            str(result["calls"]),
            str(result["throughput_per_s"]),
            str(result["p50_ms"]),
            str(result["p99_ms"]),
            str(result["errors"]),
        )
    table.add_row("all", "", str(report["total_throughput_per_s"]), "", "", str(report["errors"]))
    console.print(table)
    rss = report["rss_mib"]
    console.print(
        f"server RSS MiB: start {rss['start']}, max {rss['max']}, end {rss['end']}; rows after: {report['rows_after']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="An existing server (default: start one on a temporary directory).")
    parser.add_argument("--token", help="Admin token for --url.")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--preload", type=int, default=20_000)
    parser.add_argument("--insert-ratio", type=float, default=0.1)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="4 clients, 8 s, 5k rows.")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.preload = 4, 8.0, 5_000
    console = Console()
    if args.url:
        report = run(args.url, args.token, None, args)
    else:
        with (
            tempfile.TemporaryDirectory(prefix="embedb-load-") as folder,
            local_server(Path(folder) / "data") as (url, token, pid),
        ):
            report = run(url, token, pid, args)
    report["config"] = {k: v for k, v in vars(args).items() if k not in ("token", "output")}
    report["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    report["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    print_report(report, console)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
