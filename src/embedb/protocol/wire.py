"""How values travel between ``HttpBackend`` and ``embedb serve``.

JSON by default, with three additions:

- **Packed arrays.** A numeric NumPy array travels as
  ``{"dtype": "float32", "shape": [n, d], "b64": "<little-endian bytes, base64>"}``.
  The server accepts a packed array anywhere inside ``data`` (insert, upsert,
  search): an object with exactly the keys ``dtype``, ``shape`` and ``b64`` is
  unpacked into a NumPy array before the backend sees it. Reads (get, query,
  search) return vector fields packed as float32 when the request asks for
  ``vector_encoding=base64``. Packing is exact: the same bits come back.
  ``bytes`` (a BINARY_VECTOR's packed bits) travel the same way with dtype
  ``"bytes"`` and come back as ``bytes``; a plain JSON list of byte values
  (0..255) is accepted for a binary vector too. A sparse vector read back travels
  with dtype ``"sparse"`` (its (uint32 dimension, float32 weight) pairs) and comes
  back as a ``{dimension: weight}`` dict; one written is a plain JSON object.
- **Arrow IPC.** ``insert``/``upsert`` also accept an Arrow IPC stream
  (``application/vnd.apache.arrow.stream``) as the whole body.
- **Non-finite floats** are written as ``NaN``/``Infinity`` (Python's JSON
  extension) instead of failing, so a stored NaN never turns a read into a 500.

Limits: a packed array's axes are at most ``MAX_PACKED_AXIS`` long (an empty
array could otherwise claim any other axis); a JSON request body nests at most
``MAX_JSON_DEPTH`` levels of arrays and objects (``json_too_deep`` measures it
without parsing, so the server refuses deeper bodies first).

This module needs only NumPy and pyarrow: the HTTP client imports it too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from embedb.errors import DataError

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PACKED_KEYS = frozenset({"dtype", "shape", "b64"})
PACKED_DTYPES = frozenset({"float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"})
BYTES = "bytes"  # the dtype of a packed ``bytes`` value
SPARSE = "sparse"  # the dtype of a packed sparse vector
_SPARSE_PAIR = np.dtype([("dimension", "<u4"), ("weight", "<f4")])
MAX_PACKED_DIMS = 2
MAX_PACKED_AXIS = 2**31 - 1
MAX_JSON_DEPTH = 128


def pack_array(array: np.ndarray) -> dict[str, Any]:
    """An array as a packed JSON object (little-endian bytes, base64); raises ``DataError`` for other dtypes."""
    name = array.dtype.name
    if name not in PACKED_DTYPES:
        raise DataError(f"cannot pack a NumPy array of dtype {name}; packed dtypes: {sorted(PACKED_DTYPES)}")
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"dtype": name, "shape": list(array.shape), "b64": base64.b64encode(little.tobytes()).decode("ascii")}


def pack_bytes(value: bytes | bytearray | memoryview) -> dict[str, Any]:
    """A bytes value as a packed JSON object (dtype ``bytes``, its length as the shape)."""
    raw = bytes(value)
    return {"dtype": BYTES, "shape": [len(raw)], "b64": base64.b64encode(raw).decode("ascii")}


def sparse_bytes(row: Mapping[int, float]) -> bytes:
    """A sparse vector's (uint32 dimension, float32 weight) pairs, little-endian, by dimension: Milvus's layout too."""
    pairs = np.empty(len(row), dtype=_SPARSE_PAIR)
    ordered = sorted(row.items())
    pairs["dimension"] = [int(dimension) for dimension, _ in ordered]
    pairs["weight"] = [float(weight) for _, weight in ordered]
    return pairs.tobytes()


def sparse_pairs(raw: bytes, what: str) -> list[tuple[int, float]]:
    """The (dimension, weight) pairs of ``sparse_bytes`` output (a dimension given twice is kept, for the checks to refuse)."""
    if len(raw) % _SPARSE_PAIR.itemsize:
        raise DataError(f"{what}: sparse vector bytes are not whole (uint32, float32) pairs")
    pairs = np.frombuffer(raw, dtype=_SPARSE_PAIR)
    return list(zip(pairs["dimension"].tolist(), pairs["weight"].tolist(), strict=True))


def pack_sparse(row: Mapping[int, float]) -> dict[str, Any]:
    """A sparse vector as a packed JSON object: ``sparse_bytes``, base64."""
    return {"dtype": SPARSE, "shape": [len(row)], "b64": base64.b64encode(sparse_bytes(row)).decode("ascii")}


def is_packed(value: Any) -> bool:
    """Whether ``value`` is a packed-array object (exactly the keys dtype, shape, b64)."""
    return isinstance(value, Mapping) and len(value) == len(PACKED_KEYS) and PACKED_KEYS.issuperset(value)


def unpack_array(packed: Mapping[str, Any]) -> Any:
    """The NumPy array (or ``bytes``, for dtype ``bytes``) a packed object describes; raises ``DataError`` naming what is wrong."""
    dtype, shape, text = packed["dtype"], packed["shape"], packed["b64"]
    if not isinstance(dtype, str) or (dtype not in PACKED_DTYPES and dtype not in (BYTES, SPARSE)):
        raise DataError(f"packed array: dtype must be one of {sorted(PACKED_DTYPES | {BYTES, SPARSE})}, got {dtype!r}")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_PACKED_DIMS
        or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_PACKED_AXIS for n in shape)
    ):
        raise DataError(
            f"packed array: shape must be a list of 1 or 2 integers from 0 to {MAX_PACKED_AXIS}, got {shape!r}"
        )
    if not isinstance(text, str):
        raise DataError("packed array: b64 must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DataError("packed array: b64 is not valid base64") from None
    if dtype == BYTES:
        if len(shape) != 1 or len(raw) != shape[0]:
            raise DataError(f"packed bytes: shape {shape} does not match the {len(raw)} bytes b64 holds")
        return raw
    if dtype == SPARSE:
        if len(shape) != 1 or len(raw) != shape[0] * _SPARSE_PAIR.itemsize:
            raise DataError(f"packed sparse vector: shape {shape} does not match the {len(raw)} bytes b64 holds")
        return dict(sparse_pairs(raw, "packed sparse vector"))
    item = np.dtype(dtype).newbyteorder("<")
    expected = math.prod(shape) * item.itemsize
    if len(raw) != expected:
        raise DataError(f"packed array: shape {shape} of {dtype} needs {expected} bytes, b64 holds {len(raw)}")
    return np.frombuffer(raw, dtype=item).astype(np.dtype(dtype), copy=True).reshape(shape)


def unpack_nested(value: Any) -> Any:
    """``value`` with every packed object inside it (lists and dicts, any depth) replaced by its array."""
    if isinstance(value, dict):
        if is_packed(value):
            return unpack_array(value)
        return {key: unpack_nested(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unpack_nested(item) for item in value]
    return value


def unpack_to_lists(value: Any) -> Any:
    """``value`` with packed objects replaced by plain lists (what the embedded backend returns)."""
    if isinstance(value, dict):
        if is_packed(value):
            unpacked = unpack_array(value)
            return unpacked if isinstance(unpacked, (bytes, dict)) else unpacked.tolist()
        return {key: unpack_to_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unpack_to_lists(item) for item in value]
    return value


def pack_row_vectors(rows: list[dict[str, Any]], vector_fields: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with the values of ``vector_fields`` packed: dense vectors as float32, sparse ones as pairs (in place; returns ``rows``)."""
    for row in rows:
        for name in vector_fields:
            vector = row.get(name)
            if isinstance(vector, list):
                row[name] = pack_array(np.asarray(vector, dtype=np.float32))
            elif isinstance(vector, dict):  # a sparse vector: its integer dimensions would turn into JSON text keys
                row[name] = pack_sparse(vector)
    return rows


