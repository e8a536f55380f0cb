"""Scalar indexes (INVERTED, BITMAP, STL_SORT, TRIE): Milvus's rules, and filters that read them answer as scans do."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import IndexAlreadyExistsError, IndexNotFoundError, InvalidArgumentError

ROWS = 3000


def _schema() -> dict[str, Any]:
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "vector", "type": "FLOAT_VECTOR", "dim": 2},
            {"name": "year", "type": "INT32"},
            {"name": "price", "type": "DOUBLE"},
            {"name": "brand", "type": "VARCHAR", "max_length": 16},
            {"name": "active", "type": "BOOL"},
            {"name": "note", "type": "VARCHAR", "max_length": 16, "nullable": True},
        ],
        "enable_dynamic_field": True,
    }


def _fill(db: Client, name: str) -> None:
    rng = np.random.default_rng(5)
    db.create_collection(name, schema=_schema())
    db.insert(
        name,
        {
            "id": np.arange(ROWS),
            "vector": rng.random((ROWS, 2), dtype=np.float32) + 0.01,
            "year": rng.integers(1990, 2030, ROWS).astype(np.int32),
            "price": np.round(rng.random(ROWS) * 100, 1),
            "brand": [f"b{int(i)}" for i in rng.integers(0, 40, ROWS)],
            "active": rng.random(ROWS) < 0.3,
            "note": [None] * ROWS,
            "shelf": [int(i) for i in rng.integers(0, 5, ROWS)],
        },
    )
    db.flush(name)


FILTERS = [
    "year == 2001",
    "year > 2020",
    "2000 <= year and year < 2005",
    "1995 < year <= 1999",
    "year in [1990, 2029, 3000]",
    "price >= 99.5",
    "price < 0.5 or year == 2010",
    "brand == 'b7'",
    "brand in ['b1', 'b39', 'zz'] and active == true",
    "brand > 'b35' and year < 2000",
    "brand == 'b3' and shelf == 2",
    "active == false and price <= 10 and year >= 2025",
    "year == 1989",
    "year >= 2000.5",
    "not (year > 2000)",
    "year != 2000 and brand == 'b2'",
]


def test_filters_on_indexed_fields_answer_as_scans(db: Client, name: str, other_name: str) -> None:
    _fill(db, name)
    _fill(db, other_name)
    db.create_index(name, field_name="year", index_type="STL_SORT")
    db.create_index(name, field_name="brand", index_type="INVERTED", index_name="brand_idx")
    db.create_index(name, field_name="price", index_type="AUTOINDEX")
    db.create_index(name, field_name="active", index_type="BITMAP")
    for expression in FILTERS:
        indexed = db.query(name, expression, output_fields=["id"], limit=ROWS)
        scanned = db.query(other_name, expression, output_fields=["id"], limit=ROWS)
        assert indexed == scanned, expression
        hits = db.search(name, [[0.5, 0.5]], limit=20, filter=expression)
        assert hits == db.search(other_name, [[0.5, 0.5]], limit=20, filter=expression), expression
    db.delete(name, filter="year == 2001")
    db.delete(other_name, filter="year == 2001")
    assert db.query(name, "year == 2001 or year == 2002", output_fields=["id"]) == db.query(
        other_name, "year == 2001 or year == 2002", output_fields=["id"]
    )


def test_scalar_indexes_follow_milvus_rules(db: Client, name: str) -> None:
    _fill(db, name)
    db.create_index(name, field_name="vector", index_type="FLAT")
    db.create_index(name, field_name="brand", index_type="TRIE")
    db.create_index(name, field_name="brand", index_type="TRIE")  # the same index again: a no-op
    assert sorted(db.list_indexes(name)) == ["brand", "vector"]
    assert db.list_indexes(name, field_name="brand") == ["brand"]
    described = db.describe_index(name, "brand")
    assert (described["index_type"], described["field_name"], described["state"]) == ("TRIE", "brand", "Finished")
    assert described["total_rows"] == ROWS
    with pytest.raises(IndexAlreadyExistsError, match="already has index 'brand'"):
        db.create_index(name, field_name="brand", index_type="INVERTED")
    refused: list[tuple[dict[str, Any], str]] = [
        ({"field_name": "year", "index_type": "TRIE"}, "does not take INT32"),
        ({"field_name": "price", "index_type": "BITMAP"}, "does not take DOUBLE"),
        ({"field_name": "note", "index_type": "INVERTED"}, "nullable"),
        ({"field_name": "year", "index_type": "HASH"}, "unknown scalar index type"),
        ({"field_name": "year", "index_type": "STL_SORT", "params": {"x": 1}}, "no parameters"),
        ({"field_name": "year", "index_type": "STL_SORT", "index_name": "vector"}, "taken"),
    ]
    for arguments, message in refused:
        with pytest.raises((InvalidArgumentError, IndexAlreadyExistsError), match=message):
            db.create_index(name, **arguments)
    db.drop_index(name, "brand")
    assert db.list_indexes(name) == ["vector"]
    with pytest.raises(IndexNotFoundError):
        db.describe_index(name, "brand")
