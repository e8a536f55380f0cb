"""Filters answered by sorted columns (scalar indexes) select exactly the rows a scan selects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.query import compile_filter
from embedb.query.filters import SortedColumn
from embedb.query.reads import INDEXED_MIN_ROWS, filter_mask
from embedb.schema import CollectionSchema, DataType, FieldSchema
from embedb.storage import SegmentData

SCHEMA = CollectionSchema(
    (
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        FieldSchema("n", DataType.INT32),
        FieldSchema("x", DataType.DOUBLE),
        FieldSchema("s", DataType.VARCHAR, max_length=8),
        FieldSchema("b", DataType.BOOL),
    )
).validate()
INDEXED = frozenset({"n", "x", "s", "b"})


def _segment(rows: int, seed: int = 0, *, sealed: bool = True) -> SegmentData:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 50, rows).astype(np.float64) / 2
    x[rng.random(rows) < 0.05] = np.nan  # NaN compares false with anything, as in the evaluator
    table = pa.table(
        {
            "id": pa.array(np.arange(rows), pa.int64()),
            "n": pa.array(rng.integers(-20, 20, rows).astype(np.int32)),
            "x": pa.array(x),
            "s": pa.array([f"k{int(i):02d}" for i in rng.integers(0, 30, rows)]),
            "b": pa.array(rng.random(rows) < 0.4),
        }
    )
    vectors = rng.random((rows, 2), dtype=np.float32)
    return SegmentData(
        segment_id=1,
        table=table,
        pks=np.arange(rows, dtype=np.int64),
        seqs=np.ones(rows, dtype=np.int64),
        partitions=np.zeros(rows, dtype=np.int32),
        vectors={"v": vectors},
        norms={"v": np.linalg.norm(vectors, axis=1).astype(np.float32)},
        sorted_by_pk=sealed,
    )


TERMS = st.one_of(
    st.builds(lambda op, v: f"n {op} {v}", st.sampled_from(["==", "<", "<=", ">", ">="]), st.integers(-25, 25)),
    st.builds(lambda op, v: f"{v} {op} n", st.sampled_from(["==", "<", "<=", ">", ">="]), st.integers(-25, 25)),
    st.builds(lambda op, v: f"x {op} {v}", st.sampled_from(["==", "<", "<=", ">", ">="]), st.sampled_from([0, 3.5, 12, 24.5, 30])),
    st.builds(lambda op, v: f"s {op} 'k{v:02d}'", st.sampled_from(["==", "<", ">="]), st.integers(0, 31)),
    st.builds(lambda vs: f"n in {vs}", st.lists(st.integers(-25, 25), max_size=4)),
    st.builds(lambda vs: f"s in {[f'k{v:02d}' for v in vs]}", st.lists(st.integers(0, 31), max_size=3)),
    st.sampled_from(["b == true", "b == false", "n != 3", "not (n > 2)", "x > n", "n % 3 == 0", "s like 'k1%'"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(TERMS, min_size=1, max_size=3), st.booleans())
def test_indexed_filters_select_the_rows_a_scan_selects(terms: list[str], with_or: bool) -> None:
    expression = " and ".join(terms) if not with_or else f"({' and '.join(terms)}) or n == 7"
    data = _segment(INDEXED_MIN_ROWS + 500)
    plain = compile_filter(expression, SCHEMA)
    indexed = compile_filter(expression, SCHEMA, indexed=INDEXED)
    assert np.array_equal(filter_mask(data, indexed), plain.evaluate(data.table)), expression


def test_top_level_comparisons_become_index_terms() -> None:
    compiled = compile_filter("n > 3 and 10 >= n and s in ['k01', 'k02'] and x > n and b == true", SCHEMA, indexed=frozenset({"n", "s"}))
    assert [(t.field, t.values, t.low, t.high, t.low_inclusive) for t in compiled.index_terms] == [
        ("s", ("k01", "k02"), None, None, True),
        ("n", None, 3, 10, False),  # two bounds on one field: one range
    ]
    data = _segment(INDEXED_MIN_ROWS + 1)
    assert np.array_equal(filter_mask(data, compiled), compile_filter(compiled.expression, SCHEMA).evaluate(data.table))
    assert ("sorted", "n") in data.memo and ("sorted", "s") in data.memo, "sealed segments keep their sorted columns"
    assert compile_filter("n > 3 or s == 'k01'", SCHEMA, indexed=INDEXED).index_terms == (), "only top-level and-terms"
    assert compile_filter("n > 3.5", SCHEMA, indexed=INDEXED).index_terms == (), "a float against an integer field is scanned"


def test_growing_and_small_segments_are_scanned() -> None:
    compiled = compile_filter("n == 1", SCHEMA, indexed=INDEXED)
    for data in (_segment(INDEXED_MIN_ROWS + 10, sealed=False), _segment(INDEXED_MIN_ROWS - 1)):
        assert np.array_equal(filter_mask(data, compiled), compile_filter("n == 1", SCHEMA).evaluate(data.table))
        assert ("sorted", "n") not in data.memo


@pytest.mark.parametrize("values", [[3, 1, 2, 2, 5], [0.5, float("nan"), -1.0, 0.5], ["b", "a", "c", "a", "é", "z"]])
def test_sorted_column_keeps_every_row_but_nan_in_order(values: list[Any]) -> None:
    column = SortedColumn.build(pa.array(values))
    kept = [i for i, v in enumerate(values) if v == v]
    assert sorted(column.rows.tolist()) == kept
    assert [values[i] for i in column.rows] == sorted(values[i] for i in kept)
