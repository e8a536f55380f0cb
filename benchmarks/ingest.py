"""Ingest benchmark: insert rate, flush time, and reopen plus first query, on the embedded engine.

Dataset: ``--rows`` rows (100k by default) of a ``--dim``-d float32 vector (384,
COSINE) and two scalar fields, ``n`` (INT64) and ``tag`` (VARCHAR(64)); the
primary key is an INT64. Vectors are random normal (a fixed seed); their
values do not matter to the write path.

For each durability (``fsync``, the default, and ``relaxed``), batch size
(1k, 10k) and input shape (``columnar``: a dict of NumPy arrays and a list of
strings; ``rows``: a list of row dicts with the vector as a Python list, as
pymilvus users write it) the script inserts every row into a fresh data
directory, then flushes (seals into segment files), closes, reopens and runs a
first exact search. Building the input is not timed. With ``--index`` it also
measures a collection that declares an HNSW index: the time to reopen and
answer a first query while the index is still building (searched exactly
until it is ready), and the time until every segment's index is ready.

Each run first appends the same number of bytes bare (``os.write``, plus
``os.fsync`` per batch for the ``fsync`` durability) to the same directory:
that "disk ceiling" is what the disk allows at that moment, so the insert rate
can be read against it rather than against a number from another day.

With ``--repeat N`` every configuration runs N times: the table shows the
fastest insert rate and the median one, flush and reopen times are medians,
and the JSON keeps every run. On a shared VM the disk and the CPUs are shared
too, so the spread is wide; the JSON records the load average.

Run: ``python benchmarks/ingest.py --repeat 3`` (a few minutes on 2 cores;
``--index`` adds an HNSW build, several more); ``--quick`` for a 20k-row smoke
run. Prints a rich table and writes ``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import embedb
from embedb import CollectionSchema, DataType, FieldSchema, MetricType

RESULTS = Path(__file__).parent / "results" / "ingest.json"
COLLECTION = "bench"


@dataclass(frozen=True)
class Dataset:
    ids: np.ndarray
    vectors: np.ndarray
    n: np.ndarray
    tags: list[str]

    @property
    def rows(self) -> int:
        return int(self.ids.size)

    def columns(self, start: int, stop: int) -> dict[str, Any]:
        return {
            "id": self.ids[start:stop],
            "vector": self.vectors[start:stop],
            "n": self.n[start:stop],
            "tag": self.tags[start:stop],
        }

    def row_dicts(self) -> list[dict[str, Any]]:
        vectors = self.vectors.tolist()
        return [
            {"id": key, "vector": vector, "n": n, "tag": tag}
            for key, vector, n, tag in zip(self.ids.tolist(), vectors, self.n.tolist(), self.tags, strict=True)
        ]


def make_dataset(rows: int, dim: int) -> Dataset:
    rng = np.random.default_rng(42)
    return Dataset(
        ids=np.arange(rows, dtype=np.int64),
        vectors=rng.standard_normal((rows, dim), dtype=np.float32),
        n=rng.integers(0, 1_000, rows, dtype=np.int64),
        tags=[f"tag-{i % 997}-{i}" for i in range(rows)],
    )


def schema(dim: int) -> CollectionSchema:
    return CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=dim, metric_type=MetricType.COSINE),
            FieldSchema("n", DataType.INT64),
            FieldSchema("tag", DataType.VARCHAR, max_length=64),
        )
    )


@dataclass
class Result:
    durability: str
    batch: int
    input: str
    rows: int
    insert_s: float
    rows_per_s: float
    flush_s: float
    reopen_first_query_s: float
    first_query_hits: int
    disk_ceiling_rows_per_s: float  # the same bytes appended bare, just before (see disk_ceiling)
    median_rows_per_s: float = 0.0
    median_disk_ceiling_rows_per_s: float = 0.0
    all_rows_per_s: list[int] = field(default_factory=list)  # every run, when repeated


@contextmanager
def fresh_directory() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="embedb-bench-", dir=os.environ.get("EMBEDB_BENCH_DIR")))
    try:
        yield root / "data"
    finally:
        shutil.rmtree(root, ignore_errors=True)


# Settings that keep the timed work to what is measured: no background seal or
# compaction in the middle of the insert loop, no index unless asked.
ENGINE: dict[str, Any] = {"background_compaction": False, "background_interval_s": 3600.0}


def disk_ceiling(folder: Path, *, rows: int, row_bytes: int, batch: int, fsync: bool) -> float:
    """Rows/s of a bare append of the same bytes in the same batches (with fsync when asked): what the disk allows now."""
    payload = b"\x5a" * (row_bytes * batch)
    path = folder / "ceiling.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        started = time.perf_counter()
        for _ in range(0, rows, batch):
            os.write(fd, payload)
            if fsync:
                os.fsync(fd)
        elapsed = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink()
    return rows / elapsed


def run_one(data: Dataset, rows: list[dict[str, Any]] | None, *, durability: str, batch: int, shape: str) -> Result:
    query = data.vectors[:1]
    with fresh_directory() as path:
        path.mkdir(parents=True)
        # A WAL row: the vector, the two scalars and Arrow's framing (about 40 bytes).
        row_bytes = data.vectors.shape[1] * 4 + 40
        ceiling = disk_ceiling(path, rows=data.rows, row_bytes=row_bytes, batch=batch, fsync=durability == "fsync")
        db = embedb.connect(path, durability=durability, **ENGINE)
        db.create_collection(COLLECTION, schema=schema(data.vectors.shape[1]))
        batches: list[Any] = [
            data.columns(start, start + batch) if rows is None else rows[start : start + batch]
            for start in range(0, data.rows, batch)
        ]
        gc.collect()
        started = time.perf_counter()
        for chunk in batches:
            db.insert(COLLECTION, chunk)
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        db.flush(COLLECTION)
        flush_s = time.perf_counter() - started
        db.close()
        del batches
        started = time.perf_counter()
        db = embedb.connect(path, durability=durability, **ENGINE)
        hits = db.search(COLLECTION, query, limit=10)
        reopen_s = time.perf_counter() - started
        assert hits[0][0]["id"] == 0, "the first query finds the row it was taken from"
        assert db.query(COLLECTION, "", output_fields=["count(*)"])[0]["count(*)"] == data.rows
        db.close()
    return Result(
        durability, batch, shape, data.rows, insert_s, data.rows / insert_s, flush_s, reopen_s, len(hits[0]), ceiling
    )


def run_index(data: Dataset) -> dict[str, float]:
    """A collection that declares an HNSW index: reopen + first query before and after the index is built."""
    query = data.vectors[:1]
    index_params = [
        {
            "field_name": "vector",
            "index_type": "HNSW",
            "metric_type": "COSINE",
            "params": {"M": 16, "efConstruction": 100},
        }
    ]
    with fresh_directory() as path:
        db = embedb.connect(path, **ENGINE)
        db.create_collection(COLLECTION, schema=schema(data.vectors.shape[1]), index_params=index_params)
        (index_name,) = db.list_indexes(COLLECTION)
        started = time.perf_counter()
        for start in range(0, data.rows, 10_000):
            db.insert(COLLECTION, data.columns(start, start + 10_000))
        db.flush(COLLECTION)
        insert_flush_s = time.perf_counter() - started
        db.close()  # the index build has not finished: it goes on after the reopen
        started = time.perf_counter()
        db = embedb.connect(path, **ENGINE)
        first = db.search(COLLECTION, query, limit=10)
        not_built_s = time.perf_counter() - started
        state = db.wait_for_index(COLLECTION, index_name)
        build_s = time.perf_counter() - started
        assert state["state"] == "Finished", state
        db.close()
        started = time.perf_counter()
        db = embedb.connect(path, **ENGINE)
        second = db.search(COLLECTION, query, limit=10)
        built_s = time.perf_counter() - started
        db.close()
    assert first[0][0]["id"] == second[0][0]["id"] == 0
    return {
        "insert_and_flush_s": insert_flush_s,
        "reopen_first_query_index_not_built_s": not_built_s,
        "index_ready_after_reopen_s": build_s,
        "reopen_first_query_index_built_s": built_s,
    }


def print_table(results: list[Result], console: Console) -> None:
    table = Table(title="EmbeDB ingest (embedded)")
    columns = (
        "durability",
        "batch",
        "input",
        "rows/s best",
        "rows/s median",
        "disk ceiling median",
        "flush s",
        "reopen+query s",
    )
    for column in columns:
        table.add_column(column, justify="right" if column not in ("durability", "input") else "left")
    for r in results:
        table.add_row(
            r.durability,
            f"{r.batch:,}",
            r.input,
            f"{r.rows_per_s:,.0f}",
            f"{r.median_rows_per_s:,.0f}",
            f"{r.median_disk_ceiling_rows_per_s:,.0f}",
            f"{r.flush_s:.2f}",
            f"{r.reopen_first_query_s:.3f}",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--quick", action="store_true", help="20k rows, a smoke run")
    parser.add_argument("--index", action="store_true", help="also measure a collection with an HNSW index")
    parser.add_argument("--only", choices=["columnar", "rows"], help="one input shape")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration; the fastest is reported")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows_total = 20_000 if args.quick else args.rows
    load_before = os.getloadavg()
    console = Console(width=max(120, Console().width))
    data = make_dataset(rows_total, args.dim)
    shapes = [args.only] if args.only else ["columnar", "rows"]
    row_dicts = data.row_dicts() if "rows" in shapes else None
    # One untimed pass first: lazy imports (pyarrow pulls in pandas on its
    # first conversion of a Python list) and the first touch of fresh memory
    # are once-per-process costs, not ingest rates.
    run_one(make_dataset(min(rows_total, 20_000), args.dim), None, durability="relaxed", batch=10_000, shape="columnar")
    results: list[Result] = []
    for durability in ("fsync", "relaxed"):
        for batch in (1_000, 10_000):
            for shape in shapes:
                runs = [
                    run_one(
                        data, row_dicts if shape == "rows" else None, durability=durability, batch=batch, shape=shape
                    )
                    for _ in range(args.repeat)
                ]
                result = min(runs, key=lambda r: r.insert_s)
                result.median_rows_per_s = statistics.median(r.rows_per_s for r in runs)
                result.median_disk_ceiling_rows_per_s = statistics.median(r.disk_ceiling_rows_per_s for r in runs)
                result.flush_s = statistics.median(r.flush_s for r in runs)
                result.reopen_first_query_s = statistics.median(r.reopen_first_query_s for r in runs)
                result.all_rows_per_s = [round(r.rows_per_s) for r in runs]
                console.print(f"{durability:8} batch {batch:>6,} {shape:8} {result.rows_per_s:>10,.0f} rows/s")
                results.append(result)
    print_table(results, console)
    extra = run_index(data) if args.index else {}
    if extra:
        console.print(extra)
    report = {
        "benchmark": "ingest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "repeat": args.repeat,
        "dataset": {"rows": rows_total, "dim": args.dim, "dtype": "float32", "scalars": ["n INT64", "tag VARCHAR(64)"]},
        "results": [asdict(r) for r in results],
        "index": extra,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
