"""Writes and reads: insert, upsert, delete, get, query — same values, same types, same errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from embedb.client import Client
from embedb.errors import (
    DataError,
    DimensionMismatchError,
    DuplicateKeyError,
    FilterError,
    FilterSyntaxError,
    InvalidArgumentError,
    SchemaError,
)
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType

DIM = 4


def rows(ids: range | list[int], *, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"id": i, "vector": (rng.random(DIM) + 0.01).tolist(), "title": f"t{i}", "n": i % 3, "extra": {"k": [i, "x"]}}
        for i in ids
    ]


@pytest.fixture
def collection(db: Client, name: str) -> str:
    db.create_collection(name, dimension=DIM)
    return name


def test_insert_returns_counts_and_ids(db: Client, collection: str) -> None:
    assert db.insert(collection, rows(range(3))) == {"insert_count": 3, "ids": [0, 1, 2]}
    assert db.get_collection_stats(collection)["row_count"] == 3


def test_values_round_trip_exactly(db: Client, collection: str) -> None:
    data = rows([2**62 + 1, -(2**40), 0])
    data[0]["vector"] = [0.1, 1e-7, 123456.789, 2.5]
    data[1]["extra"] = {"nested": {"deep": [1.5, None, True, "s"]}, "unicode": "déjà vu ✓"}
    db.insert(collection, data)
    got = db.get(collection, [2**62 + 1, -(2**40)], output_fields=["*", "vector"])
    assert [row["id"] for row in got] == [2**62 + 1, -(2**40)]
    assert got[0]["vector"] == np.asarray(data[0]["vector"], dtype=np.float32).tolist()
    assert got[1]["extra"] == data[1]["extra"]
    assert got[0]["title"] == data[0]["title"] and isinstance(got[0]["n"], int)


def test_numpy_columns_arrow_and_rows_insert_the_same(db: Client, collection: str) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.random((6, DIM), dtype=np.float32) + 0.01
    db.insert(collection, {"id": np.arange(0, 2), "vector": vectors[0:2], "title": ["a", "b"]})
    db.insert(
        collection, pa.table({"id": pa.array([2, 3], pa.int64()), "vector": vectors[2:4].tolist(), "title": ["c", "d"]})
    )
    db.insert(collection, [{"id": int(i), "vector": vectors[i], "title": "ef"[i - 4]} for i in (4, 5)])
    got = db.query(collection, "", output_fields=["title", "vector"])
    assert [row["title"] for row in got] == list("abcdef")
    assert np.array_equal(np.asarray([row["vector"] for row in got], dtype=np.float32), vectors)


def test_dataframe_insert(db: Client, collection: str) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(
        {"id": [1, 2], "vector": [[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]], "score": [0.25, 0.5]}
    )
    assert db.insert(collection, frame)["insert_count"] == 2
    assert db.get(collection, [2], output_fields=["score", "vector"]) == [
        {"id": 2, "score": 0.5, "vector": [4.0, 3.0, 2.0, 1.0]}
    ]


def test_string_keys_and_auto_ids(db: Client, name: str, other_name: str) -> None:
    db.create_collection(name, dimension=2, id_type="string")
    assert db.insert(name, [{"id": "b", "vector": [1.0, 0.0]}, {"id": "a", "vector": [0.0, 1.0]}])["ids"] == ["b", "a"]
    assert db.get(name, "a", output_fields=["id"]) == [{"id": "a"}]
    assert db.query(name, 'id in ["a", "b"]', output_fields=["id"]) == [{"id": "a"}, {"id": "b"}]
    db.create_collection(other_name, dimension=2, auto_id=True)
    ids = db.insert(other_name, [{"vector": [1.0, 0.0]}, {"vector": [0.0, 1.0]}])["ids"]
    assert len(ids) == 2 and all(isinstance(i, int) for i in ids) and ids[0] < ids[1]


def test_get_keeps_order_and_skips_missing(db: Client, collection: str) -> None:
    db.insert(collection, rows(range(5)))
    assert [row["id"] for row in db.get(collection, [3, 99, 1])] == [3, 1]
    assert db.get(collection, [4], output_fields=["n"]) == [{"id": 4, "n": 1}]
    assert db.get(collection, []) == []


def test_query_filter_paging_count_and_params(db: Client, collection: str) -> None:
    db.insert(collection, rows(range(10)))
    assert [r["id"] for r in db.query(collection, "n == 1")] == [1, 4, 7]
    assert [r["id"] for r in db.query(collection, "id >= 2", limit=3, offset=2)] == [4, 5, 6]
    assert db.query(collection, "n == 0", output_fields=["count(*)"]) == [{"count(*)": 4}]
    assert db.query(collection, "title == {t}", filter_params={"t": "t8"}) == [{"id": 8}]
    assert db.query(collection, 'extra["k"][0] > 7', output_fields=["id"]) == [{"id": 8}, {"id": 9}]
    assert [r["id"] for r in db.query(collection, "n == 2", ids=[2, 3, 5])] == [2, 5]
    assert [r["id"] for r in db.query_iterator(collection, batch_size=4).next()] == [0, 1, 2, 3]
    pages = [[r["id"] for r in page] for page in db.query_iterator(collection, batch_size=4, filter="id > 1")]
    assert pages == [[2, 3, 4, 5], [6, 7, 8, 9]]


def test_long_array_params_that_share_their_ends_are_different_filters(db: Client, collection: str) -> None:
    """A filter's remembered per-segment mask is keyed by its params: two long NumPy arrays whose repr is the same
    (NumPy elides the middle) must not share it."""
    db.insert(collection, rows(range(3000)))
    db.flush(collection)
    every = np.arange(2000)
    ends_only = every.copy()
    ends_only[3:-3] = 2999
    assert repr(every) == repr(ends_only)
    count = ["count(*)"]
    assert db.query(collection, "id in {ids}", filter_params={"ids": every}, output_fields=count) == [{"count(*)": 2000}]
    assert db.query(collection, "id in {ids}", filter_params={"ids": ends_only}, output_fields=count) == [
        {"count(*)": 7}
    ]
    hits = db.search(collection, [[1.0] * DIM], filter="id in {ids}", filter_params={"ids": ends_only}, limit=20)
    assert sorted(hit["id"] for hit in hits[0]) == [0, 1, 2, 1997, 1998, 1999, 2999]


def test_upsert_replaces_atomically(db: Client, collection: str) -> None:
    db.insert(collection, rows(range(3)))
    replaced = rows([1, 5], seed=9)
    replaced[0]["title"] = "new"
    assert db.upsert(collection, replaced) == {"upsert_count": 2}
    assert db.get(collection, [1], output_fields=["title"]) == [{"id": 1, "title": "new"}]
    assert db.get_collection_stats(collection)["row_count"] == 4


def test_delete_by_ids_and_filter(db: Client, collection: str) -> None:
    db.insert(collection, rows(range(6)))
    assert db.delete(collection, [0, 1, 42]) == {"delete_count": 2}
    assert db.delete(collection, filter="n == 2") == {"delete_count": 2}
    assert [r["id"] for r in db.query(collection, "")] == [3, 4]
    assert db.delete(collection, 3) == {"delete_count": 1}


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ([{"id": 1, "vector": [1.0, 2.0]}], DimensionMismatchError),
        ([{"id": 1}], DataError),
        ([{"id": "x", "vector": [1.0, 2.0, 3.0, 4.0]}], DataError),
        ([{"id": 1.5, "vector": [1.0, 2.0, 3.0, 4.0]}], DataError),
        ([{"id": 1, "vector": [1.0, 2.0, 3.0, float("nan")]}], DataError),
        ([{"id": 1, "vector": [0.0, 0.0, 0.0, 0.0]}], DataError),
        ([{"id": 1, "vector": [1.0, 2.0, 3.0, 4.0]}, {"id": 1, "vector": [1.0, 2.0, 3.0, 4.0]}], DataError),
        ([{"id": 1, "vector": ["a", "b", "c", "d"]}], DataError),
        ([], DataError),
        ("not rows", DataError),
        (5, DataError),
        ([5], DataError),
        ({"id": [1, 2], "vector": np.ones((3, DIM), dtype=np.float32)}, DataError),
    ],
)
def test_bad_rows_write_nothing(db: Client, collection: str, bad: Any, error: type[Exception]) -> None:
    db.insert(collection, rows([100]))
    with pytest.raises(error):
        db.insert(collection, bad)
    assert db.query(collection, "", output_fields=["count(*)"]) == [{"count(*)": 1}]


def test_a_bad_row_late_in_a_batch_writes_nothing(db: Client, collection: str) -> None:
    batch = rows(range(50))
    batch[37]["vector"] = [1.0, 2.0]
    with pytest.raises(DimensionMismatchError) as raised:
        db.insert(collection, batch)
    assert raised.value.details.get("row") == 37
    assert db.get_collection_stats(collection)["row_count"] == 0


def test_duplicate_keys_and_bad_arguments(db: Client, collection: str) -> None:
    db.insert(collection, rows([1]))
    with pytest.raises(DuplicateKeyError):
        db.insert(collection, rows([1, 2]))
    assert db.get_collection_stats(collection)["row_count"] == 1
    with pytest.raises(InvalidArgumentError):
        db.delete(collection)
    with pytest.raises(InvalidArgumentError):
        db.delete(collection, [1], filter="id > 0")
    with pytest.raises(DataError):
        db.get(collection, [1.5])
    with pytest.raises(InvalidArgumentError):
        db.query(collection, "", limit=0)
    with pytest.raises(InvalidArgumentError):
        db.query(collection, "", offset=-1)
    with pytest.raises(FilterSyntaxError):
        db.query(collection, "id >")
    with pytest.raises(FilterError):
        db.delete(collection, filter='id > "x"')
    assert db.get_collection_stats(collection)["row_count"] == 1


def test_typed_fields_and_nulls(db: Client, name: str) -> None:
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("flag", DataType.BOOL, nullable=True),
            FieldSchema("small", DataType.INT8, default_value=3),
            FieldSchema("ratio", DataType.FLOAT),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=3),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2, metric_type=MetricType.L2),
        )
    )
    db.create_collection(name, schema=schema)
    db.insert(name, [{"id": 1, "flag": None, "ratio": 0.1, "tags": [1, 2], "v": [0.0, 0.0]}])
    assert db.get(name, [1], output_fields=["*"]) == [
        {"id": 1, "flag": None, "small": 3, "ratio": float(np.float32(0.1)), "tags": [1, 2], "v": [0.0, 0.0]}
    ]
    with pytest.raises(DataError):
        db.insert(name, [{"id": 2, "flag": True, "small": 1000, "ratio": 0.0, "tags": [], "v": [0.0, 0.0]}])
    with pytest.raises(DataError):
        db.insert(name, [{"id": 2, "flag": True, "ratio": 0.0, "tags": [1, 2, 3, 4], "v": [0.0, 0.0]}])
    with pytest.raises(DataError):
        db.insert(name, [{"id": 2, "flag": "yes", "ratio": 0.0, "tags": [], "v": [0.0, 0.0]}])


def test_partial_update_keeps_the_fields_a_row_leaves_out(db: Client, collection: str) -> None:
    original = rows(range(3))
    db.insert(collection, original)
    assert db.upsert(collection, [{"id": 1, "title": "renamed"}, {"id": 2, "n": 9}], partial_update=True) == {"upsert_count": 2}
    stored = {row["id"]: row for row in db.get(collection, [0, 1, 2], output_fields=["*"])}
    assert stored[1]["title"] == "renamed" and stored[1]["n"] == original[1]["n"] and stored[1]["extra"] == original[1]["extra"]
    assert stored[1]["vector"] == pytest.approx(original[1]["vector"])
    assert stored[2]["n"] == 9 and stored[2]["title"] == "t2"
    assert stored[0]["title"] == "t0"
    # a new key is an insert: it needs every required field
    with pytest.raises(DataError, match="vector"):
        db.upsert(collection, [{"id": 7, "title": "new"}], partial_update=True)
    db.upsert(collection, {"id": np.array([7]), "vector": np.ones((1, DIM), np.float32)}, partial_update=True)
    assert db.get(collection, [7], output_fields=["title"]) == [{"id": 7}]
    with pytest.raises(DataError, match="primary key"):
        db.upsert(collection, [{"title": "no key"}], partial_update=True)
    assert db.query(collection, "", output_fields=["count(*)"]) == [{"count(*)": 4}]


def test_varchar_auto_id_keys_are_generated_as_text(db: Client, name: str) -> None:
    db.create_collection(name, dimension=DIM, id_type="string", auto_id=True, max_length=32)
    first = db.insert(name, [{k: v for k, v in row.items() if k != "id"} for row in rows(range(3))])
    keys = first["ids"]
    assert all(isinstance(key, str) and key.isdigit() for key in keys) and len(set(keys)) == 3
    later = db.insert(name, [{"vector": [0.5] * DIM}])["ids"]
    assert int(later[0]) > max(int(key) for key in keys)
    assert [row["id"] for row in db.get(name, keys)] == keys
    with pytest.raises(DataError, match="auto_id"):
        db.insert(name, [{"id": "mine", "vector": [0.5] * DIM}])
    with pytest.raises(SchemaError, match="max_length >= 19"):
        db.create_collection(f"{name}_short", dimension=DIM, id_type="string", auto_id=True, max_length=8)


def test_truncate_deletes_every_row_and_keeps_the_collection(db: Client, collection: str) -> None:
    db.create_partition(collection, "p")
    db.insert(collection, rows(range(5)))
    db.insert(collection, rows(range(5, 8)), partition_name="p")
    db.flush(collection)
    db.insert(collection, rows(range(8, 10)))
    db.truncate_collection(collection)
    assert db.query(collection, "", output_fields=["count(*)"]) == [{"count(*)": 0}]
    assert db.list_partitions(collection) == ["_default", "p"] and db.list_indexes(collection) == ["vector"]
    db.insert(collection, rows([3]))
    assert [row["id"] for row in db.query(collection, "")] == [3]
    db.truncate_collection(collection)
    db.truncate_collection(collection)  # an empty collection: nothing to delete
    assert db.query(collection, "", output_fields=["count(*)"]) == [{"count(*)": 0}]
