"""Input shapes and bad input: every error names the row and field, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import embedb
from embedb.errors import DataError, DimensionMismatchError, DuplicateKeyError, FieldNotFoundError
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType

DIM = 3


@pytest.fixture
def db(tmp_path: Path) -> Iterator[embedb.Backend]:
    client = embedb.connect(tmp_path / "data")
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM, metric_type=MetricType.L2),
            FieldSchema("age", DataType.INT8),
            FieldSchema("name", DataType.VARCHAR, max_length=5),
            FieldSchema("score", DataType.FLOAT, nullable=True),
            FieldSchema("flag", DataType.BOOL, default_value=False),
            FieldSchema("meta", DataType.JSON, nullable=True),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT32, max_capacity=3),
        ),
        enable_dynamic_field=True,
    )
    client.create_collection("items", schema=schema)
    yield client
    client.close()


def row(i: int, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"id": i, "vec": [float(i), 1.0, 0.0], "age": 30, "name": "ab", "tags": [1, 2]}
    base.update(overrides)
    return base


def count(db: embedb.Backend) -> int:
    return int(db.query("items", "", output_fields=["count(*)"])[0]["count(*)"])


def test_rows_columns_arrow_and_pandas_give_the_same_rows(db: embedb.Backend) -> None:
    db.insert("items", [row(1), row(2, score=0.5, meta={"k": [1, "x"]}, extra="dyn")])
    db.insert(
        "items",
        {
            "id": np.array([3, 4]),
            "vec": np.ones((2, DIM), dtype=np.float32),
            "age": np.array([1, 2], dtype=np.int64),
            "name": ["c", "d"],
            "tags": [[1], [2, 3]],
        },
    )
    table = pa.table(
        {
            "id": pa.array([5], pa.int64()),
            "vec": pa.FixedSizeListArray.from_arrays(pa.array([1.0, 2.0, 3.0], pa.float32()), DIM),
            "age": pa.array([5], pa.int8()),
            "name": ["e"],
            "tags": pa.array([[5]], pa.list_(pa.int32())),
        }
    )
    db.insert("items", table)
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"id": [6], "vec": [np.array([1.0, 0.0, 0.0])], "age": [6], "name": ["f"], "tags": [[6]]})
    db.insert("items", frame)
    rows = db.query("items", "", output_fields=["*"])
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    second = rows[1]
    assert second["score"] == 0.5 and second["meta"] == {"k": [1, "x"]} and second["extra"] == "dyn"
    assert second["flag"] is False, "the default fills a missing value"
    assert rows[0]["score"] is None, "a nullable field without a value is null"
    assert rows[3]["tags"] == [2, 3]
    assert rows[4]["vec"] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        ([row(1), row(2, vec=[1.0, 2.0])], DimensionMismatchError, r"row 1: field 'vec' expects dimension 3, got 2"),
        ([row(1, vec=[1.0, float("nan"), 0.0])], DataError, r"row 0: field 'vec' contains NaN"),
        ([row(1), row(2, age=300)], DataError, r"row 1: field 'age'"),
        ([row(1), row(2, age="old")], DataError, r"row 1: field 'age' expects a INT8"),
        ([row(1, age=True)], DataError, r"row 0: field 'age'"),
        ([row(1, age=1.5)], DataError, r"row 0: field 'age'"),
        ([row(1, name="toolong")], DataError, r"row 0: field 'name' is 7 bytes long, max_length is 5"),
        ([row(1, name="ééé")], DataError, r"6 bytes long"),
        ([row(1, tags=[1, 2, 3, 4])], DataError, r"row 0: field 'tags' has 4 elements, max_capacity is 3"),
        ([row(1), row(1)], DataError, r"rows 0 and 1: primary key 'id' = 1 appears twice"),
        ([{"vec": [1.0, 0.0, 0.0], "age": 1, "name": "a", "tags": []}], DataError, r"missing field 'id'"),
        ([row(1, age=None)], DataError, r"row 0: field 'age' is not nullable"),
        ([row(1, meta={1, 2})], DataError, r"row 0: field 'meta' is not JSON-serialisable"),
        (["not a dict"], DataError, r"row 0: expected a dict"),
        ([], DataError, r"no rows"),
        (42, DataError, r"cannot insert a int"),
    ],
)
def test_bad_rows_are_refused_before_anything_is_written(db: embedb.Backend, bad: object, error: type, message: str) -> None:
    db.insert("items", [row(100)])
    with pytest.raises(error, match=message):
        db.insert("items", bad)
    assert count(db) == 1
    assert db.get("items", [1]) == []


def test_unknown_field_without_dynamic_field_is_refused(tmp_path: Path) -> None:
    with embedb.connect(tmp_path) as db:
        db.create_collection("strict", dimension=2, enable_dynamic_field=False)
        with pytest.raises(DataError, match=r"row 0: unknown field\(s\) \['color'\]"):
            db.insert("strict", [{"id": 1, "vector": [1.0, 0.0], "color": "red"}])


def test_duplicate_key_against_stored_rows_needs_upsert(db: embedb.Backend) -> None:
    db.insert("items", [row(1), row(2)])
    with pytest.raises(DuplicateKeyError, match="use upsert"):
        db.insert("items", [row(3), row(2, age=9)])
    assert sorted(r["id"] for r in db.query("items", "")) == [1, 2]
    db.upsert("items", [row(2, age=9), row(3)])
    assert db.get("items", [2], output_fields=["age"]) == [{"id": 2, "age": 9}]


def test_zero_vector_is_refused_for_cosine(tmp_path: Path) -> None:
    with embedb.connect(tmp_path) as db:
        db.create_collection("cos", dimension=2, metric_type="COSINE")
        with pytest.raises(DataError, match="zero vector"):
            db.insert("cos", [{"id": 1, "vector": [0.0, 0.0]}])


def test_query_vectors_are_checked(db: embedb.Backend) -> None:
    db.insert("items", [row(1)])
    with pytest.raises(DimensionMismatchError):
        db.search("items", [[1.0, 2.0]])
    with pytest.raises(DataError, match="NaN"):
        db.search("items", [[1.0, float("inf"), 2.0]])
    with pytest.raises(FieldNotFoundError, match="no field 'nope'"):
        db.search("items", [[1.0, 2.0, 3.0]], anns_field="nope")
