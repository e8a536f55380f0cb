"""Before/after benchmark: the same ingest, search and promote workloads on two source trees, in one run.

``--trees baseline=../baseline/src,current=src`` names the trees (paths relative
to the repository root, or absolute); the first one is the reference of the
ratios. Every measurement runs in a fresh subprocess of this script with
``PYTHONPATH`` set to one tree's ``src`` folder (replacing any ``PYTHONPATH`` of
the caller), so ``import embedb`` loads that tree — the worker checks
``embedb.__file__`` and fails otherwise — and no state is shared between runs.
Each of the ``--rounds`` rounds runs every workload once per tree, the two trees
back to back, in the order A, B in even rounds and B, A in odd ones, so a slow
drift of the machine's load falls on both alike. The table shows the median
over rounds per tree, the half-range across rounds (±, as a share of the
median: the noise to read a ratio against), and the ratio to the reference.
Before each run the driver fingerprints the tree (file names, sizes, mtimes)
and warns when a tree changed during the run: measure checkouts nobody edits
(``git worktree add``) rather than a working tree others are changing.

Workloads (only the public ``Backend`` API that both trees share, default
engine settings, fsync durability, a fresh data directory each):

- **ingest**: ``--rows`` (100k) rows of a 384-d float32 vector (COSINE, random
  normal, seed 42), an INT64 ``n`` and a VARCHAR(64) ``tag``, inserted in
  columnar batches of 10k (a dict of NumPy columns and a list of strings). The
  insert rate is rows acknowledged by the WAL per second; end to end adds the
  ``flush`` (seal into segment files). Building the input is not timed, and
  one untimed small insert and flush into a throwaway directory first pays the
  once-per-process costs (lazy imports).
- **search**: ``--search-rows`` (100k) unit vectors of 384 dimensions in
  Gaussian clusters (``search_data.clustered_vectors``, seed 11: with 1,000
  queries this is search.py's ``clustered-100k``) plus ``--queries`` held-out
  queries, and an INT64 ``bucket`` uniform in [0, 100) (seed 42). Insert, flush,
  then ``create_index`` HNSW M=16 efConstruction=200 COSINE, polling
  ``describe_index`` until it is Finished (the build time is reported). Then every query one per call, the same
  queries in calls of 100, and one per call with ``filter="bucket < 10"``
  (10% of the rows), all at ``search_params={"ef": --ef}``, limit 10. Recall@10
  is against the exact top-10 by NumPy (filtered: among the rows the filter
  keeps), computed once by the driver and shared by both trees.
- **promote**: models ``toy`` v1 (``embedb.models.testing:hash_embed_16``, alias
  ``champion``) and v2 (``hash_embed_8``, alias ``challenger``) registered with
  ``register_model``; a collection with a VARCHAR ``text`` and
  ``VectorField("embedding", source="text", model="toy@champion")`` with an HNSW
  index (M=8, efConstruction=40), ``--promote-rows`` (10k) rows, then
  ``add_embedding_version(..., wait=True)`` for the challenger (its rows/s is
  reported), polling ``describe_index`` until the indexes are built. Then ``--repeats`` promote/rollback pairs,
  each call timed as the caller sees it, with an untimed text search after each
  switch; p50 and p95 of each.

Run (a quiet machine; the full run takes several minutes per round on 2 cores):

    .venv/bin/python benchmarks/before_after.py [--rounds 3] [--workloads ingest,search,promote]

``--quick`` shrinks every size for a smoke run of a few seconds per workload
(and writes ``before_after-quick.json``). Prints a rich table and writes
``benchmarks/results/before_after.json``; ``--markdown FILE`` prints a results
file as Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table

from search_data import clustered_vectors, exact_top, recall_at

if TYPE_CHECKING:
    from embedb import Backend

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "before_after.json"
DEFAULT_TREES = "baseline=../baseline/src,current=src"
WORKLOADS = ("ingest", "search", "promote")
DIM = 384
BATCH = 10_000
K = 10
SELECTIVITY = 10  # percent of the rows a filtered search keeps: ``bucket < 10``
HNSW = {"M": 16, "efConstruction": 200}
PROMOTE_HNSW = {"M": 8, "efConstruction": 40}
QUICK = {"rows": 5_000, "search_rows": 5_000, "queries": 100, "promote_rows": 1_000, "repeats": 5}
console = Console(width=max(120, Console().width))


@dataclass(frozen=True)
class Metric:
    """One number a workload reports; ``digits`` after the decimal point in the table."""

    workload: str
    key: str
    label: str
    higher_is_better: bool
    digits: int


METRICS = (
    Metric("ingest", "wal_rows_per_s", "insert rows/s (WAL-acknowledged)", True, 0),
    Metric("ingest", "end_to_end_rows_per_s", "insert + flush rows/s", True, 0),
    Metric("ingest", "flush_s", "flush (seal) s", False, 2),
    Metric("search", "index_build_s", "HNSW build s (until Finished)", False, 1),
    Metric("search", "single_qps", "single-query QPS", True, 0),
    Metric("search", "single_recall", "  recall@10", True, 3),
    Metric("search", "batch_qps", "batched QPS (100 per call)", True, 0),
    Metric("search", "batch_recall", "  recall@10", True, 3),
    Metric("search", "filtered_qps", f"filtered single-query QPS ({SELECTIVITY}%)", True, 0),
    Metric("search", "filtered_recall", "  recall@10", True, 3),
    Metric("promote", "backfill_rows_per_s", "backfill rows/s (add_embedding_version)", True, 0),
    Metric("promote", "promote_p50_ms", "promote p50 ms", False, 2),
    Metric("promote", "promote_p95_ms", "promote p95 ms", False, 2),
    Metric("promote", "rollback_p50_ms", "rollback p50 ms", False, 2),
    Metric("promote", "rollback_p95_ms", "rollback p95 ms", False, 2),
)


@dataclass(frozen=True)
class Tree:
    """A named source folder whose ``embedb`` package a worker imports."""

    name: str
    path: Path


# ------------------------------------------------------------------- workers


@contextmanager
def scratch_directory(parent: str | None) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="embedb-before-after-", dir=parent))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def wait_for_indexes(db: Backend, collection: str, *, timeout_s: float = 3600.0) -> None:
    """Poll ``describe_index`` until every index of the collection is built; ``RuntimeError`` if one fails or times out.

    Polls itself rather than calling ``wait_for_index``, which the restructuring moves
    out of the contract: the same wait on every tree.
    """
    deadline = time.monotonic() + timeout_s
    for name in db.list_indexes(collection):
        while (state := db.describe_index(collection, name))["state"] == "InProgress" and time.monotonic() < deadline:
            time.sleep(0.05)
        if state["state"] != "Finished":
            raise RuntimeError(f"index {name!r} of {collection!r} is {state['state']}: {state}")


def ingest_worker(args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    import embedb
    from embedb import CollectionSchema, DataType, FieldSchema, MetricType

    rng = np.random.default_rng(42)
    rows = args.rows
    ids = np.arange(rows, dtype=np.int64)
    vectors = rng.standard_normal((rows, DIM), dtype=np.float32)
    numbers = rng.integers(0, 1_000, rows, dtype=np.int64)
    tags = [f"tag-{i % 997}-{i}" for i in range(rows)]
    batches = [
        {
            "id": ids[s : s + BATCH],
            "vector": vectors[s : s + BATCH],
            "n": numbers[s : s + BATCH],
            "tag": tags[s : s + BATCH],
        }
        for s in range(0, rows, BATCH)
    ]
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM, metric_type=MetricType.COSINE),
            FieldSchema("n", DataType.INT64),
            FieldSchema("tag", DataType.VARCHAR, max_length=64),
        )
    )
    with embedb.connect(scratch / "warmup") as warm:  # once-per-process costs, not ingest rates
        warm.create_collection("bench", schema=schema)
        warm.insert("bench", {key: column[:1_000] for key, column in batches[0].items()})
        warm.flush("bench")
    db = embedb.connect(scratch / "data")
    db.create_collection("bench", schema=schema)
    gc.collect()
    started = time.perf_counter()
    for batch in batches:
        db.insert("bench", batch)
    insert_s = time.perf_counter() - started
    db.flush("bench")
    total_s = time.perf_counter() - started
    count = db.query("bench", "", output_fields=["count(*)"])[0]["count(*)"]
    db.close()
    if count != rows:
        raise RuntimeError(f"{count} rows stored, {rows} inserted")
    return {"wal_rows_per_s": rows / insert_s, "end_to_end_rows_per_s": rows / total_s, "flush_s": total_s - insert_s}


def _ids(hits: Sequence[Sequence[Mapping[str, Any]]]) -> list[list[int]]:
    """Hit ids per query, padded with -1 (a miss) to ``K``."""
    return [[int(hit["id"]) for hit in query] + [-1] * (K - len(query)) for query in hits]


def search_worker(args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    import embedb
    from embedb import CollectionSchema, DataType, FieldSchema, MetricType

    with np.load(args.data) as data:
        base, queries, bucket = data["base"], data["queries"], data["bucket"]
        truth, filtered_truth = data["truth"], data["filtered_truth"]
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=base.shape[1], metric_type=MetricType.COSINE),
            FieldSchema("bucket", DataType.INT64),
        )
    )
    db = embedb.connect(scratch / "data")
    db.create_collection("bench", schema=schema)
    ids = np.arange(base.shape[0], dtype=np.int64)
    for s in range(0, base.shape[0], BATCH):
        db.insert("bench", {"id": ids[s : s + BATCH], "vector": base[s : s + BATCH], "bucket": bucket[s : s + BATCH]})
    db.flush("bench")
    started = time.perf_counter()
    db.create_index("bench", field_name="vector", index_type="HNSW", metric_type="COSINE", params=HNSW, sync=False)
    wait_for_indexes(db, "bench")
    build_s = time.perf_counter() - started
    params = {"ef": args.ef}
    where = f"bucket < {SELECTIVITY}"
    for query in queries[:10]:  # untimed: the first searches load the index and warm the caches
        db.search("bench", query[None, :], limit=K, search_params=params)
    out: dict[str, float] = {"index_build_s": build_s}
    for mode, step, filter_ in (("single", 1, ""), ("batch", 100, ""), ("filtered", 1, where)):
        found: list[list[int]] = []
        started = time.perf_counter()
        for s in range(0, queries.shape[0], step):
            found += _ids(db.search("bench", queries[s : s + step], filter=filter_, limit=K, search_params=params))
        elapsed = time.perf_counter() - started
        out[f"{mode}_qps"] = queries.shape[0] / elapsed
        out[f"{mode}_recall"] = recall_at(np.array(found), filtered_truth if filter_ else truth, K)
    db.close()
    return out


def promote_worker(args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    import embedb
    from embedb import CollectionSchema, DataType, FieldSchema, VectorField

    db = embedb.connect(scratch / "data")
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=256),
            VectorField("embedding", source="text", model="toy@champion", metric_type="COSINE"),
        )
    )
    db.create_collection("docs", schema=schema)
    db.create_index("docs", field_name="embedding", index_type="HNSW", params=PROMOTE_HNSW)
    rows = args.promote_rows
    for s in range(0, rows, BATCH):
        db.insert(
            "docs", [{"id": i, "text": f"w{i % 977} w{i % 1013} w{i % 101}"} for i in range(s, min(s + BATCH, rows))]
        )
    db.flush("docs")
    wait_for_indexes(db, "docs")
    started = time.perf_counter()
    job = db.add_embedding_version("docs", "embedding", "toy@challenger", wait=True)
    backfill_s = time.perf_counter() - started
    if job["state"] != "DONE":
        raise RuntimeError(f"the backfill ended {job['state']}: {job}")
    wait_for_indexes(db, "docs")
    timings: dict[str, list[float]] = {"promote": [], "rollback": []}
    for _ in range(args.repeats):
        for action in ("promote", "rollback"):
            began = time.perf_counter()
            if action == "promote":
                db.promote("docs", "embedding", "toy/2", reason="benchmark")
            else:
                db.rollback("docs", "embedding", reason="benchmark")
            timings[action].append((time.perf_counter() - began) * 1000)
            db.search("docs", "w1 w2", limit=1)
    db.close()
    out = {"backfill_rows_per_s": rows / backfill_s}
    for action, values in timings.items():
        out[f"{action}_p50_ms"] = float(np.percentile(values, 50))
        out[f"{action}_p95_ms"] = float(np.percentile(values, 95))
    return out


def run_worker(args: argparse.Namespace) -> None:
    """In the subprocess: check which embedb is imported, measure one workload, write its JSON to ``--out``."""
    import embedb

    loaded = Path(embedb.__file__).resolve()
    expected = Path(args.expect_tree).resolve()
    if not loaded.is_relative_to(expected):
        raise SystemExit(f"embedb was imported from {loaded}, not from {expected}: check PYTHONPATH")
    workers = {"ingest": ingest_worker, "search": search_worker, "promote": promote_worker}
    with scratch_directory(args.scratch) as scratch:
        metrics = workers[args.worker](args, scratch)
    Path(args.out).write_text(json.dumps({"embedb_file": str(loaded), "metrics": metrics}))


# -------------------------------------------------------------------- driver


def parse_trees(text: str) -> list[Tree]:
    trees = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, separator, path = item.partition("=")
        if not separator or not name or not path:
            raise SystemExit(f"--trees takes name=path pairs, got {item!r}")
        folder = Path(path) if Path(path).is_absolute() else (REPO / path)
        if not (folder / "embedb" / "__init__.py").is_file():
            raise SystemExit(f"tree {name!r}: {folder} holds no embedb package")
        trees.append(Tree(name, folder.resolve()))
    if len(trees) < 2 or len({t.name for t in trees}) != len(trees):
        raise SystemExit("--trees needs at least two trees with distinct names")
    return trees


def _git(folder: Path, *command: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *command], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def describe_tree(tree: Tree) -> dict[str, Any]:
    """Path, commit and whether the source folder has uncommitted changes."""
    status = _git(tree.path, "status", "--porcelain", "--", ".")
    return {
        "path": str(tree.path),
        "commit": _git(tree.path, "rev-parse", "--short", "HEAD"),
        "uncommitted_changes_in_src": None if status is None else bool(status),
        "uncommitted_files": [] if status is None else status.splitlines(),
    }


def fingerprint(tree: Tree) -> str:
    """A digest of the tree's file names, sizes and modification times: it changes when someone edits the tree."""
    digest = hashlib.sha256()
    for path in sorted(tree.path.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            digest.update(f"{path.relative_to(tree.path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def machine(scratch: str | None) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    folder = Path(scratch or tempfile.gettempdir()).resolve()
    mounts = Path("/proc/mounts").read_text().splitlines() if Path("/proc/mounts").exists() else []
    mount = max(
        (line.split() for line in mounts if len(line.split()) > 2 and folder.is_relative_to(line.split()[1])),
        key=lambda fields: len(fields[1]),
        default=["", "", "unknown"],
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model or platform.processor(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "scratch": str(folder),
        "scratch_filesystem": mount[2],
    }


def prepare_search_data(rows: int, queries: int, folder: Path) -> Path:
    """Base vectors, queries, buckets and exact (filtered) top-10, as one .npz every worker loads."""
    data = clustered_vectors(rows + queries, DIM, seed=11)
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    data = (data / np.where(norms == 0, 1, norms)).astype(np.float32)
    base, query_vectors = np.ascontiguousarray(data[:rows]), np.ascontiguousarray(data[rows:])
    bucket = np.random.default_rng(42).integers(0, 100, size=rows).astype(np.int64)
    path = folder / "search.npz"
    np.savez(
        path,
        base=base,
        queries=query_vectors,
        bucket=bucket,
        truth=exact_top(base, query_vectors, K),
        filtered_truth=exact_top(base, query_vectors, K, bucket < SELECTIVITY),
    )
    return path


def measure(workload: str, tree: Tree, args: argparse.Namespace, data: Path, work: Path) -> dict[str, Any]:
    """One workload on one tree in a fresh subprocess: its metrics, or the reason it failed."""
    out = work / f"{workload}-{tree.name}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--worker", workload, "--out", str(out), "--expect-tree", str(tree.path)]
    command += ["--data", str(data), "--rows", str(args.rows), "--promote-rows", str(args.promote_rows)]
    command += ["--repeats", str(args.repeats), "--ef", str(args.ef)]
    if args.scratch:
        command += ["--scratch", args.scratch]
    env = {**os.environ, "PYTHONPATH": str(tree.path)}
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {args.timeout:g} s", "seconds": time.perf_counter() - started}
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not out.exists():
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1] if lines else f"exit status {done.returncode}", "seconds": seconds}
    result: dict[str, Any] = json.loads(out.read_text())
    return {**result, "seconds": seconds}


