"""upsert(field_ops=): ARRAY_APPEND / ARRAY_REMOVE merge with the stored array, atomically, checked before writing."""

from __future__ import annotations

import threading

import pytest

from embedb.client import Client
from embedb.errors import DataError, InvalidArgumentError


def _create(db: Client, name: str, capacity: int = 64) -> None:
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "v", "type": "FLOAT_VECTOR", "dim": 2},
            {"name": "tags", "type": "ARRAY", "element_type": "INT64", "max_capacity": capacity},
            {"name": "title", "type": "VARCHAR", "max_length": 32},
        ]
    }
    db.create_collection(name, schema=schema)
    db.insert(
        name,
        [
            {"id": 1, "v": [1.0, 0.0], "tags": [1, 2], "title": "a"},
            {"id": 2, "v": [0.0, 1.0], "tags": [10, 20, 10], "title": "b"},
        ],
    )


def _tags(db: Client, name: str) -> dict[int, list[int]]:
    return {row["id"]: row["tags"] for row in db.query(name, "", output_fields=["tags"])}


def test_append_and_remove_merge_with_the_stored_arrays(db: Client, name: str) -> None:
    _create(db, name)
    db.upsert(name, [{"id": 1, "tags": [3, 4]}, {"id": 2, "tags": [40]}], field_ops={"tags": "array_append"})
    assert _tags(db, name) == {1: [1, 2, 3, 4], 2: [10, 20, 10, 40]}
    db.upsert(name, [{"id": 1, "tags": [2]}, {"id": 2, "tags": [10, 999]}], field_ops={"tags": "ARRAY_REMOVE"})
    assert _tags(db, name) == {1: [1, 3, 4], 2: [20, 40]}
    assert {row["id"]: row["title"] for row in db.query(name, "", output_fields=["title"])} == {1: "a", 2: "b"}
    db.upsert(name, [{"id": 3, "v": [1.0, 1.0], "tags": [7], "title": "c"}], field_ops={"tags": "array_append"})
    assert _tags(db, name)[3] == [7], "a new key starts from an empty array"


def test_concurrent_appends_lose_nothing(db: Client, name: str) -> None:
    _create(db, name, capacity=256)

    def append(start: int) -> None:
        for value in range(start, start + 25):
            db.upsert(name, [{"id": 1, "tags": [value]}], field_ops={"tags": "array_append"})

    writers = [threading.Thread(target=append, args=(100 * n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert sorted(_tags(db, name)[1]) == sorted([1, 2, *[100 * n + i for n in range(4) for i in range(25)]])


def test_bad_operations_are_refused_before_anything_is_written(db: Client, name: str) -> None:
    _create(db, name, capacity=3)
    with pytest.raises(DataError, match="max_capacity is 3"):
        db.upsert(name, [{"id": 1, "tags": [3, 4]}], field_ops={"tags": "array_append"})
    with pytest.raises(InvalidArgumentError, match="ARRAY fields"):
        db.upsert(name, [{"id": 1, "title": "x"}], field_ops={"title": "array_append"})
    with pytest.raises(InvalidArgumentError, match="not one of"):
        db.upsert(name, [{"id": 1, "tags": [3]}], field_ops={"tags": "array_pop"})
    with pytest.raises(InvalidArgumentError, match="not a field"):
        db.upsert(name, [{"id": 1, "tags": [3]}], field_ops={"labels": "array_append"})
    with pytest.raises(DataError, match="list"):
        db.upsert(name, [{"id": 1, "tags": 3}], field_ops={"tags": "array_append"})
    assert _tags(db, name) == {1: [1, 2], 2: [10, 20, 10]}
