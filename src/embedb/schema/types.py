"""Field and metric types of collection schemas, with Milvus's names and numbers; names and limits.

``DataType`` numbers are Milvus's (``FLOAT_VECTOR`` is 101 there too);
naming a Milvus type EmbeDB does not store yet is an ``UnsupportedTypeError``.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import pyarrow as pa

from embedb.errors import InvalidNameError, SchemaError, UnsupportedTypeError

# Checked with fullmatch: "$" alone would also match before a final newline ("docs\n").
NAME_PATTERN = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,254}\Z")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
DYNAMIC_FIELD_NAME = "$meta"
MAX_VARCHAR_LENGTH = 65_535
MAX_DIMENSION = 32_768
MAX_ARRAY_CAPACITY = 4_096
MAX_JSON_DEPTH = 64
FLOAT32_MAX = 3.4028234663852886e38
AUTO_ID_TEXT_LENGTH = 19  # a generated VARCHAR key: a positive 64-bit number in decimal  # levels of arrays and objects in a JSON field's value


# Milvus data types EmbeDB does not store yet: naming one is an ``UnsupportedTypeError``, not a bare AttributeError.
MILVUS_TYPES_NOT_SUPPORTED = frozenset(
    {
        "GEOMETRY",
        "STRUCT",
        "TEXT",
    }
)


def _not_supported(name: str, supported: Any) -> UnsupportedTypeError:
    return UnsupportedTypeError(
        f"data type {name} is not supported by EmbeDB yet; supported: {', '.join(supported)}", data_type=name
    )


class _DataTypeMeta(enum.EnumMeta):
    def __getattr__(cls, name: str) -> Any:
        if name in MILVUS_TYPES_NOT_SUPPORTED:
            raise _not_supported(name, cls.__members__)
        return super().__getattr__(name)  # type: ignore[misc]


class DataType(enum.IntEnum, metaclass=_DataTypeMeta):
    """Field types; the numbers are Milvus's."""

    BOOL = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    FLOAT = 10
    DOUBLE = 11
    VARCHAR = 21
    ARRAY = 22
    JSON = 23
    # An instant: ISO 8601 text in and out, int64 microseconds since the epoch (UTC) inside (embedb.timestamps).
    TIMESTAMPTZ = 26
    # Bits, given and returned packed (dim / 8 bytes, most significant bit first); stored one float32 0/1 per bit.
    BINARY_VECTOR = 100
    FLOAT_VECTOR = 101
    # Stored as float32 holding exactly the values the narrower type can hold (docs/milvus-compatibility.md).
    FLOAT16_VECTOR = 102
    BFLOAT16_VECTOR = 103
    # {dimension: weight}, any dimension below 2**32 - 1; kept as an Arrow map column beside the scalars (no dim).
    SPARSE_FLOAT_VECTOR = 104
    INT8_VECTOR = 105

    @classmethod
    def parse(cls, value: DataType | str | int) -> DataType:
        """Accept a member, its name (any case) or its number."""
        if isinstance(value, DataType):
            return value
        if isinstance(value, str):
            key = value.strip().upper()
            aliases = {"STRING": "VARCHAR", "FLOAT32": "FLOAT", "FLOAT64": "DOUBLE", "VECTOR": "FLOAT_VECTOR"}
            key = aliases.get(key, key)
            if key in cls.__members__:
                return cls[key]
            if key in MILVUS_TYPES_NOT_SUPPORTED:
                raise _not_supported(key, cls.__members__)
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        allowed = ", ".join(cls.__members__)
        raise SchemaError(f"unknown data type {value!r}; allowed: {allowed}")

    @property
    def is_integer(self) -> bool:
        return self in _INTEGER_TYPES

    @property
    def is_numeric(self) -> bool:
        return self in _INTEGER_TYPES or self in (DataType.FLOAT, DataType.DOUBLE)

    @property
    def is_vector(self) -> bool:
        """A dense vector type (stored as a float32 matrix beside the rows)."""
        return self in _VECTOR_TYPES

    @property
    def is_sparse(self) -> bool:
        return self is DataType.SPARSE_FLOAT_VECTOR

    @property
    def is_searchable(self) -> bool:
        """A field a search ranks by: a dense or a sparse vector."""
        return self in _VECTOR_TYPES or self is DataType.SPARSE_FLOAT_VECTOR


