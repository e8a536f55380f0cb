"""Regressions found by adversarial testing of the HNSW kernel and the search short path.

- COSINE is scale-free, but a finite query whose squared norm overflows float32
  (entries around 1e19 and up) was normalised to the zero vector: every hit came
  back with distance 0 and arbitrary ids. Tiny queries (squared norm underflows
  to 0) were left unnormalised: right ids, distances of 1e-25 instead of the cosine.
  Both the short path (the kernel's ``normalize``) and the general path
  (``prepare_queries``) did it.
- A search that reads the collection's info, then finds the collection dropped,
  raised a bare ``AssertionError`` from the storage engine instead of a typed error.
- An index file whose ``IndexIDMap`` labels are not rows of the segment was
  trusted: its ids came back as rows (an ``IndexError`` past the end, another
  row's key for a negative label).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss as faiss_module
import numpy as np
import pytest

import embedb
from embedb.errors import EmbedbError, StorageError
from embedb.index.faiss_index import FaissIndex
from embedb.index.vector_index import IndexSpec
from embedb.schema import MetricType

faiss: Any = faiss_module
DIM = 16
ROWS = 3000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[embedb.Client]:
    client = embedb.connect(tmp_path / "data", durability="relaxed", background_compaction=False)
    yield client
    client.close()


def _vectors() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((ROWS, DIM)).astype(np.float32), rng.standard_normal((8, DIM)).astype(np.float32)


def _indexed(db: embedb.Client) -> tuple[np.ndarray, np.ndarray]:
    vectors, queries = _vectors()
    db.create_collection("c", dimension=DIM)
    db.insert("c", {"id": np.arange(ROWS), "vector": vectors})
    db.flush("c")
    db.wait_for_index("c", "vector", timeout=300)
    db.search("c", queries[:1], limit=1)  # a general search first: later plain ones take the short path
    return vectors, queries


@pytest.mark.parametrize("scale", [1e20, 1e30, 1e-25])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["short-path", "general-path"])
def test_cosine_ranks_and_scores_a_scaled_query_like_the_query(db: embedb.Client, scale: float, dtype: Any) -> None:
    _, queries = _indexed(db)
    plain = db.search("c", queries, limit=10)
    with np.errstate(over="ignore", under="ignore"):
        scaled = db.search("c", (queries.astype(np.float64) * scale).astype(dtype), limit=10)
    assert [[h["id"] for h in q] for q in scaled] == [[h["id"] for h in q] for q in plain]
    got = np.array([[h["distance"] for h in q] for q in scaled])
    want = np.array([[h["distance"] for h in q] for q in plain])
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_a_search_that_races_a_drop_collection_raises_a_typed_error(db: embedb.Client) -> None:
    db.create_collection("c", dimension=8)
    db.insert("c", {"id": np.arange(10), "vector": np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32)})
    hold = db.database.pause_points.hold("search.bindings_read")  # type: ignore[attr-defined]
    outcome: dict[str, Any] = {}

    def search() -> None:
        try:
            outcome["result"] = db.search("c", np.ones((1, 8), np.float32), limit=3, filter="id >= 0")
        except Exception as error:  # the test inspects it
            outcome["error"] = error

    thread = threading.Thread(target=search)
    thread.start()
    assert hold.reached.wait(10)
    db.drop_collection("c")
    hold.release()
    thread.join(30)
    error = outcome.get("error")
    assert error is None or isinstance(error, EmbedbError), f"untyped {type(error).__name__}: {error}"


@pytest.mark.parametrize("shift", [-3, 3])
def test_an_index_file_whose_labels_are_not_its_rows_is_refused(tmp_path: Path, shift: int) -> None:
    vectors, _ = _vectors()
    raw = faiss.IndexIDMap(faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT))
    raw.add_with_ids(vectors, np.arange(ROWS, dtype=np.int64) + shift)
    path = tmp_path / "ann.faiss"
    faiss.write_index(raw, str(path))
    index = FaissIndex(IndexSpec("HNSW", MetricType.IP, {"M": 16, "efConstruction": 40}), DIM)
    with pytest.raises(StorageError):
        index.load(path)


def test_an_index_file_over_other_rows_is_rebuilt_on_open(tmp_path: Path) -> None:
    vectors, _ = _vectors()
    settings: dict[str, Any] = {"durability": "relaxed", "verify_checksums": False}  # a foreign file passes the checksums
    db = embedb.connect(tmp_path / "data", **settings)
    db.create_collection("c", dimension=DIM)
    db.insert("c", {"id": np.arange(ROWS), "vector": vectors})
    db.flush("c")
    db.wait_for_index("c", "vector", timeout=300)
    db.close()
    (path,) = (tmp_path / "data").rglob("ann.*.faiss")
    small = faiss.IndexIDMap(faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT))
    small.add_with_ids(vectors[:100], np.arange(100, dtype=np.int64))  # a valid permutation, of the wrong rows
    faiss.write_index(small, str(path))
    db = embedb.connect(tmp_path / "data", **settings)
    try:
        description = db.wait_for_index("c", "vector", timeout=300)
        assert (description["state"], description["indexed_rows"]) == ("Finished", ROWS)
        last = db.search("c", vectors[-1:], limit=1)[0][0]
        assert last["id"] == ROWS - 1, "the rebuilt index covers every row"
    finally:
        db.close()
