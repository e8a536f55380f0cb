"""Measure what the search planner's constants are made of (embedb.search.planner.CostModel, WIDEN).

For one generated clustered dataset it times, on this machine:

- the exact scan of ``count`` allowed rows (single query, and per query in a batch),
- Faiss HNSW with the filter bitmap in the kernel, per unit of ``ef``,
- the filtered recall@10 of HNSW as ``ef`` grows, at several selectivities,

and prints the ratios the cost model uses. Run:
``python benchmarks/planner_calibration.py --rows 50000 --dim 128``; results go to
``benchmarks/results/planner-calibration-<rows>x<dim>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import faiss as faiss_module
import numpy as np

from embedb.query.exact import exact_search
from embedb.schema import MetricType
from search_data import clustered_vectors, results_dir

faiss: Any = faiss_module  # its bundled stubs lack the SearchParameters keywords


def _time(fn: Any, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    n, d, nq = args.rows, args.dim, args.queries
    data = clustered_vectors(n + nq, d, seed=7)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    base, queries = np.ascontiguousarray(data[:n]), np.ascontiguousarray(data[n:])
    norms = np.ones(n, dtype=np.float32)
    rng = np.random.default_rng(1)
    order = rng.permutation(n)

    exact_single, exact_batch = {}, {}
    for count in (500, 1000, 2000, 5000, 10000, 20000):
        if count > n // 2:
            continue
        allowed = np.zeros(n, dtype=bool)
        allowed[order[:count]] = True
        exact_single[count] = _time(lambda a=allowed: exact_search(queries[:1], base, norms, MetricType.IP, 10, a), 30)
        exact_batch[count] = _time(lambda a=allowed: exact_search(queries[:100], base, norms, MetricType.IP, 10, a), 3) / 100

    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(d, 16, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    index.add(base)
    build_s = time.perf_counter() - started

    hnsw_single: dict[int, float] = {}
    recall: dict[str, dict[int, float]] = {}
    for percent in (1, 2, 5, 10, 25, 50):
        count = n * percent // 100
        allowed = np.zeros(n, dtype=bool)
        allowed[order[:count]] = True
        bitmap = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(bitmap.size, faiss.swig_ptr(bitmap))
        _, truth = exact_search(queries, base, norms, MetricType.IP, 10, allowed)
        recall[f"{percent}%"] = {}
        for ef in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096):
            params = faiss.SearchParametersHNSW(efSearch=ef, sel=selector)
            _, found = index.search(queries, 10, params=params)
            hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, truth, strict=True))
            recall[f"{percent}%"][ef] = hits / truth.size
            if percent == 10:
                hnsw_single[ef] = _time(lambda p=params: index.search(queries[:1], 10, params=p), 50)

    per_row_single = np.median([t / c for c, t in exact_single.items()])
    per_row_batch = np.median([t / c for c, t in exact_batch.items()])
    per_ef = np.median([t / ef for ef, t in hnsw_single.items() if ef >= 64])
    result = {
        "rows": n,
        "dim": d,
        "hnsw_build_s": build_s,
        "exact_single_s": exact_single,
        "exact_batch_per_query_s": exact_batch,
        "hnsw_filtered_single_s": hnsw_single,
        "filtered_recall_at_10": recall,
        "ratios": {
            "hnsw_per_ef / exact_per_row (single)": per_ef / per_row_single,
            "exact_batch_per_row / exact_per_row (single)": per_row_batch / per_row_single,
        },
    }
    print(json.dumps(result["ratios"], indent=2))
    for key, row in recall.items():
        print(f"filtered recall@10 at {key}: " + ", ".join(f"ef={ef} {value:.3f}" for ef, value in row.items()))
    path = results_dir() / f"planner-calibration-{n}x{d}.json"
    Path(path).write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