def summarise(runs: list[dict[str, Any]], trees: list[Tree]) -> dict[str, dict[str, Any]]:
    """Per metric: every tree's values over rounds, their median and half-range, and each ratio to the first tree."""
    summary: dict[str, dict[str, Any]] = {}
    reference = trees[0].name
    for metric in METRICS:
        per_tree: dict[str, Any] = {}
        for tree in trees:
            values = [
                r["metrics"][metric.key] for r in runs if r["tree"] == tree.name and metric.key in r.get("metrics", {})
            ]
            if values:
                median = statistics.median(values)
                spread = (max(values) - min(values)) / 2 / median if median else 0.0
                per_tree[tree.name] = {"median": median, "half_range": spread, "values": values}
        if not per_tree:
            continue
        ratios = {
            f"{tree.name}/{reference}": per_tree[tree.name]["median"] / per_tree[reference]["median"]
            for tree in trees[1:]
            if tree.name in per_tree and reference in per_tree and per_tree[reference]["median"]
        }
        summary[f"{metric.workload}.{metric.key}"] = {
            "label": metric.label,
            "higher_is_better": metric.higher_is_better,
            "trees": per_tree,
            "ratios": ratios,
        }
    return summary


def _cell(numbers: dict[str, Any] | None, digits: int) -> str:
    if numbers is None:
        return "–"
    spread = f" ±{numbers['half_range']:.0%}" if len(numbers["values"]) > 1 else ""
    return f"{numbers['median']:,.{digits}f}{spread}"


