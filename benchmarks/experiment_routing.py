"""Experiment routing benchmark: what an online experiment adds to the latency of one text search.

Dataset: ``--rows`` short texts (20k by default) in a collection whose vector field
is bound to a toy hashing embedder (``embedb.models.testing:hash_embed_16``,
registered twice as versions 1 and 2, so both arms cost the same and the numbers
show routing alone). Searches are single text queries, ``limit=10``, run one
after another on one thread.

Cases, each timed over ``--queries`` searches after a warm-up:

- ``baseline``: no experiment anywhere (the hot path checks one dict);
- ``other collection``: an experiment runs on another collection (same check);
- ``split``: routed to one arm, hits tagged, the query logged (queued);
- ``shadow``: the champion answers, the challenger runs on the background thread;
- ``interleave``: both arms search and team draft merges them.

Run: ``python benchmarks/experiment_routing.py`` (under a minute on 2 cores).
Prints a rich table and writes ``benchmarks/results/experiment_routing.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import embedb
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

WORDS = [f"w{i}" for i in range(2000)]
RESULTS = Path(__file__).resolve().parent / "results" / "experiment_routing.json"


def schema() -> CollectionSchema:
    return CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=200),
            VectorField("embedding", source="text", model="toy@champion", metric_type="COSINE"),
        )
    )


def build(db: embedb.Backend, name: str, rows: int, rng: random.Random) -> None:
    db.create_collection(name, schema=schema())
    for start in range(0, rows, 5000):
        batch = [{"id": i, "text": " ".join(rng.sample(WORDS, 4))} for i in range(start, min(rows, start + 5000))]
        db.insert(name, batch)
    db.flush(name)
    db.add_embedding_version(name, "embedding", "toy/2", wait=True, timeout=600)


def timed(db: embedb.Backend, queries: list[str], *, user_keys: bool = False) -> dict[str, float]:
    latencies = []
    for position, text in enumerate(queries):
        extra: dict[str, Any] = {"user_key": f"user-{position % 100}"} if user_keys else {}
        started = time.perf_counter()
        db.search("docs", text, limit=10, **extra)
        latencies.append((time.perf_counter() - started) * 1e6)
    values = np.asarray(latencies)
    return {
        "p50_us": float(np.percentile(values, 50)),
        "p99_us": float(np.percentile(values, 99)),
        "mean_us": float(values.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(0)
    queries = [" ".join(rng.sample(WORDS, 3)) for _ in range(args.queries)]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as directory, embedb.connect(Path(directory) / "data") as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="challenger")
        build(db, "docs", args.rows, rng)
        build(db, "other", 100, rng)
        timed(db, queries[:200])  # warm-up
        results["baseline"] = timed(db, queries)
        other = db.start_experiment("other", "embedding", champion="toy@champion", challenger="toy/2", mode="split")
        results["other collection"] = timed(db, queries)
        db.stop_experiment(other["experiment_id"])
        for mode in ("split", "shadow", "interleave"):
            started = db.start_experiment("docs", "embedding", champion="toy@champion", challenger="toy/2", mode=mode)
            results[mode] = timed(db, queries, user_keys=mode == "split")
            db.stop_experiment(started["experiment_id"])  # flushes the log and waits for shadow searches
    base = results["baseline"]["p50_us"]
    table = Table(
        "case", "p50 µs", "p99 µs", "mean µs", "p50 overhead µs", title=f"text search, {args.rows:,} rows, limit 10"
    )
    for case, numbers in results.items():
        table.add_row(
            case,
            f"{numbers['p50_us']:.0f}",
            f"{numbers['p99_us']:.0f}",
            f"{numbers['mean_us']:.0f}",
            f"{numbers['p50_us'] - base:+.0f}",
        )
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "experiment_routing",
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
                "rows": args.rows,
                "queries": args.queries,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
