"""Search benchmark: EmbeDB next to raw Faiss (the library limit) and the peers a user would pick instead.

One dataset, one run, side by side. Every system runs in its own subprocess (so
peak RSS is its own) and goes through the same steps: ingest the rows, build an
HNSW index (M=16, efConstruction=200, cosine), then answer the held-out
queries at ``ef`` in {16, 32, 64, 128, 256} — one query at a time on one thread,
and as one batch (best of three) — then with a filter ``bucket < p`` that keeps 1%, 10% and 50%
of the rows (``ef`` 64, EmbeDB's planner widens it by itself), then close,
reopen and answer a first query. Recall@10 is against the exact top-10 (the
filtered ones against the exact top-10 among the rows the filter keeps).

Datasets: ``wordnet`` (116,659 x 384 all-MiniLM-L6-v2 vectors with 1,000 held-out
queries, /work/shared/data/wordnet), ``clustered-100k`` (100k x 384) and
``clustered-1m`` (1M x 128). ``--quick`` takes a fifth of the rows and 200
queries. Peers come from the optional ``bench`` extra; a peer that cannot be
imported or fails is skipped with the reason printed.

Run: ``python benchmarks/search.py --dataset wordnet [--quick] [--systems embedb,faiss]``.
Prints rich tables and writes ``benchmarks/results/search-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from search_data import exact_top, load_dataset, recall_at, results_dir
from search_systems import RUNNERS, EmbedbRunner, FaissRunner, Runner, fresh_folder, timed

EFS = (16, 32, 64, 128, 256)
SELECTIVITY = (1, 10, 50)
FILTER_EF = 64
K = 10
LIBRARIES = ("faiss", "hnswlib")  # the raw libraries: the limit EmbeDB is held to, not peers
console = Console()


# ------------------------------------------------------------------- memory


class PeakRss:
    """Samples the resident memory of this process and its children (Milvus Lite runs a server child)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def _tree_rss(pid: int) -> int:
        total = 0
        pending = [pid]
        while pending:
            current = pending.pop()
            try:
                status = Path(f"/proc/{current}/status").read_text()
                total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
                for task in Path(f"/proc/{current}/task").iterdir():
                    children = (task / "children").read_text().split()
                    pending.extend(int(c) for c in children)
            except (OSError, StopIteration, ValueError):
                continue
        return total

    def now(self) -> int:
        value = self._tree_rss(os.getpid())
        self.peak = max(self.peak, value)
        return value

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.now()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now())


# -------------------------------------------------------------------- worker


def _single(runner: Runner, queries: np.ndarray, below: int | None, box_s: float) -> tuple[list[list[int]], float]:
    """One query at a time until all are done or ``box_s`` passed; (ids of those done, queries per second)."""
    runner.search(queries[:1], K, below)  # warm-up
    found: list[list[int]] = []
    start = time.perf_counter()
    for i in range(queries.shape[0]):
        found.extend(runner.search(queries[i : i + 1], K, below))
        if time.perf_counter() - start > box_s:
            break
    return found, len(found) / (time.perf_counter() - start)


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    padded = np.full((len(found), K), -1, dtype=np.int64)
    for i, ids in enumerate(found):
        padded[i, : min(K, len(ids))] = ids[:K]
    return recall_at(padded, truth[: len(found)], K)


