"""Index tuning: how long ``tune_index`` takes, and the speed-up it finds over the default index at equal recall.

Data: ``../shared/data/wordnet`` (all-MiniLM-L6-v2, 384-d, COSINE): 50,000 synset
vectors stored in an EmbeDB collection (one sealed segment), the 1,000 held-out
query vectors with their exact top 100 (``query_gt_top100.npy``, restricted here to
the stored rows by exact search). ``tune_index`` runs 15 trials with recall@10 >= 0.95
on the whole collection (``sample_rows`` = all rows) with 500 of the query vectors
(as logged queries would be); then the default index (AUTOINDEX: HNSW M 16,
efConstruction 200, ef 64) and the tuned recipe are each built on the whole
collection and measured with the other, *unseen* 500 queries: recall@10 against exact
search, queries per second one query per call through ``db.search`` (embedded).

Prints a table and writes ``benchmarks/results/tune_index.json``. Run: ``python benchmarks/tune_index.py``.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

import embedb

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wordnet"
RESULTS = Path(__file__).parent / "results" / "tune_index.json"
ROWS, K, TARGET, TRIALS, SAMPLE = 50_000, 10, 0.95, 15, 50_000


def measure(db: Any, queries: np.ndarray, truth: np.ndarray, search_params: dict[str, Any] | None) -> dict[str, float]:
    found, started = 0, time.perf_counter()
    for position, query in enumerate(queries):
        hits = db.search("docs", query[None, :], limit=K, search_params=search_params)[0]
        found += len({hit["id"] for hit in hits} & set(truth[position].tolist()))
    elapsed = time.perf_counter() - started
    return {"recall": found / truth.size, "qps": len(queries) / elapsed}


def main() -> None:
    vectors = np.load(DATA / "base_vectors.f16.npy")[:ROWS].astype(np.float32)
    every_query = np.load(DATA / "query_vectors.npy").astype(np.float32)
    tuning_queries, queries = every_query[:500], every_query[500:]  # tuned on one half, measured on the other
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth = exact.search(queries, K)[1]
    load = os.getloadavg()[0]
    console = Console()
    with tempfile.TemporaryDirectory() as folder:
        db = embedb.connect(Path(folder) / "data")
        db.create_collection("docs", dimension=vectors.shape[1], metric_type="COSINE")
        for start in range(0, ROWS, 5_000):
            db.insert("docs", {"id": list(range(start, start + 5_000)), "vector": vectors[start : start + 5_000]})
        db.flush("docs")
        db.create_index("docs", field_name="vector", index_type="AUTOINDEX", sync=True)
        default = measure(db, queries, truth, None)
        started = time.perf_counter()
        report = db.tune_index(
            "docs",
            "vector",
            recall=TARGET,
            k=K,
            trials=TRIALS,
            sample_rows=SAMPLE,
            queries={"vectors": tuning_queries},
            apply=True,
        )
        tuning_s = time.perf_counter() - started
        best = report["best"]
        tuned = measure(db, queries, truth, {"params": best["search_params"]}) if best else {"recall": 0.0, "qps": 0.0}
        db.close()
    table = Table(
        title=f"MiniLM WordNet, {ROWS:,} rows, recall@{K} target {TARGET}, 500 unseen queries; load {load:.2f}"
    )
    for column in ("index", "recall@10", "QPS (1 query per call)"):
        table.add_column(column)
    table.add_row("AUTOINDEX (HNSW M16 efC200, ef 64)", f"{default['recall']:.4f}", f"{default['qps']:,.0f}")
    if best:
        label = f"tuned: {best['index_type']} {json.dumps(best['params'])} {json.dumps(best['search_params'])}"
        table.add_row(label, f"{tuned['recall']:.4f}", f"{tuned['qps']:,.0f}")
    console.print(table)
    console.print(
        f"tune_index: {TRIALS} trials in {tuning_s:.0f} s (apply included); {len(report['pareto'])} points on the front"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": load,
                "rows": ROWS,
                "default": default,
                "tuned": tuned,
                "best": best,
                "tuning_seconds": tuning_s,
                "pareto": report["pareto"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
