"""What ``CompiledFilter.evaluate`` does with the table itself: shapes, chunks, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from embedb.errors import DataError
from embedb.query.filters import compile_filter
from embedb.schema import CollectionSchema, DataType, FieldSchema

Row = dict[str, Any]
TableMaker = Callable[..., pa.Table]  # conftest.make_table


@pytest.mark.parametrize("blank", ["", "  \n "])
def test_empty_filter_matches_every_row(dynamic_schema: CollectionSchema, rows_table: pa.Table, blank: str) -> None:
    compiled = compile_filter(blank, dynamic_schema)
    assert compiled.fields == frozenset()
    assert compiled.primary_keys() is None
    mask = compiled.evaluate(rows_table)
    assert mask.dtype == np.bool_ and mask.tolist() == [True] * rows_table.num_rows


def test_zero_rows_give_an_empty_mask(dynamic_schema: CollectionSchema, table_of: TableMaker) -> None:
    compiled = compile_filter("age > 1 and color == 'x'", dynamic_schema)
    assert compiled.evaluate(table_of(dynamic_schema, [])).shape == (0,)
    assert compiled.evaluate(pa.table({})).shape == (0,)
    assert compile_filter("", dynamic_schema).evaluate(pa.table({})).shape == (0,)


@pytest.mark.parametrize("chunks", [1, 2, 3, 6])
def test_chunking_does_not_change_the_answer(
    dynamic_schema: CollectionSchema, table_of: TableMaker, rows: list[Row], chunks: int
) -> None:
    expression = "(tags[1] > 1 or array_contains(words, 'red')) and not (meta['a'] == 1) or color == 5"
    compiled = compile_filter(expression, dynamic_schema)
    one_chunk = compiled.evaluate(table_of(dynamic_schema, rows, chunks=1))
    assert compiled.evaluate(table_of(dynamic_schema, rows, chunks=chunks)).tolist() == one_chunk.tolist()


def test_sliced_tables_are_read_from_their_offset(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    compiled = compile_filter("tags[0] >= 1 and array_contains_any(tags, [2, 5, 9])", dynamic_schema)
    full = compiled.evaluate(rows_table).tolist()
    assert compiled.evaluate(rows_table.slice(2)).tolist() == full[2:]
    assert compiled.evaluate(rows_table.slice(1, 3)).tolist() == full[1:4]


def test_a_compiled_filter_keeps_nothing_between_tables(
    dynamic_schema: CollectionSchema, table_of: TableMaker, rows: list[Row]
) -> None:
    compiled = compile_filter("color == 'red' and age > 10", dynamic_schema)
    first = compiled.evaluate(table_of(dynamic_schema, rows)).tolist()
    changed = [dict(row, **{"$meta": {"color": "red"}, "age": 99}) for row in rows]
    second = compiled.evaluate(table_of(dynamic_schema, changed)).tolist()
    assert first == [True, False, False, False, False, False]
    assert second == [True] * len(rows)


def test_precedence_changes_the_result(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    loose = compile_filter("age > 50 or age < 40 and flag", dynamic_schema).evaluate(rows_table)
    grouped = compile_filter("(age > 50 or age < 40) and flag", dynamic_schema).evaluate(rows_table)
    assert loose.tolist() == [True, False, False, True, True, False]
    assert grouped.tolist() == [True, False, False, True, False, False]


def test_params_evaluate_like_literals(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    templated = compile_filter(
        "age > {low} and name in {names} or color == {c}",
        dynamic_schema,
        params={"low": 10, "names": ["alice", "bob"], "c": "red"},
    )
    literal = compile_filter("age > 10 and name in ['alice', 'bob'] or color == 'red'", dynamic_schema)
    assert templated.evaluate(rows_table).tolist() == literal.evaluate(rows_table).tolist()


def test_a_missing_column_is_a_data_error(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    compiled = compile_filter("age > 1", dynamic_schema)
    with pytest.raises(DataError, match="'age'"):
        compiled.evaluate(rows_table.drop_columns(["age"]))


def test_invalid_json_text_is_a_data_error(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    broken = rows_table.set_column(
        rows_table.schema.get_field_index("$meta"), "$meta", pa.array(["{", None, "{}", "{}", "{}", "{}"])
    )
    with pytest.raises(DataError, match=r"\$meta"):
        compile_filter("color == 'red'", dynamic_schema).evaluate(broken)


def test_big_integers_in_json_compare_exactly_enough(dynamic_schema: CollectionSchema, table_of: TableMaker) -> None:
    rows = [{"id": i, "$meta": {"big": big}} for i, big in enumerate([2**70, 2**62, -(2**70), 5])]
    table = table_of(dynamic_schema, rows)
    assert compile_filter("big > 2 ** 64", dynamic_schema).evaluate(table).tolist() == [True, False, False, False]
    assert compile_filter("big + 1 > 10", dynamic_schema).evaluate(table).tolist() == [True, True, False, False]


def test_many_rows_match_numpy() -> None:
    schema = CollectionSchema(
        fields=(
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("age", DataType.INT16, nullable=True),
            FieldSchema("color", DataType.VARCHAR, max_length=8),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT32, max_capacity=4),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        ),
        enable_dynamic_field=True,
    ).validate()
    rng = np.random.default_rng(7)
    n = 20_000
    age = rng.integers(0, 90, n)
    age_valid = rng.random(n) > 0.1
    color = rng.choice(np.array(["a", "b", "c", "d"]), n)
    first_tag = rng.integers(0, 50, n)
    level = rng.integers(0, 5, n)
    table = pa.table(
        {
            "id": np.arange(n),
            "age": pa.array(age, pa.int16(), mask=~age_valid),
            "color": pa.chunked_array([color[: n // 3], color[n // 3 :]]),
            "tags": pa.array([[int(t), int(t) + 1] for t in first_tag], pa.list_(pa.int32())),
            "$meta": pa.array([json.dumps({"level": int(v)}) for v in level]),
        }
    )
    expression = "age > 30 and color in ['a', 'b'] or array_contains(tags, 7) and level >= 3"
    mask = compile_filter(expression, schema).evaluate(table)
    has_seven = (first_tag == 7) | (first_tag == 6)
    expected = (age_valid & (age > 30) & np.isin(color, ["a", "b"])) | (has_seven & (level >= 3))
    assert np.array_equal(mask, expected)


def test_null_lists_that_still_span_values_stay_null() -> None:
    # Arrow lets a null list slot cover child values; they must not leak into the answer.
    schema = CollectionSchema(
        fields=(
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4, nullable=True),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        )
    ).validate()
    tags = pa.ListArray.from_arrays(
        pa.array([0, 2, 4, 5], pa.int32()), pa.array([1, 2, 5, 6, 5]), mask=pa.array([False, True, False])
    )
    table = pa.table({"id": [1, 2, 3], "tags": tags})

    def run(expression: str) -> list[bool]:
        return compile_filter(expression, schema).evaluate(table).tolist()

    assert run("array_contains(tags, 5)") == [False, False, True]
    assert run("not array_contains(tags, 5)") == [True, False, False]
    assert run("tags[0] == 5") == [False, False, True]
    assert run("tags[0] != 5") == [True, False, False]
    assert run("array_length(tags) >= 0") == [True, False, True]
    assert run("tags is null") == [False, True, False]