def _rows(report: dict[str, Any]) -> Iterator[list[str]]:
    """Table rows: workload, metric, better, one cell per tree, one ratio per other tree."""
    names = list(report["trees"])
    for metric in METRICS:
        entry = report["summary"].get(f"{metric.workload}.{metric.key}")
        if entry is None:
            continue
        cells = [_cell(entry["trees"].get(name), metric.digits) for name in names]
        ratios = [entry["ratios"].get(f"{name}/{names[0]}") for name in names[1:]]
        better = "higher" if metric.higher_is_better else "lower"
        yield [metric.workload, metric.label, better, *cells, *("–" if r is None else f"{r:.2f}" for r in ratios)]


def _heading(report: dict[str, Any]) -> list[str]:
    box, settings = report["machine"], report["settings"]
    before, after = report["load_average_before"], report["load_average_after"]
    trees = "; ".join(
        f"{name} = {t['path']} (commit {t['commit']}{', with uncommitted changes' if t['uncommitted_changes_in_src'] else ''}; "
        f"workers imported {', '.join(t.get('imported_from', [])) or 'nothing'}"
        f"{'; CHANGED DURING THE RUN' if len(t.get('fingerprints', [])) > 1 else ''})"
        for name, t in report["trees"].items()
    )
    return [
        f"{report['date']}, {box['nproc']} cores ({box['cpu_model']}), {box['memory_gib']} GiB, Python {box['python']}, "
        f"scratch on {box['scratch_filesystem']}; load average {before[0]:.2f} {before[1]:.2f} {before[2]:.2f} before, "
        f"{after[0]:.2f} {after[1]:.2f} {after[2]:.2f} after.",
        f"Trees: {trees}.",
        f"{settings['rounds']} round(s), tree order alternating; median over rounds, ± half the range across rounds. "
        f"Ingest {settings['rows']:,} x {DIM}; search {settings['search_rows']:,} x {DIM} clustered, "
        f"{settings['queries']:,} queries, ef={settings['ef']}; promote {settings['promote_rows']:,} rows, "
        f"{settings['repeats']} pairs.",
    ]


