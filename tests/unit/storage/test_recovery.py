"""Opening a store: a read-only load that the writer outran is done again from scratch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.unit.storage.conftest import DIM, make_batch

from embedb.config import Settings
from embedb.schema import CollectionSchema
from embedb.storage import recovery
from embedb.storage.engine import StorageEngine
from embedb.storage.records import RowBatch


def test_a_read_only_retry_does_not_keep_rows_of_the_failed_attempt(
    tmp_path: Path, settings: Settings, schema: CollectionSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = StorageEngine(tmp_path, settings=settings)
    writer.create_collection("c", schema)
    store = writer.store(writer.collection("c"))
    store.insert(make_batch([1, 2]))
    # A second vector column (a new embedding version) freezes the growing segment during replay.
    wider = make_batch([3, 4])
    store.insert(RowBatch(wider.table, {**wider.vectors, "v2": np.ones((2, DIM), dtype=np.float32)}, 0))

    # The first load finds the log gone from under it and the catalog moved on: it is done again.
    calls = {"reaches_back": 0, "moved": 0}
    original = recovery._Loader._log_reaches_back_to

    def reaches_back(self: recovery._Loader, lsn: int) -> bool:
        calls["reaches_back"] += 1
        return calls["reaches_back"] > 1 and original(self, lsn)

    def moved(self: recovery._Loader, catalog_state: object, error: OSError | None) -> None:
        calls["moved"] += 1
        raise recovery._CatalogMoved()

    monkeypatch.setattr(recovery._Loader, "_log_reaches_back_to", reaches_back)
    monkeypatch.setattr(recovery._Loader, "_raise_if_moved", moved)
    reader = StorageEngine(tmp_path, settings=settings, read_only=True)
    snapshot = reader.store(reader.collection("c")).snapshot()
    keys = sorted(k for view in snapshot.segments for k in view.data.pks[~view.deleted].tolist())
    assert calls == {"reaches_back": 2, "moved": 1}
    assert keys == [1, 2, 3, 4], "each row once"
    reader.close()
    writer.close()