_INTEGER_TYPES = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})
_VECTOR_TYPES = frozenset(
    {
        DataType.FLOAT_VECTOR,
        DataType.FLOAT16_VECTOR,
        DataType.BFLOAT16_VECTOR,
        DataType.INT8_VECTOR,
        DataType.BINARY_VECTOR,
    }
)

INTEGER_BOUNDS: dict[DataType, tuple[int, int]] = {
    DataType.INT8: (-(2**7), 2**7 - 1),
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
}

_ARROW_SCALAR_TYPES: dict[DataType, pa.DataType] = {
    DataType.BOOL: pa.bool_(),
    DataType.INT8: pa.int8(),
    DataType.INT16: pa.int16(),
    DataType.INT32: pa.int32(),
    DataType.INT64: pa.int64(),
    DataType.FLOAT: pa.float32(),
    DataType.DOUBLE: pa.float64(),
    DataType.VARCHAR: pa.string(),
    # JSON values are kept as their canonical JSON text.
    DataType.JSON: pa.string(),
    DataType.TIMESTAMPTZ: pa.int64(),
    DataType.SPARSE_FLOAT_VECTOR: pa.map_(pa.uint32(), pa.float32()),
}

ARRAY_ELEMENT_TYPES = frozenset(
    {
        DataType.BOOL,
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.VARCHAR,
    }
)


class MetricType(enum.StrEnum):
    """Vector similarity metrics, with Milvus's names."""

    COSINE = "COSINE"  # similarity, larger is closer
    IP = "IP"  # inner product, larger is closer
    L2 = "L2"  # squared Euclidean distance, smaller is closer
    HAMMING = "HAMMING"  # differing bits (BINARY_VECTOR), smaller is closer
    JACCARD = "JACCARD"  # 1 - |a and b| / |a or b| (BINARY_VECTOR), smaller is closer
    BM25 = "BM25"  # relevance of a text to a BM25 function's sparse output, larger is closer

    @classmethod
    def parse(cls, value: MetricType | str) -> MetricType:
        if isinstance(value, MetricType):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        raise SchemaError(f"unknown metric type {value!r}; allowed: {', '.join(cls.__members__)}")

    @property
    def is_binary(self) -> bool:
        """A metric of BINARY_VECTOR fields (and only of them)."""
        return self in (MetricType.HAMMING, MetricType.JACCARD)

    @property
    def negated(self) -> bool:
        """Scored as a negated squared distance inside the query layer: L2, and HAMMING (L2 over 0/1 bits)."""
        return self in (MetricType.L2, MetricType.HAMMING)

    @property
    def smaller_is_closer(self) -> bool:
        """Whether the distance Milvus returns grows with dissimilarity."""
        return self in (MetricType.L2, MetricType.HAMMING, MetricType.JACCARD)


def check_name(name: object, *, kind: str) -> str:
    """Return ``name`` if it is a valid identifier for a ``kind``; raise ``InvalidNameError``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidNameError(
            f"invalid {kind} name {name!r}: use 1-255 letters, digits or underscores, not starting with a digit"
        )
    return name


def lone_surrogate_at(text: str) -> int | None:
    """The index of the first lone surrogate in ``text``, or None when it has none.

    A lone surrogate (JSON's ``"\\ud800"``, Python's ``"\\ud800"``) is a code
    point that no UTF-8 text can hold: stored, it could never be read back.
    """
    if text.isascii():
        return None
    found = _LONE_SURROGATE.search(text)
    return None if found is None else found.start()