def print_report(report: dict[str, Any]) -> None:
    names = list(report["trees"])
    table = Table(title="EmbeDB before/after")
    for column in ("workload", "metric", "better", *names, *(f"{n}/{names[0]}" for n in names[1:])):
        table.add_column(column, justify="left" if column in ("workload", "metric", "better") else "right")
    for row in _rows(report):
        table.add_row(*row)
    console.print(table)
    for line in _heading(report):
        console.print(line)
    for run in report["runs"]:
        if "error" in run:
            console.print(f"[red]failed[/red] round {run['round']} {run['workload']} on {run['tree']}: {run['error']}")


def markdown(path: Path) -> str:
    """A results file as Markdown (for docs/benchmarks.md)."""
    report = json.loads(path.read_text())
    names = list(report["trees"])
    header = ["workload", "metric", "better", *names, *(f"{n}/{names[0]}" for n in names[1:])]
    lines = [*_heading(report), "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(cell.strip() for cell in row) + " |" for row in _rows(report)]
    return "\n".join(lines)


def drive(args: argparse.Namespace) -> int:
    trees = parse_trees(args.trees)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(workloads) - set(WORKLOADS)
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(sorted(unknown))}; known: {', '.join(WORKLOADS)}")
    load_before = os.getloadavg()
    date = datetime.now(UTC).isoformat(timespec="seconds")
    runs: list[dict[str, Any]] = []
    with scratch_directory(args.scratch) as work:
        data = work / "none"
        if "search" in workloads:
            console.print(f"generating {args.search_rows:,} x {DIM} clustered vectors and the exact top-{K} …")
            data = prepare_search_data(args.search_rows, args.queries, work)
        for round_index in range(args.rounds):
            order = trees if round_index % 2 == 0 else trees[::-1]
            for workload in workloads:
                for tree in order:
                    run = {"round": round_index + 1, "workload": workload, "tree": tree.name}
                    run["fingerprint"] = fingerprint(tree)
                    run.update(measure(workload, tree, args, data, work))
                    runs.append(run)
                    shown = ", ".join(f"{k} {v:,.3g}" for k, v in run.get("metrics", {}).items())
                    console.print(
                        f"round {round_index + 1}/{args.rounds} {workload:8} {tree.name:10} {run['seconds']:6.1f} s  "
                        + (shown or f"[red]{run.get('error')}[/red]")
                    )
    settings = {
        "rounds": args.rounds,
        "quick": args.quick,
        "workloads": workloads,
        "rows": args.rows,
        "search_rows": args.search_rows,
        "queries": args.queries,
        "ef": args.ef,
        "promote_rows": args.promote_rows,
        "repeats": args.repeats,
        "batch": BATCH,
        "hnsw": HNSW,
        "promote_hnsw": PROMOTE_HNSW,
        "filter": f"bucket < {SELECTIVITY}",
        "durability": "fsync (default settings)",
    }
    report: dict[str, Any] = {
        "benchmark": "before_after",
        "date": date,
        "machine": machine(args.scratch),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "trees": {
            tree.name: {
                **describe_tree(tree),
                "fingerprints": sorted({r["fingerprint"] for r in runs if r["tree"] == tree.name}),
                "imported_from": sorted(
                    {r["embedb_file"] for r in runs if r["tree"] == tree.name and "embedb_file" in r}
                ),
            }
            for tree in trees
        },
        "settings": settings,
        "summary": summarise(runs, trees),
        "runs": runs,
    }
    print_report(report)
    low = [
        f"{name} {mode} recall {entry['median']:.3f}"
        for mode in ("single", "batch", "filtered")
        for name, entry in report["summary"].get(f"search.{mode}_recall", {}).get("trees", {}).items()
        if entry["median"] < 0.95
    ]
    for name, tree_info in report["trees"].items():
        if len(tree_info["fingerprints"]) > 1:
            console.print(
                f"[red]tree {name} changed during the run[/red] ({len(tree_info['fingerprints'])} versions): "
                "its numbers mix versions; measure a checkout nobody edits (git worktree add)"
            )
    if low:
        console.print(f"[yellow]recall@10 below 0.95 at ef={args.ef}[/yellow] ({'; '.join(low)}): raise --ef")
    output = args.output or (RESULTS.with_name("before_after-quick.json") if args.quick else RESULTS)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {output}")
    return 1 if any("error" in run for run in runs) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trees", default=DEFAULT_TREES, help=f"name=path,... (relative to the repo); default {DEFAULT_TREES}"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each runs every workload once per tree")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"comma-separated, from {', '.join(WORKLOADS)}"
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the ingest workload")
    parser.add_argument("--search-rows", type=int, default=100_000, help="rows of the search workload")
    parser.add_argument("--queries", type=int, default=1_000, help="queries of the search workload")
    parser.add_argument("--ef", type=int, default=64, help="HNSW ef of every search")
    parser.add_argument("--promote-rows", type=int, default=10_000, help="rows of the promote workload")
    parser.add_argument("--repeats", type=int, default=50, help="promote/rollback pairs")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few seconds per workload")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds at most per workload run")
    parser.add_argument(
        "--scratch",
        default=os.environ.get("EMBEDB_BENCH_DIR"),
        help="folder for the data directories (default: $EMBEDB_BENCH_DIR, else the system temp folder)",
    )
    parser.add_argument("--output", type=Path, help=f"results file (default {RESULTS.relative_to(REPO)})")
    parser.add_argument("--markdown", type=Path, help="print the table of a results file as Markdown and exit")
    parser.add_argument("--worker", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--expect-tree", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    if args.worker:
        run_worker(args)
        return
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)
    sys.exit(drive(args))


if __name__ == "__main__":
    main()
