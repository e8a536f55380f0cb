"""``search_iterator``: pages by a distance cursor, so it walks past the most one search may return."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.client import Client
from embedb.contract import MAX_SEARCH_LIMIT
from embedb.errors import InvalidArgumentError

DIM = 8
MANY = MAX_SEARCH_LIMIT + 1_200


@pytest.fixture(scope="module")
def many_vectors() -> np.ndarray:
    """Rows in runs of three identical vectors, so that pages end inside runs of equal distances."""
    distinct = np.random.default_rng(5).standard_normal((MANY // 3 + 1, DIM)).astype(np.float32)
    return np.repeat(distinct, 3, axis=0)[:MANY]


def fill(db: Client, name: str, metric: str, vectors: np.ndarray, *, index_type: str | None = None) -> list[int]:
    """Half the rows in a sealed segment, half in the growing one (pages merge across segments); their ids.

    The sealed segment is scanned exactly, or searched through a built ``index_type``
    index — never an index that a background build publishes halfway through a walk,
    which may change a distance in its last bits.
    """
    db.create_collection(name, dimension=DIM, metric_type=metric)
    db.drop_index(name, "vector")  # quick setup's AUTOINDEX
    ids = np.arange(len(vectors))
    half = len(vectors) // 2
    db.insert(name, {"id": ids[:half], "vector": vectors[:half], "group": (ids[:half] % 3).tolist()})
    db.flush(name)
    db.insert(name, {"id": ids[half:], "vector": vectors[half:], "group": (ids[half:] % 3).tolist()})
    if index_type is not None:
        db.create_index(name, field_name="vector", index_type=index_type, sync=True)
        assert db.describe_index(name, "vector")["indexed_rows"] == half
    return ids.tolist()


def closest_first(distances: list[float], metric: str) -> list[float]:
    return sorted(distances, reverse=metric != "L2")


@pytest.mark.parametrize("metric", ["COSINE", "IP", "L2"])
def test_every_row_once_in_distance_order(db: Client, name: str, metric: str, many_vectors: np.ndarray) -> None:
    ids = fill(db, name, metric, many_vectors)
    query = many_vectors[7] + 0.25

    seen: list[int] = []
    distances: list[float] = []
    for page in db.search_iterator(name, [query], batch_size=1_000):
        assert 0 < len(page) <= 1_000
        seen.extend(hit["id"] for hit in page)
        distances.extend(hit["distance"] for hit in page)
    assert sorted(seen) == ids, "every row exactly once"
    assert distances == closest_first(distances, metric)

    filtered = [hit for page in db.search_iterator(name, [query], batch_size=777, filter="group != 1") for hit in page]
    assert sorted(hit["id"] for hit in filtered) == [i for i in ids if i % 3 != 1]
    assert [hit["distance"] for hit in filtered] == closest_first([hit["distance"] for hit in filtered], metric)

    limited = [hit for page in db.search_iterator(name, [query], batch_size=1_000, limit=2_500) for hit in page]
    assert len({hit["id"] for hit in limited}) == len(limited) == 2_500
    assert [hit["distance"] for hit in limited] == distances[:2_500]


@pytest.mark.parametrize("metric", ["COSINE", "L2"])
def test_every_row_once_through_a_flat_index(db: Client, name: str, metric: str, many_vectors: np.ndarray) -> None:
    ids = fill(db, name, metric, many_vectors, index_type="FLAT")
    hits = [hit for page in db.search_iterator(name, [many_vectors[11]], batch_size=2_000) for hit in page]
    assert sorted(hit["id"] for hit in hits) == ids
    distances = [hit["distance"] for hit in hits]
    assert distances == closest_first(distances, metric)


def test_a_range_in_search_params_bounds_the_walk(db: Client, name: str, many_vectors: np.ndarray) -> None:
    fill(db, name, "COSINE", many_vectors[:3_000])
    query = many_vectors[0]
    params = {"metric_type": "COSINE", "params": {"radius": 0.2, "range_filter": 0.9}}
    walked = [hit for page in db.search_iterator(name, [query], batch_size=100, search_params=params) for hit in page]
    everything = [hit for page in db.search_iterator(name, [query], batch_size=1_000) for hit in page]
    expected = [hit["id"] for hit in everything if 0.2 < hit["distance"] <= 0.9]
    assert sorted(hit["id"] for hit in walked) == sorted(expected) and expected


def test_batch_size_is_checked(db: Client, name: str) -> None:
    db.create_collection(name, dimension=DIM)
    with pytest.raises(InvalidArgumentError, match="batch_size must be at most 16384"):
        db.search_iterator(name, [[1.0] * DIM], batch_size=MAX_SEARCH_LIMIT + 1)
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        db.search_iterator(name, [[1.0] * DIM], batch_size=0)
