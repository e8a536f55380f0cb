"""Scalar indexes: filter latency on an indexed field vs the same filter scanned, in one run.

Two collections hold the same rows (``--rows`` random rows, sealed segments):
one with scalar indexes (STL_SORT on an INT32 field, INVERTED on a VARCHAR
field with ``--brands`` distinct values), one without. Each filter is run
with a different constant per call (so no remembered mask answers it) as a
query (``limit`` 100, keys only) and as a filtered search (top 10), and the
median latency of each is reported, with the first call (which sorts the
column of each sealed segment) apart.

Prints a table and writes ``benchmarks/results/scalar-index.json``.
Run: ``python benchmarks/scalar_index.py`` (about a minute); ``--quick``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import embedb

RESULTS = Path(__file__).parent / "results" / "scalar-index.json"
console = Console()


def schema() -> dict[str, Any]:
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "vector", "type": "FLOAT_VECTOR", "dim": 16},
            {"name": "year", "type": "INT32"},
            {"name": "brand", "type": "VARCHAR", "max_length": 16},
        ]
    }


def fill(db: embedb.Client, name: str, rows: int, brands: int) -> None:
    rng = np.random.default_rng(3)
    db.create_collection(name, schema=schema(), index_params=[{"field_name": "vector", "index_type": "HNSW"}])
    for at in range(0, rows, 50_000):
        n = min(50_000, rows - at)
        db.insert(
            name,
            {
                "id": np.arange(at, at + n),
                "vector": rng.normal(size=(n, 16)).astype(np.float32),
                "year": rng.integers(0, 100_000, n).astype(np.int32),
                "brand": [f"b{int(i):06d}" for i in rng.integers(0, brands, n)],
            },
        )
    db.flush(name)
    db.wait_for_index(name, "vector", timeout=900)


def median_ms(call: Callable[[int], Any], count: int) -> tuple[float, float]:
    """(first call ms, median of the next ``count`` calls ms); call i uses its own constant."""
    start = time.perf_counter()
    call(0)
    first = (time.perf_counter() - start) * 1000
    times = []
    for i in range(1, count + 1):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return round(first, 2), round(float(np.median(times)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--brands", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.calls = 50_000, 30
    load = os.getloadavg()[0]
    query = np.random.default_rng(9).normal(size=16).astype(np.float32)
    filters: dict[str, Callable[[int], str]] = {
        "year == c": lambda i: f"year == {(i * 7919) % 100_000}",
        "c <= year < c + 100": lambda i: f"{(i * 7919) % 99_900} <= year < {(i * 7919) % 99_900 + 100}",
        "brand == c": lambda i: f"brand == 'b{(i * 613) % args.brands:06d}'",
        "brand in [3 values]": lambda i: f"brand in {[f'b{(i * 613 + k) % args.brands:06d}' for k in range(3)]}",
    }
    results: dict[str, dict[str, Any]] = {}
    with embedb.connect(Path(tempfile.mkdtemp(prefix="embedb-scalar-bench-")) / "db") as db:
        fill(db, "indexed", args.rows, args.brands)
        fill(db, "scanned", args.rows, args.brands)
        db.create_index("indexed", field_name="year", index_type="STL_SORT")
        db.create_index("indexed", field_name="brand", index_type="INVERTED")
        segments = db.get_collection_stats("indexed")["sealed_segments"]
        for label, make in filters.items():
            for name in ("indexed", "scanned"):

                def querying(i: int, name: str = name, make: Callable[[int], str] = make) -> Any:
                    return db.query(name, make(i), output_fields=["id"], limit=100)

                def searching(i: int, name: str = name, make: Callable[[int], str] = make) -> Any:
                    return db.search(name, query, limit=10, filter=make(i))

                first_q, query_ms = median_ms(querying, args.calls)
                first_s, search_ms = median_ms(searching, args.calls)
                results.setdefault(label, {})[name] = {
                    "query_ms": query_ms,
                    "query_first_ms": first_q,
                    "search_ms": search_ms,
                    "search_first_ms": first_s,
                }
            # the same answers both ways (checked on one constant per filter)
            assert db.query("indexed", make(5), output_fields=["id"], limit=100) == db.query("scanned", make(5), output_fields=["id"], limit=100)
    table = Table(title=f"filters over {args.rows:,} rows in {segments} sealed segments: median ms per call, a new constant each call")
    for column in ("filter", "query scanned", "query indexed", "speed-up", "search scanned", "search indexed", "speed-up"):
        table.add_column(column, justify="left" if column == "filter" else "right")
    for label, both in results.items():
        scanned, indexed = both["scanned"], both["indexed"]
        table.add_row(
            label,
            f"{scanned['query_ms']}",
            f"{indexed['query_ms']}",
            f"{scanned['query_ms'] / indexed['query_ms']:.1f}x",
            f"{scanned['search_ms']}",
            f"{indexed['search_ms']}",
            f"{scanned['search_ms'] / indexed['search_ms']:.1f}x",
        )
    console.print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_at_start": round(load, 2)},
                "dataset": {"rows": args.rows, "brands": args.brands, "sealed_segments": segments, "kind": "random, seed 3"},
                "filters": results,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
