"""Drift detection: false alarms and power against sample size, on real MiniLM embeddings.

Data: ``../shared/data/wordnet`` (all-MiniLM-L6-v2 vectors of 116,659 WordNet
synsets; see its README). The stored corpus is 50,000 random synsets; samples
come from the other synsets. A *topic shift* draws a share ``rho`` of the current
sample from one k-means cluster (of 20) of the embeddings instead of at random —
queries turning to one subject; ``rho = 0`` is an A/A comparison and its detection
rate is the false-alarm rate. Each cell runs ``embedb.evaluation.drift.detect_drift``
(classifier, MMD and out-of-domain tests, alpha 0.05, 199 permutations) over 50
seeds, with nearest-neighbour distances to the corpus from an exact Faiss index.

Prints a table and writes ``benchmarks/results/drift.json``. Run: ``python benchmarks/drift.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from embedb.evaluation.drift import detect_drift

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wordnet"
RESULTS = Path(__file__).parent / "results" / "drift.json"
SIZES = (50, 100, 200, 500)
SHARES = (0.0, 0.1, 0.25, 0.5)
SEEDS = 50
PERMUTATIONS = 199


def main() -> None:
    vectors = np.load(DATA / "base_vectors.f16.npy").astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(vectors))
    corpus, pool = vectors[order[:50_000]], vectors[order[50_000:]]
    index = faiss.IndexFlatIP(corpus.shape[1])
    index.add(corpus)
    kmeans = faiss.Kmeans(corpus.shape[1], 20, niter=20, seed=1)
    kmeans.train(pool)
    _, clusters = kmeans.index.search(pool, 1)
    topic = np.nonzero(clusters[:, 0] == np.bincount(clusters[:, 0]).argmax())[0]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    rows = []
    for size in SIZES:
        for share in SHARES:
            found = 0
            for seed in range(SEEDS):
                local = np.random.default_rng(seed * 1_000 + size)
                reference = pool[local.choice(len(pool), size, replace=False)]
                shifted = round(share * size)
                current = np.vstack(
                    [
                        pool[local.choice(len(pool), size - shifted, replace=False)],
                        pool[local.choice(topic, shifted, replace=False)],
                    ]
                )
                far_reference = -index.search(reference, 1)[0][:, 0]
                far_current = -index.search(current, 1)[0][:, 0]
                report = detect_drift(
                    reference,
                    current,
                    reference_distances=far_reference,
                    current_distances=far_current,
                    permutations=PERMUTATIONS,
                    seed=seed,
                )
                found += report["detected"]
            rows.append({"size": size, "topic_share": share, "detection_rate": found / SEEDS})
    elapsed = time.perf_counter() - started
    table = Table(title=f"drift detected (share of {SEEDS} seeds), MiniLM on WordNet, alpha 0.05; load {load:.2f}")
    table.add_column("sample size")
    for share in SHARES:
        table.add_column("A/A (false alarms)" if share == 0 else f"{share:.0%} one topic")
    for size in SIZES:
        table.add_row(str(size), *(f"{r['detection_rate']:.2f}" for r in rows if r["size"] == size))
    Console().print(table)
    Console().print(f"{len(rows) * SEEDS} drift tests in {elapsed:.0f} s; topic cluster of {len(topic)} synsets")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": load,
                "seeds": SEEDS,
                "permutations": PERMUTATIONS,
                "rows": rows,
                "seconds": elapsed,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
