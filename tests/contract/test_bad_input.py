"""Bad input (issue 11): refused with the same typed error embedded and over HTTP, or it works — never stored unreadable.

Each case here was a 500 over HTTP (or a bare ``RecursionError`` embedded), or
was silently accepted, before: lone surrogates, filters that recursed, names
with a trailing newline, strings coerced into vectors, JSON nested too deep.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from embedb.client import Client
from embedb.errors import DataError, FilterSyntaxError, InvalidArgumentError, InvalidNameError
from embedb.query import MAX_FILTER_DEPTH
from embedb.schema import MAX_JSON_DEPTH, CollectionSchema, DataType, FieldSchema

DIM = 4
ROWS = 30
LONE = "\ud800"


def row(key: int, **fields: Any) -> dict[str, Any]:
    vector = [1.0 + key % 7, 2.0, 3.0 + key % 3, 4.0]
    return {"id": key, "vector": vector, "title": f"t{key}", "words": ["w"], "meta": {"k": key}, **fields}


@pytest.fixture
def collection(db: Client, name: str) -> str:
    """VARCHAR, ARRAY<VARCHAR>, JSON and dynamic fields, with ``ROWS`` rows."""
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
            FieldSchema("title", DataType.VARCHAR, max_length=64, nullable=True),
            FieldSchema("words", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16, nullable=True),
            FieldSchema("meta", DataType.JSON, nullable=True),
        ),
        enable_dynamic_field=True,
    )
    db.create_collection(name, schema=schema)
    db.insert(name, [row(key) for key in range(ROWS)])
    return name


def count(db: Client, collection: str) -> int:
    return int(db.query(collection, "", output_fields=["count(*)"])[0]["count(*)"])


# ------------------------------------------------------------ lone surrogates


@pytest.mark.parametrize(
    "fields",
    [
        {"title": LONE},
        {"title": "ok" + LONE + "ok"},
        {"words": ["w", LONE]},
        {"meta": {"k": LONE}},
        {"meta": {LONE: 1}},
        {"meta": [["deep", [LONE]]]},
        {"colour": LONE},
        {"colour": {"nested": ["x", "\udfff"]}},
    ],
    ids=["varchar", "varchar-inside", "array", "json-value", "json-key", "json-deep", "dynamic", "dynamic-nested"],
)
def test_lone_surrogates_in_rows_are_refused(db: Client, collection: str, fields: dict[str, Any]) -> None:
    for write in (db.insert, db.upsert):
        with pytest.raises(DataError, match="lone surrogate"):
            write(collection, [row(100), row(101, **fields)])
    assert count(db, collection) == ROWS
    assert len(db.query(collection, "id >= 0", output_fields=["*"], limit=100)) == ROWS  # every row reads back


def test_text_that_utf8_can_hold_round_trips(db: Client, collection: str) -> None:
    text = "déjà vu ✓ \U0001f600 \u0000 \uffff"
    db.insert(collection, [row(100, title=text, words=[text[:5]], meta={text: [text]}, colour=text)])
    got = db.get(collection, [100], output_fields=["title", "words", "meta", "colour"])
    assert got == [{"id": 100, "title": text, "words": [text[:5]], "meta": {text: [text]}, "colour": text}]
    assert db.query(collection, 'title == "déjà vu ✓ \\ud83d\\ude00 \\u0000 \\uffff"', output_fields=["id"]) == [{"id": 100}]


def test_lone_surrogates_in_a_varchar_primary_key_are_refused(db: Client, name: str) -> None:
    db.create_collection(name, dimension=DIM, id_type="string", max_length=16)
    with pytest.raises(DataError):
        db.insert(name, [{"id": LONE, "vector": [1.0, 2.0, 3.0, 4.0]}])
    with pytest.raises(DataError, match="lone surrogate"):
        db.get(name, ["a", LONE])
    with pytest.raises(DataError, match="lone surrogate"):
        db.delete(name, ids=[LONE])
    assert db.get_collection_stats(name)["row_count"] == 0


def invalid_utf8(values: list[bytes]) -> pa.Array:
    """A string array holding bytes that are not UTF-8 (an Arrow IPC body can carry any bytes)."""
    offsets = np.cumsum([0] + [len(value) for value in values]).astype(np.int32)
    buffers = [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(values))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


@pytest.mark.parametrize("text", [b"\xed\xa0\x80", b"ok\xff", b"\xc0\xaf"], ids=["surrogate", "ff", "overlong"])
def test_arrow_strings_that_are_not_utf8_are_refused(db: Client, collection: str, text: bytes) -> None:
    """Over HTTP this is the Arrow route: the client sends the table as an IPC stream, unchecked."""
    table = pa.table(
        {
            "id": pa.array([200, 201], pa.int64()),
            "vector": pa.array([[1.0, 2.0, 3.0, 4.0]] * 2, pa.list_(pa.float32(), DIM)),
            "title": invalid_utf8([b"fine", text]),
        }
    )
    with pytest.raises(DataError, match="UTF8"):
        db.insert(collection, table)
    assert count(db, collection) == ROWS


@pytest.mark.parametrize(
    "call",
    [
        lambda db, name: db.describe_collection(LONE),
        lambda db, name: db.has_collection("c" + LONE),
        lambda db, name: db.create_collection(LONE, dimension=DIM),
        lambda db, name: db.drop_collection(LONE),
        lambda db, name: db.rename_collection(name, "x" + LONE),
        lambda db, name: db.create_partition(name, LONE),
        lambda db, name: db.create_alias(name, LONE),
        lambda db, name: db.insert(name, [row(300)], partition_name=LONE),
        lambda db, name: db.query(name, "", output_fields=["title"], partition_names=["p", LONE]),
        lambda db, name: db.search(name, [[1.0, 2.0, 3.0, 4.0]], anns_field=LONE),
    ],
    ids=["describe", "has", "create", "drop", "rename", "partition", "alias", "insert-partition", "partitions", "anns"],
)
def test_lone_surrogates_in_names_are_invalid_names(db: Client, collection: str, call: Any) -> None:
    with pytest.raises(InvalidNameError, match="lone surrogate"):
        call(db, collection)


def test_lone_surrogates_elsewhere_are_invalid_arguments(db: Client, collection: str) -> None:
    with pytest.raises(InvalidArgumentError, match="output_fields"):
        db.query(collection, "id > 1", output_fields=[LONE])
    with pytest.raises(InvalidArgumentError, match="filter_params"):
        db.query(collection, "title == {t}", filter_params={"t": LONE})
    with pytest.raises(DataError, match="lone surrogate"):
        db.search(collection, ["a query", LONE])


@pytest.mark.parametrize(
    "expression",
    [f'title == "{LONE}"', 'title == "\\ud800"', "title == 'a\\udfff'", f"id == 1 or {LONE}"],
)
def test_lone_surrogates_in_filters_are_syntax_errors(db: Client, collection: str, expression: str) -> None:
    for read in (
        lambda: db.query(collection, expression),
        lambda: db.search(collection, [[1.0, 2.0, 3.0, 4.0]], filter=expression),
        lambda: db.delete(collection, filter=expression),
    ):
        with pytest.raises(FilterSyntaxError, match="lone surrogate"):
            read()
    assert count(db, collection) == ROWS


# ------------------------------------------------------------------ filters


def test_a_10000_term_or_chain_works(db: Client, collection: str) -> None:
    keys = " or ".join(f"id == {key}" for key in range(10_000))
    assert [hit["id"] for hit in db.query(collection, keys, output_fields=["id"], limit=100)] == list(range(ROWS))
    mixed = " or ".join(f"id == {key} or title == 't{key + 1}'" for key in range(5_000))
    assert len(db.query(collection, f"({mixed}) and id < 10", output_fields=["id"], limit=100)) == 10
    hits = db.search(collection, [[1.0, 2.0, 3.0, 4.0]], filter=f"({keys}) and id % 2 == 0", limit=ROWS)
    assert sorted(hit["id"] for hit in hits[0]) == list(range(0, ROWS, 2))
    assert db.delete(collection, filter=" or ".join(f"id == {key}" for key in range(5, 10_000, 5))) == {"delete_count": 5}
    assert count(db, collection) == ROWS - 5


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 2_000 + "id == 1" + ")" * 2_000,
        "not " * 2_000 + "id == 1",
        "-" * 2_000 + "id == 1",
        "meta" + '["k"]' * 2_000 + " == 1",
        "id" + " + 1" * 2_000 + " > 0",
        "id in " + "[" * 2_000 + "]" * 2_000,
    ],
    ids=["parentheses", "not", "unary-minus", "json-path", "sum", "lists"],
)
def test_absurd_nesting_is_a_filter_syntax_error_naming_the_limit(db: Client, collection: str, expression: str) -> None:
    for read in (
        lambda: db.query(collection, expression),
        lambda: db.search(collection, [[1.0, 2.0, 3.0, 4.0]], filter=expression),
        lambda: db.delete(collection, filter=expression),
    ):
        with pytest.raises(FilterSyntaxError, match=f"deeper than {MAX_FILTER_DEPTH} levels"):
            read()
    assert count(db, collection) == ROWS


def test_nesting_under_the_limit_works(db: Client, collection: str) -> None:
    depth = MAX_FILTER_DEPTH - 5
    assert len(db.query(collection, "(" * depth + "id == 1" + ")" * depth)) == 1
    assert len(db.query(collection, "not " * (depth - depth % 2) + "id == 1")) == 1
    assert len(db.query(collection, "-" * (depth - depth % 2) + "id == 1")) == 1
    assert db.query(collection, "meta" + '["k"]' * depth + " == 1") == []


# -------------------------------------------------------------------- names


@pytest.mark.parametrize("bad", ["docs\n", "docs\r\n", "\ndocs", "docs\n\n", "do\ncs"])
def test_names_with_a_newline_are_refused(db: Client, collection: str, bad: str) -> None:
    with pytest.raises(InvalidNameError):
        db.create_collection(bad, dimension=DIM)
    with pytest.raises(InvalidNameError):
        db.create_partition(collection, bad)
    with pytest.raises(InvalidNameError):
        db.create_alias(collection, bad)
    with pytest.raises(InvalidNameError):
        db.rename_collection(collection, bad)
    with pytest.raises(InvalidNameError):
        db.create_collection(bad.strip() + "_f", schema=CollectionSchema((FieldSchema(bad, DataType.INT64, is_primary=True),)))
    assert bad not in db.list_collections() and db.has_collection(collection)


# ------------------------------------------------------------------ vectors


@pytest.mark.parametrize(
    "vector",
    [["1", "2", "3", "4e0"], [1.0, "2", 3.0, 4.0], [1.0, 2.0, None, 4.0], [True, False, True, True], [1.0, 2.0, 3.0, [4.0]]],
    ids=["strings", "one-string", "none", "bools", "nested"],
)
def test_vectors_of_anything_but_numbers_are_data_errors(db: Client, collection: str, vector: list[Any]) -> None:
    # NumPy reads a batch mixing bools with numbers as numbers; only text, None and lists are found in any batch.
    batches = [[vector]] if all(isinstance(x, bool) for x in vector) else [[vector], [[1.0, 2.0, 3.0, 4.0], vector]]
    for vectors in batches:
        with pytest.raises(DataError):
            db.insert(collection, [{"id": 400 + i, "vector": v} for i, v in enumerate(vectors)])
        with pytest.raises(DataError):
            db.insert(collection, {"id": list(range(400, 400 + len(vectors))), "vector": vectors})
        with pytest.raises(DataError):
            db.search(collection, vectors)
    assert count(db, collection) == ROWS


def test_arrow_vectors_of_strings_are_data_errors(db: Client, collection: str) -> None:
    table = pa.table({"id": pa.array([400], pa.int64()), "vector": pa.array([["1", "2", "3", "4"]], pa.list_(pa.string(), DIM))})
    with pytest.raises(DataError, match="numbers"):
        db.insert(collection, table)
    assert count(db, collection) == ROWS


def test_vectors_of_numbers_of_any_kind_still_work(db: Client, collection: str) -> None:
    db.insert(collection, [{"id": 500, "vector": [1, 2, 3, 4]}, {"id": 501, "vector": [1, 2.5, 2**70, 4]}])
    db.insert(collection, {"id": [502], "vector": np.array([[1, 2, 3, 4]], dtype=np.int16)})
    assert {hit["id"] for hit in db.search(collection, [[1, 2, 3, 4]], filter="id >= 500", limit=3)[0]} == {500, 501, 502}


# ----------------------------------------------------------- nested JSON values


def nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_json_values_nest_up_to_the_limit(db: Client, collection: str) -> None:
    db.insert(collection, [row(600, meta=nested(MAX_JSON_DEPTH), colour=nested(MAX_JSON_DEPTH))])
    got = db.get(collection, [600], output_fields=["meta", "colour"])
    assert got == [{"id": 600, "meta": nested(MAX_JSON_DEPTH), "colour": nested(MAX_JSON_DEPTH)}]
    assert json.dumps(got)  # plain JSON values
    for fields in ({"meta": nested(MAX_JSON_DEPTH + 1)}, {"colour": nested(MAX_JSON_DEPTH + 1)}):
        with pytest.raises(DataError, match=f"at most {MAX_JSON_DEPTH} levels"):
            db.insert(collection, [row(601, **fields)])
    with pytest.raises(InvalidArgumentError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        db.query(collection, "title == {t}", filter_params={"t": nested(MAX_JSON_DEPTH + 1)})
    assert count(db, collection) == ROWS + 1


@pytest.mark.parametrize("depth", [500, 5_000])
def test_absurdly_nested_values_are_refused_without_recursion_errors(db: Client, collection: str, depth: int) -> None:
    """Embedded, ingest refuses them; over HTTP the client does, before sending a body the server would refuse."""
    with pytest.raises(DataError, match="levels"):
        db.insert(collection, [row(700, meta=nested(depth))])
    with pytest.raises(DataError, match="levels"):
        db.insert(collection, [row(700, colour=nested(depth))])
    with pytest.raises(InvalidArgumentError, match="levels"):
        db.query(collection, "title == {t}", filter_params={"t": nested(depth)})
    with pytest.raises(InvalidArgumentError, match="levels"):
        db.search(collection, [[1.0, 2.0, 3.0, 4.0]], search_params={"ef": nested(depth)})
    assert count(db, collection) == ROWS
