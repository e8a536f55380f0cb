from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from embedb.config import Settings
from embedb.schema import CollectionSchema
from embedb.storage.engine import StorageEngine
from embedb.storage.records import RowBatch

DIM = 4


def make_batch(ids: list[int], *, partition_id: int = 0, seed: int = 0) -> RowBatch:
    rng = np.random.default_rng(seed + (ids[0] if ids else 0))
    table = pa.table({"id": pa.array(ids, pa.int64()), "$meta": pa.array(["{}"] * len(ids))})
    return RowBatch(table, {"vector": rng.random((len(ids), DIM), dtype=np.float32) + 0.01}, partition_id)


@pytest.fixture
def settings() -> Settings:
    return Settings(background_compaction=False, background_interval_s=3600)


@pytest.fixture
def engine(tmp_path: Path, settings: Settings) -> Iterator[StorageEngine]:
    eng = StorageEngine(tmp_path / "data", settings=settings)
    yield eng
    eng.close()


@pytest.fixture
def schema() -> CollectionSchema:
    return CollectionSchema.quick(dimension=DIM)