def _same_index_control(runner: EmbedbRunner, queries: np.ndarray) -> dict[str, Any]:
    """EmbeDB's whole search next to Faiss's own search of the very graph EmbeDB built, in one process.

    Load on the machine hits both alike. EmbeDB searches the graph with its own kernel, so the
    ratio is (Faiss's search of the graph) / (EmbeDB's kernel + everything around it).
    """
    import faiss as faiss_module

    faiss: Any = faiss_module  # its bundled stubs lack the SearchParameters keywords
    index = runner.raw_index()
    batch = queries[:200]
    out = {}
    for ef in EFS:
        runner.set_ef(ef)
        params = faiss.SearchParametersHNSW(efSearch=ef)

        def raw(p: Any = params) -> None:
            for i in range(batch.shape[0]):
                index.search(batch[i : i + 1], K, params=p)

        def ours() -> None:
            for i in range(batch.shape[0]):
                runner.search(batch[i : i + 1], K, None)

        raw_s = min(timeit.repeat(raw, number=1, repeat=5))
        ours_s = min(timeit.repeat(ours, number=1, repeat=5))
        out[str(ef)] = {
            "faiss_qps": batch.shape[0] / raw_s,
            "embedb_qps": batch.shape[0] / ours_s,
            "ratio": raw_s / ours_s,
            "overhead_us": (ours_s - raw_s) / batch.shape[0] * 1e6,
        }
    return out


def run_worker(system: str, data_path: Path, folder: Path, box_s: float) -> dict[str, Any]:
    """Everything measured for one system, in this (fresh) process."""
    rss = PeakRss()
    data = np.load(data_path)
    base, queries, truth, bucket = data["base"], data["queries"], data["truth"], data["bucket"]
    filtered_truth = {p: data[f"truth_{p}"] for p in SELECTIVITY}
    ids = np.arange(base.shape[0], dtype=np.int64)
    baseline = rss.now()
    runner = RUNNERS[system](folder, base.shape[1])
    _, ingest_s = timed(lambda: runner.ingest(ids, base, bucket))
    _, build_s = timed(runner.build)
    out: dict[str, Any] = {
        "system": system,
        "rows": int(base.shape[0]),
        "ingest_s": ingest_s,
        "ingest_rows_per_s": base.shape[0] / ingest_s if system not in LIBRARIES else None,
        "build_s": build_s,
        "build_during_ingest": runner.build_during_ingest,
        "single": {},
        "batch": {},
        "filtered": {},
    }
    for ef in EFS:
        runner.set_ef(ef)
        found, qps = _single(runner, queries, None, box_s)
        out["single"][str(ef)] = {"qps": qps, "recall": _recall(found, truth), "queries": len(found)}
        if runner.supports_batch:  # best of three: one batch is a single, noisy measurement
            runs = [timed(lambda: runner.search(queries, K, None)) for _ in range(3)]
            found_batch, seconds = runs[0][0], min(seconds for _, seconds in runs)
            out["batch"][str(ef)] = {"qps": queries.shape[0] / seconds, "recall": _recall(found_batch, truth)}
    runner.set_ef(FILTER_EF)
    for percent in SELECTIVITY:
        found, qps = _single(runner, queries, percent, box_s)
        out["filtered"][f"{percent}%"] = {"qps": qps, "recall": _recall(found, filtered_truth[percent]), "queries": len(found)}
        if isinstance(runner, FaissRunner):
            runner.widen = True
            found, qps = _single(runner, queries, percent, box_s)
            out["filtered"][f"{percent}% widened"] = {"qps": qps, "recall": _recall(found, filtered_truth[percent])}
            runner.widen = False
    if isinstance(runner, EmbedbRunner):
        out["same_index_control"] = _same_index_control(runner, queries)
    out["extra"] = runner.extra()
    out["disk_bytes"] = runner.disk_bytes()
    runner.set_ef(FILTER_EF)
    runner.close()
    start = time.perf_counter()
    runner.reopen()
    runner.set_ef(FILTER_EF)
    runner.search(queries[:1], K, None)
    out["reopen_first_query_s"] = time.perf_counter() - start
    runner.close()
    out["baseline_rss_bytes"] = baseline
    out["peak_rss_bytes"] = rss.stop()
    return out


# -------------------------------------------------------------------- parent


