"""BINARY_VECTOR values: packed bytes at the edges, one float32 0/1 per bit inside.

Milvus takes and returns a binary vector of ``dim`` bits as ``dim / 8`` bytes,
the first dimension in the most significant bit of the first byte (what
``numpy.packbits`` makes). EmbeDB stores and indexes the bits as float32 0/1
values, so that every kernel that scores float vectors scores bits too: over
0/1 values the squared L2 distance is the Hamming distance and ``q . x`` the
number of bits both hold (JACCARD).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from embedb.errors import DataError, DimensionMismatchError
from embedb.schema import FieldSchema, MetricType


def bits_from_packed(field: FieldSchema, value: Any, what: str) -> np.ndarray:
    """Packed binary vectors (bytes-likes, lists of byte values, or an (n, dim/8) uint8 matrix) as an (n, dim) 0/1 float32 matrix."""
    width = int(field.dim or 0) // 8
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        value = value.to_pylist()
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 2:
        packed = value
    else:
        rows = [_row_bytes(field, item, index, what, width) for index, item in enumerate(value)]
        packed = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), width)
    if packed.shape[1] != width:
        raise DimensionMismatchError(
            f"field {field.name!r} holds {field.dim}-bit vectors ({width} bytes), got {packed.shape[1]} bytes",
            field=field.name,
        )
    return np.ascontiguousarray(np.unpackbits(packed, axis=1), dtype=np.float32)


def _row_bytes(field: FieldSchema, item: Any, index: int, what: str, width: int) -> bytes:
    if isinstance(item, (bytes, bytearray, memoryview)):
        raw = bytes(item)
    elif isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 1:
        raw = item.tobytes()
    elif isinstance(item, (list, tuple)) and all(type(b) is int and 0 <= b <= 255 for b in item):
        raw = bytes(item)
    elif item is None:
        raise DataError(f"{what} {index}: missing vector field {field.name!r}", row=index, field=field.name)
    else:
        raise DataError(
            f"{what} {index}: field {field.name!r} is a BINARY_VECTOR: give {width} packed bytes"
            f" (bytes, or a list of byte values 0..255), not {type(item).__name__}",
            row=index,
            field=field.name,
        )
    if len(raw) != width:
        raise DimensionMismatchError(
            f"{what} {index}: field {field.name!r} holds {field.dim}-bit vectors ({width} bytes), got {len(raw)} bytes",
            row=index,
            field=field.name,
        )
    return raw


def binary_queries(field: FieldSchema, data: Any) -> np.ndarray:
    """Search vectors of a BINARY_VECTOR field (one bytes-like, or a list of them) as 0/1 float32 rows."""
    if isinstance(data, (bytes, bytearray, memoryview)) or (isinstance(data, np.ndarray) and data.ndim == 1):
        data = [data]
    if isinstance(data, (list, tuple)) and data and all(type(b) is int for b in data):
        data = [data]
    if isinstance(data, (list, tuple)) and not data:
        raise DataError("search needs at least one query vector")
    bits = bits_from_packed(field, data, "query")
    if field.metric_type is MetricType.JACCARD:
        empty = np.nonzero(~bits.any(axis=1))[0]
        if empty.size:
            raise DataError(
                f"query {int(empty[0])} has no bit set: JACCARD is undefined for an empty vector", field=field.name
            )
    return bits


def packed(bits: np.ndarray) -> list[bytes]:
    """Rows of 0/1 values as Milvus returns binary vectors: ``dim / 8`` bytes each."""
    return [row.tobytes() for row in np.packbits(np.asarray(bits) > 0.5, axis=1)]
