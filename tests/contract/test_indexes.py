"""Indexes over the contract: create/list/describe/drop and their errors are the same embedded and over HTTP."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import FieldNotFoundError, IndexAlreadyExistsError, IndexNotFoundError, InvalidArgumentError
from embedb.milvus import IndexParams

DIM = 8
ROWS = 1500  # above Settings.index_min_rows once flushed, so the segment gets a real index


@pytest.fixture
def collection(db: Client, name: str) -> str:
    db.create_collection(name, dimension=DIM)
    vectors = np.random.default_rng(3).random((ROWS, DIM), dtype=np.float32)
    db.insert(name, {"id": np.arange(ROWS), "vector": vectors, "kind": [i % 3 for i in range(ROWS)]})
    db.flush(name)
    return name


def test_quick_setup_has_an_autoindex_that_says_what_it_picked(db: Client, collection: str) -> None:
    assert db.list_indexes(collection) == ["vector"]
    description = db.wait_for_index(collection, "vector", timeout=120)
    assert description["index_type"] == "HNSW" and description["requested_index_type"] == "AUTOINDEX"
    assert description["state"] == "Finished" and description["indexed_rows"] == ROWS
    hits = db.search(collection, np.full(DIM, 0.5), limit=3, filter="kind == 1", search_params={"params": {"ef": 16}})
    assert len(hits[0]) == 3 and all(h["id"] % 3 == 1 for h in hits[0])


def test_replace_an_index_with_index_params(db: Client, collection: str) -> None:
    db.drop_index(collection, "vector")
    assert db.list_indexes(collection) == []
    params = IndexParams()
    params.add_index(field_name="vector", index_type="IVF_FLAT", index_name="ivf", metric_type="COSINE", params={"nlist": 8})
    db.create_index(collection, list(params))
    assert db.list_indexes(collection, field_name="vector") == ["ivf"]
    description = db.describe_index(collection, "ivf")
    assert (description["nlist"], description["state"]) == (8, "Finished")
    assert len(db.search(collection, np.full(DIM, 0.5), limit=4, search_params={"nprobe": 4})[0]) == 4


def test_index_errors_are_the_same_both_ways(db: Client, collection: str) -> None:
    with pytest.raises(IndexAlreadyExistsError):
        db.create_index(collection, field_name="vector", index_type="IVF_FLAT")
    with pytest.raises(InvalidArgumentError, match="M=1"):
        db.create_index(collection, field_name="vector", index_type="HNSW", params={"M": 1})
    with pytest.raises(InvalidArgumentError, match="unknown index_type"):
        db.create_index(collection, field_name="vector", index_type="SPARSE")
    with pytest.raises(FieldNotFoundError):
        db.create_index(collection, field_name="nope", index_type="HNSW")
    with pytest.raises(IndexNotFoundError):
        db.describe_index(collection, "nope")
    with pytest.raises(IndexNotFoundError):
        db.drop_index(collection, "nope")
    with pytest.raises(InvalidArgumentError, match="ef=2"):
        db.search(collection, np.full(DIM, 0.5), limit=5, search_params={"ef": 2})
