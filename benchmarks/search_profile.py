"""Where one single-query search spends its time: py-spy samples of EmbeDB answering one query per call.

A worker process (importing EmbeDB from ``--tree``, so two source trees can be
compared) loads the dataset into one segment, builds HNSW (M=16,
efConstruction=200, cosine), then calls ``db.search`` with one query at a time
at ``--ef`` while py-spy samples it (``--rate`` Hz, Python frames; time in C is
charged to the Python line that called it). Each sample goes to one bucket:

- ``index search``: the leaf is the index adapter or the library's wrapper (the
  graph walk itself: Faiss's, hnswlib's or EmbeDB's kernel);
- ``hit building``: inside ``plain_hits``/``assemble_hits``;
- ``query checks``: checking, normalising and parsing the request
  (``check_query_vectors``, ``prepare_queries``, ``search_options``);
- ``argument checks``: the contract's checks of every argument (``_dispatch``);
- ``search operation``: the rest of ``embedb.search`` (looking up the segment,
  its index and the serving version);
- ``call and loop``: the client call and the benchmark loop.

Run: ``python benchmarks/search_profile.py --dataset wordnet [--tree src] [--label after]``.
Prints a table (share of samples, and microseconds per query from the measured
rate) and writes ``benchmarks/results/search-profile-<dataset>-<label>.json``.
Needs py-spy (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from search_data import load_dataset, results_dir

console = Console()
BUCKETS = ("index search", "hit building", "query checks", "argument checks", "search operation", "call and loop")
HIT_FUNCTIONS = {"plain_hits", "assemble_hits", "keys_at", "project"}
QUERY_CHECKS = {"check_query_vectors", "prepare_queries", "search_options", "_cacheable", "_parse_options", "check_paging"}
ARGUMENT_CHECKS = {"check_arguments", "check_scalar_arguments", "_unstorable", "_bad_text"}
INDEX_FILES = ("faiss_index.py", "hnswlib_index.py", "swigfaiss.py", "annoy_index.py")


def bucket(frames: list[str]) -> str:
    """The bucket of one sample (frames root first, as py-spy writes them: ``function (file:line)``)."""
    names = [frame.split(" (", 1)[0].rsplit(".", 1)[-1] for frame in frames]
    files = [frame.rsplit("(", 1)[-1] for frame in frames]
    if any(name in HIT_FUNCTIONS for name in names):
        return "hit building"
    if any(name in QUERY_CHECKS for name in names):
        return "query checks"
    if any(name in ARGUMENT_CHECKS for name in names):
        return "argument checks"
    if any(part in files[-1] for part in INDEX_FILES):
        return "index search"
    if "embedb/search/" in files[-1] or "embedb/metadata" in files[-1] or "embedb/index/" in files[-1]:
        return "search operation"
    return "call and loop"


def summarise(raw: Path) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any("search_profile.py" in frame for frame in frames):
            continue  # other threads (the index builder, py-spy's idle samples)
        counts[bucket(frames)] += int(count)
    return dict(counts)


# -------------------------------------------------------------------- worker


def worker(data_path: Path, ef: int, seconds: float) -> None:
    import embedb

    data = np.load(data_path)
    base, queries = data["base"], np.ascontiguousarray(data["queries"])
    folder = Path(tempfile.mkdtemp(prefix="embedb-profile-"))
    try:
        db = embedb.connect(folder, segment_max_bytes=4 << 30, segment_max_rows=2_000_000)
        schema = embedb.CollectionSchema(
            (
                embedb.FieldSchema("id", embedb.DataType.INT64, is_primary=True),
                embedb.FieldSchema("vector", embedb.DataType.FLOAT_VECTOR, dim=base.shape[1], metric_type=embedb.MetricType.COSINE),
            )
        )
        db.create_collection("bench", schema=schema)
        for start in range(0, base.shape[0], 10_000):
            db.insert("bench", {"id": np.arange(start, min(start + 10_000, base.shape[0])), "vector": base[start : start + 10_000]})
        db.flush("bench")
        db.create_index("bench", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 200})
        singles = [queries[i : i + 1] for i in range(queries.shape[0])]
        params = {"ef": ef}
        for query in singles[:200]:  # warm-up
            db.search("bench", query, limit=10, search_params=params)
        print("ready", flush=True)
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for query in singles:
                db.search("bench", query, limit=10, search_params=params)
            done += len(singles)
        print(json.dumps({"queries": done, "seconds": time.perf_counter() - started}), flush=True)
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -------------------------------------------------------------------- parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="wordnet", choices=["wordnet", "clustered-100k", "clustered-1m"])
    parser.add_argument("--quick", action="store_true", help="a fifth of the rows")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent / "src", help="EmbeDB source tree to profile")
    parser.add_argument("--label", default="current")
    parser.add_argument("--ef", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.ef, args.seconds)
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cache = Path(tempfile.gettempdir()) / "embedb-bench-cache"
    cache.mkdir(parents=True, exist_ok=True)
    data_path = cache / f"profile-{args.dataset}{'-quick' if args.quick else ''}.npz"
    if not data_path.exists():
        data = load_dataset(args.dataset, quick=args.quick, queries=1000)
        np.savez(data_path, base=data.base, queries=data.queries)
    env = {**os.environ, "PYTHONPATH": str(args.tree)}
    command = [sys.executable, __file__, "--worker", str(data_path), "--ef", str(args.ef), "--seconds", str(args.seconds)]
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch) / "samples.txt"
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready", "the worker did not start"
        subprocess.run(
            [spy, "record", "-p", str(child.pid), "-r", str(args.rate), "-d", str(int(args.seconds)), "-f", "raw", "-o", str(raw), "--nonblocking"],
            check=True,
            capture_output=True,
        )
        measured = json.loads(child.stdout.readline())
        child.wait()
        counts = summarise(raw)
    per_query_us = measured["seconds"] / measured["queries"] * 1e6
    total = sum(counts.values())
    table = Table(title=f"{args.label}: one query per call, {args.dataset}, ef={args.ef}: {per_query_us:.1f} µs per query")
    for column in ("bucket", "share of samples", "µs per query"):
        table.add_column(column, justify="right")
    rows = {}
    for name in BUCKETS:
        share = counts.get(name, 0) / total if total else 0.0
        rows[name] = {"share": share, "us_per_query": share * per_query_us}
        table.add_row(name, f"{share:.1%}", f"{share * per_query_us:.1f}")
    console.print(table)
    out = {
        "dataset": args.dataset + (" (quick)" if args.quick else ""),
        "tree": str(args.tree),
        "label": args.label,
        "ef": args.ef,
        "us_per_query": per_query_us,
        "samples": total,
        "buckets": rows,
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
    }
    path = results_dir() / f"search-profile-{args.dataset}-{args.label}.json"
    path.write_text(json.dumps(out, indent=2))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
