"""The crash tests' workload: numbered batches whose content is a pure function of (seed, number).

The writer process and the checking test derive the same batch from its number,
so the child only has to report *which* batches were acknowledged. Every row a
batch writes carries the batch number in ``n`` and ``tag``, so a row read back
tells which write made it, and its vector can be recomputed and compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import embedb
from embedb import CollectionSchema, DataType, FieldSchema, MetricType

DIM = 8
COLLECTION = "crash"
KEY_STRIDE = 10_000  # batch b inserts keys from b * KEY_STRIDE
HOT_KEYS = 40  # upserts and deletes aim at the first keys of earlier batches
SMALL_SEGMENTS: dict[str, Any] = {
    # Small enough that a round seals and merges segments several times.
    "segment_max_rows": 1_500,
    "compaction_min_segment_rows": 1_200,
}


@dataclass(frozen=True)
class Batch:
    number: int
    op: str  # "insert", "upsert" or "delete"
    keys: np.ndarray
    vectors: np.ndarray  # (len(keys), DIM); empty for deletes

    def rows(self) -> dict[str, Any]:
        """Columnar input for insert/upsert."""
        return {
            "id": self.keys,
            "vector": self.vectors,
            "n": np.full(self.keys.size, self.number, dtype=np.int64),
            "tag": [f"b{self.number}"] * self.keys.size,
        }


def batch(seed: int, number: int) -> Batch:
    """Batch ``number`` (1, 2, ...) of the workload ``seed``."""
    rng = np.random.default_rng([seed, number])
    roll = rng.random()
    size = int(
        rng.integers(1, 20) if roll < 0.6 else rng.integers(20, 300) if roll < 0.92 else rng.integers(1_000, 2_500)
    )
    op = "insert" if number < 3 else str(rng.choice(["insert", "upsert", "delete"], p=[0.5, 0.3, 0.2]))
    if op == "insert":
        keys = number * KEY_STRIDE + np.arange(size, dtype=np.int64)
    else:
        earlier = rng.integers(1, number, size=min(size, 60))
        keys = np.unique(earlier * KEY_STRIDE + rng.integers(0, HOT_KEYS, size=earlier.size))
        if op == "upsert":
            fresh = number * KEY_STRIDE + np.arange(max(0, size - keys.size), dtype=np.int64)
            keys = np.concatenate([keys, fresh])
    vectors = (
        rng.standard_normal((keys.size, DIM)).astype(np.float32) if op != "delete" else np.empty((0, DIM), np.float32)
    )
    return Batch(number, op, keys, vectors)


def apply(model: dict[int, int], seed: int, number: int) -> None:
    """Apply batch ``number`` to a model ``{key: number of the batch that wrote the row}``."""
    b = batch(seed, number)
    if b.op == "delete":
        for key in b.keys.tolist():
            model.pop(key, None)
    else:
        for key in b.keys.tolist():
            model[key] = number


def create(path: str) -> None:
    with embedb.connect(path, background_compaction=False) as db:
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM, metric_type=MetricType.L2),
                FieldSchema("n", DataType.INT64),
                FieldSchema("tag", DataType.VARCHAR, max_length=16),
            )
        )
        db.create_collection(COLLECTION, schema=schema)
