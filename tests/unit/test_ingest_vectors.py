"""Vectors given as one list per row convert exactly as ``np.asarray`` would convert the batch."""

from __future__ import annotations

import decimal
from typing import Any

import numpy as np
import pytest

from embedb.errors import DataError, DimensionMismatchError
from embedb.ingest import check_vectors
from embedb.schema import DataType, FieldSchema

FIELD = FieldSchema("v", DataType.FLOAT_VECTOR, dim=2, metric_type="L2").validate()

SAME_AS_ASARRAY: dict[str, list[Any]] = {
    "floats": [[1.5, 2.0], [3.0, 4.25]],
    "ints, large ones too": [[2**40 + 1, 16_777_217], [3, 4]],
    "bools": [[True, False], [1, 0]],
    "numeric strings": [["1.1", "0.3333333333333333333"], [3, 4]],
    "tuples and arrays": [(1.0, 2.0), np.array([3, 4])],
    "decimals and NumPy scalars": [[decimal.Decimal("1.1"), np.float64(1 / 3)], [np.int32(3), 4]],
    "doubles that float32 rounds": [[0.1 + 1e-12, 1 / 3], [1e-40, 3.4e38]],
}


@pytest.mark.parametrize("rows", list(SAME_AS_ASARRAY.values()), ids=list(SAME_AS_ASARRAY))
def test_row_lists_convert_like_asarray(rows: list[Any]) -> None:
    matrix = check_vectors(FIELD, rows, len(rows))
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix, np.asarray(rows, dtype=np.float32))


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        ([["a", "2"], [3, 4]], DataError),
        ([[1 + 2j, 2.0], [3, 4]], DataError),
        ([[[1], 2.0], [3, 4]], DataError),
        # a row of one-element arrays is (2, 2, 1) as a whole: refused as before
        ([[np.array([1.0]), np.array([2.0])], [np.array([3.0]), np.array([4.0])]], DimensionMismatchError),
        ([[None, 1.0], [3, 4]], DataError),  # None becomes NaN, which is refused
        (["12", "34"], DataError),  # strings of the right length are not vectors
    ],
)
def test_odd_rows_are_refused_as_before(rows: list[Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_vectors(FIELD, rows, len(rows))