def to_wire(value: Any) -> Any:
    """A JSON-ready copy of what a caller handed the client: NumPy arrays packed, schemas as dicts.

    Raises ``DataError`` for values JSON cannot carry (sets, arbitrary objects)
    and for lists and dicts nested past ``MAX_JSON_DEPTH`` levels in the request body,
    which is one level more (the server would refuse the body).
    """
    return _to_wire(value, 2)


def _to_wire(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return pack_bytes(value)
    if isinstance(value, dt.datetime):  # a TIMESTAMPTZ value: ISO 8601 text, as the server reads it
        return value.isoformat()
    if hasattr(value, "tocsr") and hasattr(value, "shape"):  # a SciPy sparse matrix: one {dimension: weight} per row
        matrix = value.tocsr()
        return [
            {int(d): float(w) for d, w in zip(matrix.indices[a:b].tolist(), matrix.data[a:b].tolist(), strict=True)}
            for a, b in zip(matrix.indptr[:-1].tolist(), matrix.indptr[1:].tolist(), strict=True)
        ]
    if isinstance(value, np.ndarray):
        if value.dtype.name in PACKED_DTYPES and 1 <= value.ndim <= MAX_PACKED_DIMS:
            return pack_array(value)
        return [_to_wire(item, depth + 1) for item in (value.tolist() if value.dtype != object else value)]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Mapping, list, tuple)) and depth > MAX_JSON_DEPTH:
        raise DataError(f"cannot send lists and dicts nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, Mapping):
        return {str(key): _to_wire(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(item, depth + 1) for item in value]
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value.to_pylist()
    if type(value).__name__ == "DataFrame" and hasattr(value, "columns"):
        return {str(name): _to_wire(value[name].to_numpy(), depth + 1) for name in value.columns}
    if type(value).__name__ == "Series" and hasattr(value, "to_numpy"):
        return _to_wire(value.to_numpy(), depth)
    for converter in ("to_schema", "to_dict"):
        method = getattr(value, converter, None)
        if callable(method):
            converted = method()
            return _to_wire(converted.to_dict() if converter == "to_schema" else converted, depth)
    indexes = getattr(value, "indexes", None)
    if isinstance(indexes, list):  # pymilvus-style IndexParams
        return _to_wire(indexes, depth)
    raise DataError(
        f"cannot send a {type(value).__name__} over HTTP; use lists, dicts, numbers, strings or NumPy arrays"
    )


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are written as Python's JSON does.

    Text UTF-8 cannot hold (a lone surrogate, such as an error message quoting
    bad input) is written as a ``\\u`` escape rather than failing.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=_packed_bytes)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=True, default=_packed_bytes).encode("ascii")


