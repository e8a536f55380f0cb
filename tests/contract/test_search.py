"""Search: hits, distances, filters, paging and errors — checked against NumPy, both ways."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import (
    DataError,
    DimensionMismatchError,
    FieldNotFoundError,
    FilterError,
    FilterSyntaxError,
    InvalidArgumentError,
)

DIM = 8
N = 60


@pytest.fixture
def vectors() -> np.ndarray:
    return np.random.default_rng(11).random((N, DIM), dtype=np.float32) + 0.01


@pytest.fixture
def collection(db: Client, name: str, vectors: np.ndarray) -> str:
    db.create_collection(name, dimension=DIM, metric_type="L2")
    db.insert(name, {"id": np.arange(N), "vector": vectors, "group": [i % 4 for i in range(N)]})
    return name


def exact_l2(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.asarray(((vectors - query) ** 2).sum(axis=1))


def test_hits_are_the_exact_nearest_neighbours(db: Client, collection: str, vectors: np.ndarray) -> None:
    queries = vectors[:3] + 0.001
    hits = db.search(collection, queries, limit=5)
    assert len(hits) == 3
    for query, query_hits in zip(queries, hits, strict=True):
        expected = np.argsort(exact_l2(vectors, query), kind="stable")[:5]
        assert [hit["id"] for hit in query_hits] == expected.tolist()
        assert all(isinstance(hit["distance"], float) and hit["entity"] == {} for hit in query_hits)
        distances = [hit["distance"] for hit in query_hits]
        assert distances == sorted(distances)
        assert distances == pytest.approx(exact_l2(vectors, query)[expected].tolist(), abs=1e-4)


def test_query_shapes_one_vector_lists_and_numpy(db: Client, collection: str, vectors: np.ndarray) -> None:
    one = db.search(collection, vectors[5].tolist(), limit=1)
    assert one == db.search(collection, [vectors[5].tolist()], limit=1) == db.search(collection, vectors[5], limit=1)
    assert one[0][0]["id"] == 5
    assert db.search(collection, vectors[5:6].astype(np.float64), limit=1)[0][0]["id"] == 5


def test_filter_offset_and_output_fields(db: Client, collection: str, vectors: np.ndarray) -> None:
    query = vectors[0]
    filtered = db.search(collection, [query], filter="group == 1", limit=4, output_fields=["group", "vector"])[0]
    assert all(hit["entity"]["group"] == 1 for hit in filtered)
    assert all(hit["id"] % 4 == 1 for hit in filtered)
    assert np.array_equal(np.asarray(filtered[0]["entity"]["vector"], dtype=np.float32), vectors[filtered[0]["id"]])
    first_page = db.search(collection, [query], limit=6)[0]
    second_page = db.search(collection, [query], limit=3, offset=3)[0]
    assert [h["id"] for h in second_page] == [h["id"] for h in first_page[3:]]
    params = db.search(collection, [query], filter="group in {gs}", filter_params={"gs": [2]}, limit=2)[0]
    assert all(h["id"] % 4 == 2 for h in params)


@pytest.mark.parametrize("metric", ["COSINE", "IP", "L2"])
def test_several_queries_page_with_an_offset_on_sealed_rows(
    db: Client, name: str, vectors: np.ndarray, metric: str
) -> None:
    """A page of several queries at once, on sealed rows without an index (once a crash: the offset rows were
    not contiguous in memory)."""
    db.create_collection(name, dimension=DIM, metric_type=metric)
    db.insert(name, {"id": np.arange(N), "vector": vectors})
    db.flush(name)
    queries = vectors[:3] + 0.001
    whole = db.search(name, queries, limit=6, anns_field="vector")
    pages = db.search(name, queries, limit=4, offset=2, anns_field="vector")
    assert [[hit["id"] for hit in page] for page in pages] == [[hit["id"] for hit in hits[2:]] for hits in whole]


def test_results_are_identical_on_both_backends(
    collection: str, embedded_db: Client, http_db: Client, vectors: np.ndarray
) -> None:
    """Congruence: the same call gives bit-identical hits embedded and over HTTP (same data inserted)."""
    other = collection + "_twin"
    for backend in (embedded_db, http_db):
        if not backend.has_collection(other):
            backend.create_collection(other, dimension=DIM)
            backend.insert(other, {"id": np.arange(N), "vector": vectors, "group": [i % 4 for i in range(N)]})
    call: dict[str, Any] = {"limit": 7, "filter": "group != 3", "output_fields": ["*", "vector"]}
    assert embedded_db.search(other, vectors[:4], **call) == http_db.search(other, vectors[:4], **call)
    assert embedded_db.query(other, "id < 9", output_fields=["*"]) == http_db.query(
        other, "id < 9", output_fields=["*"]
    )


def test_search_iterator_pages_in_order(db: Client, collection: str, vectors: np.ndarray) -> None:
    everything = [h["id"] for h in db.search(collection, [vectors[1]], limit=20)[0]]
    pages = [[h["id"] for h in page] for page in db.search_iterator(collection, [vectors[1]], batch_size=8, limit=20)]
    assert [len(page) for page in pages] == [8, 8, 4]
    assert [key for page in pages for key in page] == everything


def test_cosine_and_ip_distances(db: Client, name: str, other_name: str) -> None:
    db.create_collection(name, dimension=2, metric_type="COSINE")
    db.insert(name, [{"id": 1, "vector": [1.0, 0.0]}, {"id": 2, "vector": [0.0, 3.0]}])
    hits = db.search(name, [[2.0, 0.0]], limit=2)[0]
    assert [h["id"] for h in hits] == [1, 2]
    assert hits[0]["distance"] == pytest.approx(1.0) and hits[1]["distance"] == pytest.approx(0.0, abs=1e-6)
    db.create_collection(other_name, dimension=2, metric_type="IP")
    db.insert(other_name, [{"id": 1, "vector": [1.0, 0.0]}, {"id": 2, "vector": [0.0, 3.0]}])
    assert [h["distance"] for h in db.search(other_name, [[1.0, 1.0]], limit=2)[0]] == [3.0, 1.0]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"data": [[1.0, 2.0]]}, DimensionMismatchError),
        ({"data": []}, DataError),
        ({"data": [[float("nan")] * DIM]}, DataError),
        ({"data": [["a"] * DIM]}, DataError),
        ({"data": [[1.0] * DIM], "limit": 0}, InvalidArgumentError),
        ({"data": [[1.0] * DIM], "limit": 20_000}, InvalidArgumentError),
        ({"data": [[1.0] * DIM], "offset": -1}, InvalidArgumentError),
        ({"data": [[1.0] * DIM], "filter": "group >"}, FilterSyntaxError),
        ({"data": [[1.0] * DIM], "filter": 'id == "x"'}, FilterError),
        ({"data": [[1.0] * DIM], "anns_field": "id"}, InvalidArgumentError),
        ({"data": [[1.0] * DIM], "anns_field": "missing"}, FieldNotFoundError),
        ({"data": [[1.0] * DIM], "search_params": {"metric_type": "IP"}}, InvalidArgumentError),
    ],
)
def test_bad_searches_raise_the_same_class(
    db: Client, collection: str, arguments: dict[str, Any], error: type[Exception]
) -> None:
    arguments = dict(arguments)
    data = arguments.pop("data")
    with pytest.raises(error):
        db.search(collection, data, **arguments)


def test_iterator_arguments_are_checked(db: Client, collection: str) -> None:
    with pytest.raises(InvalidArgumentError):
        db.query_iterator(collection, batch_size=0)
    with pytest.raises(InvalidArgumentError):
        db.search_iterator(collection, [[1.0] * DIM], batch_size=4, limit=-5)


def test_order_by_orders_query_rows_and_search_hits(db: Client, name: str) -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "vector", "type": "FLOAT_VECTOR", "dim": 2},
                {"name": "price", "type": "DOUBLE", "nullable": True},
                {"name": "brand", "type": "VARCHAR", "max_length": 8},
            ]
        },
    )
    rows = [(1, 3.0, "b"), (2, None, "a"), (3, 1.0, "b"), (4, 3.0, "a"), (5, 2.0, "c")]
    db.insert(name, [{"id": i, "vector": [1.0, i / 10], "price": p, "brand": b} for i, p, b in rows])
    ordered = db.query(name, "", output_fields=["price"], order_by=["price:desc"])
    assert [row["id"] for row in ordered] == [1, 4, 5, 3, 2], "descending, ties by key, nulls last"
    assert [row["id"] for row in db.query(name, "", order_by=["brand", "price:desc"], limit=3, offset=1)] == [2, 1, 3]
    assert [row["id"] for row in db.query(name, "id > 1", order_by=["price"])] == [3, 5, 4, 2]
    hits = db.search(name, [[1.0, 0.0]], limit=4, order_by=["brand:asc", "price:asc"])[0]
    assert [hit["id"] for hit in hits] == [4, 2, 3, 1], "the 4 nearest, by brand then price (nulls last)"
    assert all(hit["entity"] == {} for hit in hits), "order fields not asked for are not returned"
    kept = db.search(name, [[1.0, 0.0]], limit=5, output_fields=["brand"], order_by=["brand:desc"])[0]
    assert [hit["entity"]["brand"] for hit in kept] == ["c", "b", "b", "a", "a"]
    for bad in (["vector"], ["price:sideways"], ["nowhere"], [""]):
        with pytest.raises(InvalidArgumentError, match="order_by"):
            db.query(name, "", order_by=bad)


@pytest.mark.parametrize("vector_type", ["FLOAT16_VECTOR", "BFLOAT16_VECTOR", "INT8_VECTOR"])
def test_narrow_vector_types_store_what_the_type_holds(db: Client, name: str, vector_type: str) -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "v", "type": vector_type, "dim": 4, "metric_type": "L2"},
            ]
        },
        index_params=[{"field_name": "v", "index_type": "FLAT", "metric_type": "L2"}],
    )
    rng = np.random.default_rng(4)
    raw = rng.integers(-100, 100, (50, 4)).astype(np.float32)
    if vector_type != "INT8_VECTOR":
        raw = (raw / 7).astype(np.float32)  # values a float32 holds but the narrow type rounds
    db.insert(name, {"id": np.arange(50), "v": raw})
    if vector_type == "FLOAT16_VECTOR":
        stored_expected = raw.astype(np.float16).astype(np.float32)
    elif vector_type == "BFLOAT16_VECTOR":
        bits = raw.view(np.uint32).astype(np.uint64)
        stored_expected = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    else:
        stored_expected = raw
    stored = np.asarray([row["v"] for row in db.get(name, list(range(50)))], dtype=np.float32)
    assert np.array_equal(stored, stored_expected)
    query = stored_expected[7]
    hits = db.search(name, [query.tolist()], limit=3)[0]
    exact = np.argsort(((stored_expected - query) ** 2).sum(axis=1), kind="stable")[:3]
    assert hits[0]["id"] == 7 and {hit["id"] for hit in hits} == set(exact.tolist())
    beyond = {"FLOAT16_VECTOR": [70000.0, 0, 0, 0], "BFLOAT16_VECTOR": [3.4e38, 3.4e38, 0, 0], "INT8_VECTOR": [0.5, 1, 2, 3]}
    with pytest.raises(DataError, match=vector_type.removesuffix("_VECTOR") + "|range"):
        db.insert(name, [{"id": 99, "v": beyond[vector_type]}])
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 50}]
