"""Writes BM25 documents (inserts, upserts, deletes) into a collection until killed; prints "ack N" after each call."""

from __future__ import annotations

import random
import sys

import embedb

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]


def main(path: str, seed: int) -> None:
    rng = random.Random(seed)
    db = embedb.connect(path)
    if not db.has_collection("docs"):
        db.create_collection(
            "docs",
            schema={
                "fields": [
                    {"name": "id", "type": "INT64", "is_primary": True},
                    {"name": "text", "type": "VARCHAR", "max_length": 400, "enable_analyzer": True},
                    {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"},
                ],
                "functions": [
                    {"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}
                ],
            },
        )
    print("ready", flush=True)
    for number in range(1, 100_000):
        keys = [rng.randrange(2000) for _ in range(rng.randrange(1, 40))]
        if rng.random() < 0.2:
            db.delete("docs", ids=keys)
        else:
            rows = {key: " ".join(rng.choices(WORDS, k=rng.randrange(1, 12))) for key in keys}
            db.upsert("docs", [{"id": key, "text": text} for key, text in rows.items()])
        if number % 25 == 0:
            db.flush("docs")
        print(f"ack {number}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