def _packed_bytes(value: Any) -> Any:
    """``json.dumps``'s fallback: bytes (a binary vector read back) as a packed object; anything else is an error."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return pack_bytes(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def loads(data: bytes | str) -> Any:
    """Parse JSON (``NaN``/``Infinity`` accepted); raises ``ValueError`` when it is not JSON."""
    return json.loads(data)


_NOT_JSON_SYNTAX = bytes(set(range(256)) - set(b'[]{}"'))
_SCAN_CHUNK = 1 << 20


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` levels in the JSON text ``body``.

    Measured without parsing, and cheaply: a count of opening brackets answers
    for most bodies; otherwise escapes are dropped, then all but brackets and
    quotes, and NumPy follows what is left (brackets inside strings do not
    count). For text that is not JSON the answer means nothing; the parser
    refuses such text anyway.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    # Backslashes only escape inside strings, pairs left to right: after \\ and \" are gone, every quote is real.
    syntax = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_JSON_SYNTAX)
    depth, inside_string = 0, False
    for start in range(0, len(syntax), _SCAN_CHUNK):  # in chunks: a body of brackets stays cheap in memory
        chars = np.frombuffer(syntax[start : start + _SCAN_CHUNK], dtype=np.uint8)
        inside = np.logical_xor.accumulate(chars == ord('"')) ^ inside_string  # right for brackets, never quotes
        step = ((chars == ord("[")) | (chars == ord("{"))).astype(np.int32)
        step -= (chars == ord("]")) | (chars == ord("}"))
        step[inside] = 0
        levels = np.cumsum(step, dtype=np.int64) + depth
        if levels.max() > limit:
            return True
        depth, inside_string = int(levels[-1]), bool(inside[-1])
    return False


def is_arrow(value: Any) -> bool:
    """Whether ``value`` is an Arrow table or record batch (sent as an Arrow IPC stream)."""
    return isinstance(value, (pa.Table, pa.RecordBatch))


def write_arrow_stream(data: pa.Table | pa.RecordBatch) -> bytes:
    """An Arrow table or batch as the bytes of one IPC stream."""
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def read_arrow_stream(body: bytes) -> pa.Table:
    """The table in an Arrow IPC stream; raises ``DataError`` when the bytes are not one."""
    if not body:
        raise DataError("the Arrow IPC body is empty")
    try:
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            return reader.read_all()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as error:
        raise DataError(f"the body is not a valid Arrow IPC stream: {error}") from None
