"""Fixtures for the filter tests: one schema with every scalar type, and a few rows of it.

Rows are plain dicts (``None`` is null, ``"$meta"`` holds the dynamic keys);
``make_table`` turns them into the Arrow table that ``CompiledFilter.evaluate``
receives, JSON as text, split into chunks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from embedb.schema import CollectionSchema, DataType, FieldSchema

Row = dict[str, Any]
TableMaker = Callable[..., pa.Table]  # make_table

SCALAR_FIELDS = (
    FieldSchema("id", DataType.INT64, is_primary=True),
    FieldSchema("age", DataType.INT32, nullable=True),
    FieldSchema("small", DataType.INT8, nullable=True),
    FieldSchema("ratio", DataType.FLOAT, nullable=True),
    FieldSchema("score", DataType.DOUBLE, nullable=True),
    FieldSchema("name", DataType.VARCHAR, max_length=64, nullable=True),
    FieldSchema("flag", DataType.BOOL, nullable=True),
    FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8, nullable=True),
    FieldSchema("words", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=8, max_length=16, nullable=True),
    FieldSchema("weights", DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=8, nullable=True),
    FieldSchema("meta", DataType.JSON, nullable=True),
    FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
)

# Edge cases on purpose: nulls everywhere in row 2, an empty string, an empty
# list, INT8 bounds, JSON values of mixed types, a JSON document that is not
# an object, a float32 value that is not exact (0.1).
ROWS: list[Row] = [
    {"id": 1, "age": 30, "small": 5, "ratio": 0.1, "score": 1.5, "name": "alice", "flag": True,
     "tags": [1, 2, 3], "words": ["red", "green"], "weights": [0.5, 0.1],
     "meta": {"a": 1, "s": "x", "arr": [1, 2, 3], "o": {"b": True}}, "$meta": {"color": "red", "n": 3}},
    {"id": 2, "age": None, "small": None, "ratio": None, "score": None, "name": None, "flag": None,
     "tags": None, "words": None, "weights": None, "meta": None, "$meta": None},
    {"id": 3, "age": 45, "small": -128, "ratio": 2.5, "score": -0.5, "name": "bob", "flag": False,
     "tags": [], "words": [], "weights": [],
     "meta": {"a": "1", "arr": ["1"], "o": {"b": 1}}, "$meta": {"color": "blue", "n": 3.5, "list": [1, "a"]}},
    {"id": 4, "age": 0, "small": 127, "ratio": -1.0, "score": 0.0, "name": "", "flag": True,
     "tags": [5], "words": ["blue"], "weights": [2.0],
     "meta": {"a": None, "s": "50%", "arr": []}, "$meta": {}},
    {"id": 5, "age": 61, "small": 0, "ratio": 1e30, "score": 100.25, "name": "Álvaro", "flag": None,
     "tags": [2, 2], "words": ["a_b"], "weights": [1.0, 1.0],
     "meta": {"a": 2.5, "s": "xy", "arr": [2, [1]]}, "$meta": {"color": 5, "n": True}},
    {"id": 6, "age": None, "small": 1, "ratio": 0.5, "score": None, "name": "al%ce", "flag": False,
     "tags": [7, 8, 9, 10], "words": ["red"], "weights": None,
     "meta": [1, 2], "$meta": {"color": "red", "list": []}},
]


def make_table(schema: CollectionSchema, rows: list[Row], *, chunks: int = 2) -> pa.Table:
    """The Arrow table of ``rows`` as the storage layer hands it to filters (JSON as text)."""
    columns: dict[str, pa.ChunkedArray] = {}
    size = max(1, -(-len(rows) // chunks))
    parts = [rows[start : start + size] for start in range(0, len(rows), size)] or [[]]

    def column(values: list[Any], arrow_type: pa.DataType) -> pa.ChunkedArray:
        return pa.chunked_array([pa.array(values[i * size : (i + 1) * size], arrow_type) for i in range(len(parts))], arrow_type)

    for field in schema.scalar_fields:
        values = [row.get(field.name) for row in rows]
        if field.dtype is DataType.JSON:
            values = [None if v is None else json.dumps(v) for v in values]
        columns[field.name] = column(values, field.arrow_type)
    if schema.enable_dynamic_field:
        extra = [row.get("$meta") for row in rows]
        columns["$meta"] = column([None if v is None else json.dumps(v) for v in extra], pa.string())
    return pa.table(columns)


@pytest.fixture
def dynamic_schema() -> CollectionSchema:
    """Every scalar type, plus the dynamic field."""
    return CollectionSchema(fields=SCALAR_FIELDS, enable_dynamic_field=True).validate()


@pytest.fixture
def static_schema() -> CollectionSchema:
    """Every scalar type, no dynamic field: unknown names are errors."""
    return CollectionSchema(fields=SCALAR_FIELDS, enable_dynamic_field=False).validate()


@pytest.fixture
def rows() -> list[Row]:
    return [dict(row) for row in ROWS]


@pytest.fixture
def rows_table(dynamic_schema: CollectionSchema, rows: list[Row]) -> pa.Table:
    """``ROWS`` as a two-chunk table of ``dynamic_schema``."""
    return make_table(dynamic_schema, rows)


@pytest.fixture
def table_of() -> TableMaker:
    """``make_table`` as a fixture, for tests that build their own rows."""
    return make_table