def prepare(dataset: str, quick: bool, queries: int, cache: Path) -> Path:
    """The dataset with its exact (filtered) ground truth, as one .npz the workers load."""
    path = cache / f"{dataset}{'-quick' if quick else ''}-{queries}.npz"
    if path.exists():
        return path
    data = load_dataset(dataset, quick=quick, queries=queries)
    arrays: dict[str, Any] = {"base": data.base, "queries": data.queries, "truth": data.truth[:, :K], "bucket": data.bucket}
    for percent in SELECTIVITY:
        arrays[f"truth_{percent}"] = exact_top(data.base, data.queries, K, data.bucket < percent)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def run_system(system: str, data_path: Path, work: Path, box_s: float, timeout_s: float) -> dict[str, Any]:
    out_file = work / f"{system}.json"
    command = [sys.executable, __file__, "--worker", system, "--data", str(data_path), "--work", str(work), "--box", str(box_s)]
    console.print(f"[bold]{system}[/bold]: running …")
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"system": system, "skipped": f"did not finish within {timeout_s:.0f} s"}
    if completed.returncode != 0 or not out_file.exists():
        lines = [line for line in (completed.stderr or "").strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {completed.returncode}"
        return {"system": system, "skipped": reason}
    result: dict[str, Any] = json.loads(out_file.read_text())
    return result


def best_at(result: dict[str, Any], mode: str, target: float = 0.95) -> tuple[float, str] | None:
    """The highest QPS among ef settings whose recall@10 reaches ``target``: (qps, ef)."""
    rows = [(v["qps"], ef) for ef, v in result.get(mode, {}).items() if v["recall"] >= target]
    return max(rows) if rows else None


def _mib(value: float | None) -> str:
    return "–" if value is None else f"{value / 2**20:,.0f} MiB"


def report(results: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    done = [r for r in results if "skipped" not in r]
    for r in results:
        if "skipped" in r:
            console.print(f"[yellow]skipped {r['system']}[/yellow]: {r['skipped']}")
    overview = Table(title=f"{meta['dataset']}: {meta['rows']:,} x {meta['dim']}, {meta['queries']} queries, k={K}")
    for column in ("system", "ingest rows/s", "index build s", "peak RSS", "disk", "reopen + 1st query"):
        overview.add_column(column, justify="right")
    for r in done:
        build = f"{r['build_s']:.1f}" + (" (+ during ingest)" if r["build_during_ingest"] else "")
        ingest = "–" if r["ingest_rows_per_s"] is None else f"{r['ingest_rows_per_s']:,.0f}"
        overview.add_row(r["system"], ingest, build, _mib(r["peak_rss_bytes"]), _mib(r["disk_bytes"]), f"{r['reopen_first_query_s']:.2f} s")
    console.print(overview)
    for mode, title in (("single", "single queries, one thread: QPS (recall@10)"), ("batch", "one batch of all queries: QPS (recall@10)")):
        table = Table(title=title)
        table.add_column("system")
        for ef in EFS:
            table.add_column(f"ef={ef}", justify="right")
        for r in done:
            cells = [f"{r[mode][str(ef)]['qps']:,.0f} ({r[mode][str(ef)]['recall']:.3f})" if str(ef) in r[mode] else "–" for ef in EFS]
            table.add_row(r["system"], *cells)
        console.print(table)
    filtered = Table(title=f"filtered single queries (bucket < p), ef={FILTER_EF}: QPS (recall@10)")
    filtered.add_column("system")
    for percent in SELECTIVITY:
        filtered.add_column(f"{percent}%", justify="right")
    for r in done:
        filtered.add_row(r["system"], *[f"{r['filtered'][f'{p}%']['qps']:,.0f} ({r['filtered'][f'{p}%']['recall']:.3f})" for p in SELECTIVITY])
        if f"{SELECTIVITY[0]}% widened" in r["filtered"]:
            cells = [f"{r['filtered'][f'{p}% widened']['qps']:,.0f} ({r['filtered'][f'{p}% widened']['recall']:.3f})" for p in SELECTIVITY]
            filtered.add_row(f"{r['system']} + planner's ef", *cells)
    console.print(filtered)
    return {"targets": targets(done)}


def targets(done: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, computed from this run."""
    by = {r["system"]: r for r in done}
    out: dict[str, Any] = {}
    ours = by.get("embedb")
    libraries = [by[name] for name in LIBRARIES if name in by]
    peers = [r for name, r in by.items() if name != "embedb" and name not in LIBRARIES]
    if ours and libraries:
        for mode, goal in (("single", 0.8), ("batch", 0.9)):
            mine = best_at(ours, mode)
            limits = {r["system"]: best_at(r, mode) for r in libraries}
            reached = {name: value for name, value in limits.items() if value is not None}
            if mine and reached:
                fastest = max(reached, key=lambda name: reached[name][0])
                ratio = mine[0] / reached[fastest][0]
                out[f"{mode}_qps_vs_fastest_library_at_recall_0.95"] = {
                    "embedb": mine, "libraries": reached, "fastest": fastest, "ratio": ratio, "goal": goal, "met": ratio >= goal
                }
        fastest_build = min(r["build_s"] for r in libraries)
        out["build_time_vs_fastest_library"] = {"ratio": ours["build_s"] / fastest_build, "goal": 1.2, "met": ours["build_s"] / fastest_build <= 1.2}
        if "same_index_control" in ours:
            out["same_index_single_query_ratio"] = {ef: v["ratio"] for ef, v in ours["same_index_control"].items()}
    if ours:
        best = best_at(ours, "single")
        beats = {p["system"]: (best_at(p, "single") or (0.0, "none"))[0] for p in peers}
        out["single_qps_above_every_peer"] = {"embedb": best, "peers_best_at_0.95": beats, "met": best is not None and all(best[0] > v for v in beats.values())}
        for percent in (10, 1):
            filtered = ours["filtered"][f"{percent}%"]
            rivals = {p["system"]: p["filtered"][f"{percent}%"]["qps"] for p in peers}
            out[f"filtered_{percent}%"] = {
                "recall": filtered["recall"],
                "qps": filtered["qps"],
                "peers_qps": rivals,
                "met": filtered["recall"] >= 0.95 and all(filtered["qps"] > v for v in rivals.values()),
            }
    for name, value in out.items():
        console.print(f"target {name}: {json.dumps(value, default=str)}")
    return out


def markdown(path: Path) -> str:
    """The tables of a results file as Markdown (for docs/benchmarks.md)."""
    saved = json.loads(path.read_text())
    meta, done = saved["meta"], [r for r in saved["results"] if "skipped" not in r]
    lines = [
        f"{meta['dataset']}: {meta['rows']:,} x {meta['dim']}, {meta['queries']} queries, k={meta['k']}, "
        f"HNSW M={meta['hnsw']['M']} efConstruction={meta['hnsw']['efConstruction']}; {meta['date'][:10]}, "
        f"{meta['machine']['cpus']} cores, load average {meta['load_average_at_start'][0]:.1f} at start, "
        f"{meta['load_average_at_end'][0]:.1f} at end.",
        "",
        "| system | ingest rows/s | index build s | peak RSS (baseline) | disk | reopen + 1st query |",
        "|---|---|---|---|---|---|",
    ]
    for r in done:
        ingest = "–" if r["ingest_rows_per_s"] is None else f"{r['ingest_rows_per_s']:,.0f}"
        build = "during ingest" if r["build_during_ingest"] else f"{r['build_s']:.1f}"
        rss = f"{_mib(r['peak_rss_bytes'])} ({_mib(r['baseline_rss_bytes'])})"
        lines.append(f"| {r['system']} | {ingest} | {build} | {rss} | {_mib(r['disk_bytes'])} | {r['reopen_first_query_s']:.2f} s |")
    for mode, title in (("single", "Single queries, one thread"), ("batch", f"One batch of {meta['queries']} queries")):
        lines += ["", f"{title}: QPS (recall@10)", "", "| system | " + " | ".join(f"ef={ef}" for ef in EFS) + " |", "|---" * (len(EFS) + 1) + "|"]
        for r in done:
            cells = [f"{r[mode][str(ef)]['qps']:,.0f} ({r[mode][str(ef)]['recall']:.3f})" if str(ef) in r[mode] else "–" for ef in EFS]
            lines.append(f"| {r['system']} | " + " | ".join(cells) + " |")
    lines += ["", f"Filtered single queries (`bucket < p`), ef={meta['filter_ef']}: QPS (recall@10)", ""]
    lines += ["| system | " + " | ".join(f"{p}%" for p in SELECTIVITY) + " |", "|---" * (len(SELECTIVITY) + 1) + "|"]
    for r in done:
        for suffix, label in (("", r["system"]), (" widened", f"{r['system']} + the planner's ef")):
            if f"{SELECTIVITY[0]}%{suffix}" in r["filtered"]:
                cells = [f"{r['filtered'][f'{p}%{suffix}']['qps']:,.0f} ({r['filtered'][f'{p}%{suffix}']['recall']:.3f})" for p in SELECTIVITY]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
    control = next((r.get("same_index_control") for r in done if r["system"] == "embedb"), None)
    if control:
        lines += ["", "Same graph, same process: Faiss's own search of the HNSW graph EmbeDB built, and EmbeDB's whole search of it:", ""]
        lines += ["| ef | Faiss QPS | EmbeDB QPS | EmbeDB / Faiss | EmbeDB − Faiss per query |", "|---|---|---|---|---|"]
        for ef, v in control.items():
            lines.append(f"| {ef} | {v['faiss_qps']:,.0f} | {v['embedb_qps']:,.0f} | {v['ratio']:.2f} | {v['overhead_us']:.0f} µs |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="wordnet", choices=["wordnet", "clustered-100k", "clustered-1m"])
    parser.add_argument("--quick", action="store_true", help="a fifth of the rows and 200 queries")
    parser.add_argument("--systems", default=",".join(RUNNERS), help=f"comma-separated, from {', '.join(RUNNERS)}")
    parser.add_argument("--queries", type=int, default=None, help="held-out queries used (1000; 200 with --quick)")
    parser.add_argument("--box", type=float, default=20.0, help="seconds at most per single-query measurement")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds at most per system")
    parser.add_argument("--markdown", type=Path, help="print the tables of a results file as Markdown and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.markdown:
        print(markdown(args.markdown))
        return
    if args.worker:
        work = Path(args.work)
        result = run_worker(args.worker, Path(args.data), fresh_folder(work, args.worker), args.box)
        (work / f"{args.worker}.json").write_text(json.dumps(result, indent=2))
        return
    queries = args.queries or (200 if args.quick else 1000)
    cache = Path(tempfile.gettempdir()) / "embedb-bench-cache"
    console.print(f"preparing {args.dataset} (ground truth is cached in {cache}) …")
    data_path = prepare(args.dataset, args.quick, queries, cache)
    with np.load(data_path) as data:
        rows, dim = data["base"].shape
    meta = {
        "dataset": args.dataset + (" (quick)" if args.quick else ""),
        "rows": int(rows),
        "dim": int(dim),
        "queries": queries,
        "k": K,
        "hnsw": {"M": 16, "efConstruction": 200},
        "filter_ef": FILTER_EF,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "platform": platform.platform(), "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="embedb-search-bench-") as scratch:
        for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
            if system not in RUNNERS:
                results.append({"system": system, "skipped": f"unknown system; known: {', '.join(RUNNERS)}"})
                continue
            results.append(run_system(system, data_path, Path(scratch), args.box, args.timeout))
    meta["load_average_at_end"] = os.getloadavg()
    summary = report(results, meta)
    name = args.dataset + ("-quick" if args.quick else "")
    path = results_dir() / f"search-{name}.json"
    path.write_text(json.dumps({"meta": meta, "results": results, **summary}, indent=2, default=str))
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
