"""Vector values as a write or a search hands them over: checked, shaped, and stored as float32 matrices.

``check_vectors`` turns a vector field's column (lists, NumPy, Arrow, pandas;
packed bytes for BINARY_VECTOR) into an (n, dim) float32 matrix, refusing NaN,
infinities and wrong sizes with the row named; a nullable field's null rows
become NaN rows. ``check_query_vectors`` does the same for search vectors, and
``narrowed`` keeps FLOAT16 / BFLOAT16 / INT8 values to what the type holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa

from embedb.errors import DataError, DimensionMismatchError
from embedb.schema import DataType, FieldSchema, MetricType
from embedb.storage.binary_vectors import binary_queries, bits_from_packed


class Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = Missing()


def is_pandas_series(value: Any) -> bool:
    return type(value).__name__ == "Series" and hasattr(value, "to_numpy")


def is_sequence_column(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pa.Array, pa.ChunkedArray)) or is_pandas_series(value)


def check_vectors(field: FieldSchema, value: Any, n: int, prepared: object = None) -> np.ndarray:
    """Return the vectors of ``field`` as an (n, dim) C-contiguous float32 matrix; refuse bad ones.

    A nullable field's null rows (``None``, or the field left out) are rows of
    NaN: input never holds NaN (it is refused), so NaN marks null in storage.
    """
    if field.nullable:
        nulls = _null_rows(value, n)
        if nulls is not None:
            return _with_null_rows(field, value, n, nulls, prepared)
    if value is MISSING or value is None:
        raise DataError(f"missing vector field {field.name!r}", field=field.name)
    dim = int(field.dim or 0)
    matrix = (
        bits_from_packed(field, value, "row")
        if field.dtype is DataType.BINARY_VECTOR
        else _as_matrix(field, value, dim)
    )
    if matrix.shape[0] != n:
        raise DataError(f"field {field.name!r} has {matrix.shape[0]} vectors for {n} rows", field=field.name)
    if not np.isfinite(matrix).all():
        row = int(np.nonzero(~np.isfinite(matrix).all(axis=1))[0][0])
        raise DataError(f"row {row}: field {field.name!r} contains NaN or infinity", row=row, field=field.name)
    if field.dtype is not DataType.FLOAT_VECTOR:
        matrix = narrowed(field, matrix, "row")
    if field.metric_type is MetricType.COSINE:
        zero = np.nonzero(~np.any(matrix, axis=1))[0]
        if zero.size:
            row = int(zero[0])
            raise DataError(
                f"row {row}: field {field.name!r} is a zero vector, which has no direction for COSINE",
                row=row,
                field=field.name,
            )
    return matrix


def _null_rows(value: Any, n: int) -> np.ndarray | None:
    """The rows of a nullable vector column that hold no vector, or None when every row holds one."""
    if value is MISSING or value is None:
        return np.ones(n, dtype=bool)
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return np.asarray(value.is_null().to_numpy(zero_copy_only=False), dtype=bool) if value.null_count else None
    if isinstance(value, np.ndarray) and value.dtype != object:
        return None
    if not isinstance(value, (list, tuple)) and not (isinstance(value, np.ndarray) or is_pandas_series(value)):
        return None
    nulls = np.fromiter((item is None or item is MISSING for item in value), dtype=bool, count=len(value))
    return nulls if nulls.any() else None


def _with_null_rows(field: FieldSchema, value: Any, n: int, nulls: np.ndarray, prepared: object) -> np.ndarray:
    if nulls.size != n:
        raise DataError(f"field {field.name!r} has {nulls.size} vectors for {n} rows", field=field.name)
    given = np.nonzero(~nulls)[0]
    if not given.size:
        return np.full((n, int(field.dim or 0)), np.nan, dtype=np.float32)
    # Null rows borrow a given vector for the checks, so that an error names the row as the caller counts them.
    items = value.to_pylist() if isinstance(value, (pa.Array, pa.ChunkedArray)) else list(value)
    stand_in = items[int(given[0])]
    filled = [stand_in if null else item for item, null in zip(items, nulls.tolist(), strict=True)]
    matrix = check_vectors(replace(field, nullable=False), filled, n, prepared)
    matrix[nulls] = np.nan
    return matrix


def _as_matrix(field: FieldSchema, value: Any, dim: int) -> np.ndarray:
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        if pa.types.is_fixed_size_list(value.type) and value.null_count == 0:
            if value.type.list_size != dim:
                raise DimensionMismatchError(
                    f"field {field.name!r} expects dimension {dim}, got {value.type.list_size}", field=field.name
                )
            element = value.type.value_type
            if not (pa.types.is_floating(element) or pa.types.is_integer(element)):
                raise DataError(f"field {field.name!r}: vectors must be numbers, got Arrow {element}", field=field.name)
            flat = value.flatten().to_numpy(zero_copy_only=False)
            return np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, dim)
        value = value.to_pylist()
    if is_pandas_series(value):
        value = value.to_numpy()
    if isinstance(value, np.ndarray) and value.dtype != object:
        matrix = value
    else:
        if isinstance(value, (str, bytes, bytearray, Mapping)) or not hasattr(value, "__iter__"):
            raise DataError(
                f"field {field.name!r}: vectors are lists of numbers, got {type(value).__name__}", field=field.name
            )
        items = list(value)
        for index, item in enumerate(items):
            if item is MISSING or item is None:
                raise DataError(f"row {index}: missing vector field {field.name!r}", row=index, field=field.name)
            if isinstance(item, (str, bytes, bytearray, Mapping)):
                raise DataError(
                    f"row {index}: field {field.name!r} holds a {type(item).__name__}; a vector is a list of numbers",
                    row=index,
                    field=field.name,
                )
            length = len(item) if hasattr(item, "__len__") else -1
            if length != dim:
                raise DimensionMismatchError(
                    f"row {index}: field {field.name!r} expects dimension {dim}, got {length}",
                    row=index,
                    field=field.name,
                )
        try:
            # Inferred, not forced to float32, so that "1" or None is refused rather than turned into a number.
            matrix = np.asarray(items)
        except (TypeError, ValueError) as error:
            raise DataError(
                f"field {field.name!r}: vectors must be lists of numbers ({error})", field=field.name
            ) from None
        if matrix.dtype.kind not in "iuf":
            matrix = _numbers_only(field, items)
    if matrix.ndim != 2:
        raise DimensionMismatchError(f"field {field.name!r} expects a list of {dim}-d vectors", field=field.name)
    if matrix.shape[1] != dim:
        raise DimensionMismatchError(
            f"field {field.name!r} expects dimension {dim}, got {matrix.shape[1]}", field=field.name
        )
    if matrix.dtype.kind not in "iuf":
        raise DataError(f"field {field.name!r}: vectors must be numbers, got {matrix.dtype}", field=field.name)
    return np.ascontiguousarray(matrix, dtype=np.float32)


def _numbers_only(field: FieldSchema, items: list[Any]) -> np.ndarray:
    """``items`` as a float64 matrix when every element is a number (ints beyond int64 too); else ``DataError``."""
    for row, item in enumerate(items):
        for element in item:
            if isinstance(element, (bool, np.bool_)) or not isinstance(element, (int, float, np.integer, np.floating)):
                raise DataError(
                    f"row {row}: field {field.name!r} holds {element!r} ({type(element).__name__}); vectors must be numbers",
                    row=row,
                    field=field.name,
                )
    return np.asarray(items, dtype=np.float64)


def _check_query_size(field: FieldSchema, matrix: np.ndarray) -> None:
    """No empty batch, and for L2 no query whose squared length overflows float32 (every distance would be infinite).

    COSINE queries are made unit length first (in float64 when needed), and an
    overflowing inner product is +inf, the best score: both rank fine.
    """
    if matrix.shape[0] == 0:
        raise DataError("search needs at least one query vector")
    if field.metric_type is not MetricType.L2:
        return
    with np.errstate(over="ignore"):
        squared = np.einsum("ij,ij->i", matrix, matrix)
    if not np.isfinite(squared).all():
        row = int(np.nonzero(~np.isfinite(squared))[0][0])
        raise DataError(f"query {row} is too long: its squared length overflows float32", row=row, field=field.name)


def check_query_vectors(field: FieldSchema, data: Any) -> np.ndarray:
    """Search vectors: one vector or a batch, as an (nq, dim) float32 matrix; refuse NaN, inf and wrong sizes."""
    if field.dtype is DataType.BINARY_VECTOR:
        return binary_queries(field, data)
    if (
        type(data) is np.ndarray
        and data.dtype == np.float32
        and data.ndim == 2
        and data.shape[1] == field.dim
        and data.flags.c_contiguous
    ):
        matrix = data  # the common case, on every search: already what _as_matrix returns
        if np.count_nonzero(np.isfinite(matrix)) != matrix.size:  # .all() costs twice as much per call
            row = int(np.nonzero(~np.isfinite(matrix).all(axis=1))[0][0])
            raise DataError(f"query {row} contains NaN or infinity", row=row, field=field.name)
        _check_query_size(field, matrix)
        return matrix if field.dtype is DataType.FLOAT_VECTOR else narrowed(field, matrix, "query")
    if isinstance(data, np.ndarray) and data.ndim == 1:
        data = data.reshape(1, -1)
    elif (
        isinstance(data, (list, tuple)) and data and not is_sequence_column(data[0]) and not hasattr(data[0], "__len__")
    ):
        data = [data]
    if isinstance(data, (list, tuple)) and len(data) == 0:
        raise DataError("search needs at least one query vector")
    matrix = _as_matrix(field, data, int(field.dim or 0))
    if not np.isfinite(matrix).all():
        row = int(np.nonzero(~np.isfinite(matrix).all(axis=1))[0][0])
        raise DataError(f"query {row} contains NaN or infinity", row=row, field=field.name)
    _check_query_size(field, matrix)
    return matrix if field.dtype is DataType.FLOAT_VECTOR else narrowed(field, matrix, "query")


FLOAT16_MAX = 65504.0


def narrowed(field: FieldSchema, matrix: np.ndarray, what: str) -> np.ndarray:
    """Vectors of a FLOAT16 / BFLOAT16 / INT8 field: float32 holding exactly what that type holds, as Milvus stores it.

    FLOAT16 and BFLOAT16 values are rounded to the nearest value of the type
    (ties to even); INT8 values must be whole numbers in -128..127. Raises
    ``DataError`` naming the row for a value the type cannot hold.
    """
    if field.dtype is DataType.FLOAT16_VECTOR:
        over = np.nonzero((np.abs(matrix) > FLOAT16_MAX).any(axis=1))[0]
        if over.size:
            raise DataError(
                f"{what} {int(over[0])}: field {field.name!r} holds FLOAT16 values (|v| <= 65504)", field=field.name
            )
        return np.ascontiguousarray(matrix.astype(np.float16).astype(np.float32))
    if field.dtype is DataType.BFLOAT16_VECTOR:
        bits = np.ascontiguousarray(matrix, dtype=np.float32).view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
        over = np.nonzero(~np.isfinite(rounded).all(axis=1))[0]
        if over.size:
            raise DataError(
                f"{what} {int(over[0])}: field {field.name!r}: a value is beyond BFLOAT16's range", field=field.name
            )
        return rounded
    if field.dtype is DataType.INT8_VECTOR:
        bad = np.nonzero(((matrix != np.round(matrix)) | (matrix < -128) | (matrix > 127)).any(axis=1))[0]
        if bad.size:
            raise DataError(
                f"{what} {int(bad[0])}: field {field.name!r} holds INT8 values (whole numbers in -128..127)",
                field=field.name,
            )
        return matrix
    return matrix
