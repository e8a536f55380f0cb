"""Collection schemas: data types, fields, metrics, and their validation.

A schema is a small immutable value: it is stored as JSON in the catalog, sent
over the wire as the same JSON, and checked once when a collection is created.
Names and numbers follow Milvus (``DataType.FLOAT_VECTOR`` is 101 there too), so
that code written for pymilvus reads the same.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from embedb.errors import DataError, InvalidNameError, SchemaError, UnsupportedTypeError
from embedb.timestamps import to_micros

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
    {DataType.FLOAT_VECTOR, DataType.FLOAT16_VECTOR, DataType.BFLOAT16_VECTOR, DataType.INT8_VECTOR, DataType.BINARY_VECTOR}
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


@dataclass(frozen=True)
class FieldSchema:
    """One field of a collection.

    ``source`` and ``model`` bind a vector field to a model: rows that carry the
    source field and no vector are embedded by that model (see ``embedb.models``).
    """

    name: str
    dtype: DataType
    is_primary: bool = False
    auto_id: bool = False
    nullable: bool = False
    default_value: Any = None
    max_length: int | None = None
    element_type: DataType | None = None
    max_capacity: int | None = None
    dim: int | None = None
    metric_type: MetricType | None = None
    description: str = ""
    source: str | None = None
    model: str | None = None
    # Milvus's partition key (rows are spread by it; manual partitions are refused) and clustering key (accepted).
    is_partition_key: bool = False
    is_clustering_key: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type this field's values are stored as (vectors are stored apart)."""
        if self.dtype is DataType.ARRAY:
            assert self.element_type is not None  # guaranteed by validate()
            return pa.list_(_ARROW_SCALAR_TYPES[self.element_type])
        if self.dtype.is_vector:
            return pa.list_(pa.float32())
        return _ARROW_SCALAR_TYPES[self.dtype]

    def validate(self) -> FieldSchema:
        """Return the field with normalised options; raise ``SchemaError`` if it is invalid."""
        check_name(self.name, kind="field")
        dtype = DataType.parse(self.dtype)
        field_ = replace(self, dtype=dtype)
        where = f"field {self.name!r}"
        if dtype is DataType.VARCHAR:
            if self.max_length is None:
                raise SchemaError(f"{where}: VARCHAR needs max_length (1..{MAX_VARCHAR_LENGTH})")
            if not isinstance(self.max_length, int) or not 1 <= self.max_length <= MAX_VARCHAR_LENGTH:
                raise SchemaError(f"{where}: max_length must be an integer in 1..{MAX_VARCHAR_LENGTH}")
        if dtype is DataType.ARRAY:
            if self.element_type is None:
                raise SchemaError(f"{where}: ARRAY needs element_type")
            element = DataType.parse(self.element_type)
            if element not in ARRAY_ELEMENT_TYPES:
                raise SchemaError(f"{where}: ARRAY element_type must be a scalar type, not {element.name}")
            capacity = self.max_capacity
            if not isinstance(capacity, int) or not 1 <= capacity <= MAX_ARRAY_CAPACITY:
                raise SchemaError(f"{where}: ARRAY needs max_capacity in 1..{MAX_ARRAY_CAPACITY}")
            if element is DataType.VARCHAR and self.max_length is None:
                raise SchemaError(f"{where}: an ARRAY of VARCHAR needs max_length")
            field_ = replace(field_, element_type=element)
        if dtype.is_vector:
            bound_without_dim = self.dim is None and self.model is not None  # the model will say
            if not bound_without_dim and (
                not isinstance(self.dim, int) or isinstance(self.dim, bool) or not 1 <= self.dim <= MAX_DIMENSION
            ):
                raise SchemaError(f"{where}: {dtype.name} needs dim in 1..{MAX_DIMENSION}, got {self.dim!r}")
            if self.model is not None and dtype is not DataType.FLOAT_VECTOR:
                raise SchemaError(f"{where}: a model-bound field is a FLOAT_VECTOR")
            binary = dtype is DataType.BINARY_VECTOR
            metric = MetricType.parse(self.metric_type or (MetricType.HAMMING if binary else MetricType.COSINE))
            if metric.is_binary != binary or metric is MetricType.BM25:
                allowed = "HAMMING or JACCARD" if binary else "COSINE, IP or L2"
                raise SchemaError(f"{where}: a {dtype.name} field uses {allowed}, not {metric.value}")
            if binary and self.dim is not None and self.dim % 8:
                raise SchemaError(f"{where}: a BINARY_VECTOR's dim counts bits and must be a multiple of 8, got {self.dim}")
            field_ = replace(field_, metric_type=metric)
            if self.nullable and self.model is not None:
                raise SchemaError(f"{where}: a model-bound vector field cannot be nullable (its model embeds every row)")
            if self.is_primary:
                raise SchemaError(f"{where}: a vector field cannot be the primary key")
            if self.source is not None and self.model is None:
                raise SchemaError(f"{where}: source= needs model= to say which model embeds it")
            if self.model is not None and self.source is None:
                raise SchemaError(f"{where}: model= needs source= to say which text field it embeds")
        elif self.source is not None or self.model is not None:
            raise SchemaError(f"{where}: only vector fields can name a source or a model")
        if self.is_primary:
            if dtype not in (DataType.INT64, DataType.VARCHAR):
                raise SchemaError(f"{where}: the primary key must be INT64 or VARCHAR, not {dtype.name}")
            if self.nullable or self.default_value is not None:
                raise SchemaError(f"{where}: the primary key cannot be nullable or have a default")
            if self.auto_id and dtype is DataType.VARCHAR and (self.max_length or 0) < AUTO_ID_TEXT_LENGTH:
                raise SchemaError(f"{where}: a VARCHAR auto_id key needs max_length >= {AUTO_ID_TEXT_LENGTH} (keys are 64-bit numbers as text)")
        elif self.auto_id:
            raise SchemaError(f"{where}: only the primary key can use auto_id")
        if dtype.is_sparse:
            metric = MetricType.parse(self.metric_type or MetricType.IP)
            if metric not in (MetricType.IP, MetricType.BM25):
                raise SchemaError(f"{where}: a SPARSE_FLOAT_VECTOR field uses IP (or BM25 as a BM25 function's output), not {metric.value}")
            if self.nullable or self.is_primary or self.dim is not None:
                raise SchemaError(f"{where}: a SPARSE_FLOAT_VECTOR field has no dim and cannot be nullable or the primary key")
            field_ = replace(field_, metric_type=metric)
        if self.default_value is not None and (dtype in (DataType.JSON, DataType.ARRAY) or dtype.is_searchable):
            raise SchemaError(f"{where}: {dtype.name} fields cannot have a default value")
        if self.default_value is not None:
            _check_default(where, field_)
        if self.is_partition_key and (self.is_primary or self.nullable or dtype not in (DataType.INT64, DataType.VARCHAR)):
            raise SchemaError(f"{where}: a partition key is a non-nullable INT64 or VARCHAR field other than the primary key")
        if self.is_clustering_key and (dtype.is_searchable or dtype in (DataType.JSON, DataType.ARRAY, DataType.BOOL)):
            raise SchemaError(f"{where}: a clustering key is an integer, float or VARCHAR field")
        return field_

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.dtype.name}
        for key in ("is_primary", "auto_id", "nullable", "is_partition_key", "is_clustering_key"):
            if getattr(self, key):
                out[key] = True
        optional = {
            "default_value": self.default_value,
            "max_length": self.max_length,
            "element_type": self.element_type.name if self.element_type else None,
            "max_capacity": self.max_capacity,
            "dim": self.dim,
            "metric_type": self.metric_type.value if self.metric_type else None,
            "description": self.description or None,
            "source": self.source,
            "model": self.model,
        }
        out.update({key: value for key, value in optional.items() if value is not None})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldSchema:
        if not isinstance(data, dict):
            raise SchemaError(f"a field must be an object, got {type(data).__name__}")
        known = {
            "name",
            "type",
            "dtype",
            "is_primary",
            "auto_id",
            "nullable",
            "default_value",
            "max_length",
            "element_type",
            "max_capacity",
            "dim",
            "metric_type",
            "description",
            "source",
            "model",
            "is_partition_key",
            "is_clustering_key",
        }
        unknown = set(data) - known
        if unknown:
            raise SchemaError(f"field {data.get('name')!r}: unknown keys {sorted(unknown)}")
        if "type" not in data and "dtype" not in data:
            raise SchemaError(f"field {data.get('name')!r}: missing 'type'")
        element = data.get("element_type")
        metric = data.get("metric_type")
        return cls(
            name=data.get("name"),  # type: ignore[arg-type]  # checked by validate()
            dtype=DataType.parse(data.get("type", data.get("dtype", ""))),
            is_primary=bool(data.get("is_primary", False)),
            auto_id=bool(data.get("auto_id", False)),
            nullable=bool(data.get("nullable", False)),
            default_value=data.get("default_value"),
            max_length=data.get("max_length"),
            element_type=DataType.parse(element) if element is not None else None,
            max_capacity=data.get("max_capacity"),
            dim=data.get("dim"),
            metric_type=MetricType.parse(metric) if metric is not None else None,
            description=data.get("description") or "",
            source=data.get("source"),
            model=data.get("model"),
            is_partition_key=bool(data.get("is_partition_key", False)),
            is_clustering_key=bool(data.get("is_clustering_key", False)),
        ).validate()


def _check_default(where: str, field_: FieldSchema) -> None:
    """A default value must be a value the field could store: its kind, its range, its length."""
    value, dtype = field_.default_value, field_.dtype
    if dtype is DataType.BOOL:
        ok = isinstance(value, bool)
    elif dtype.is_integer:
        low, high = INTEGER_BOUNDS[dtype]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif dtype in (DataType.FLOAT, DataType.DOUBLE):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok and dtype is DataType.FLOAT:
            ok = abs(value) <= FLOAT32_MAX
    elif dtype is DataType.VARCHAR:
        ok = isinstance(value, str) and lone_surrogate_at(value) is None and len(value.encode("utf-8")) <= (field_.max_length or 0)
    elif dtype is DataType.TIMESTAMPTZ:  # kept as given; text without an offset is read in the collection's timezone
        try:
            ok = isinstance(value, str) and to_micros(value) is not None
        except DataError:
            ok = False
    else:
        ok = False
    if not ok:
        raise SchemaError(f"{where}: default value {value!r} is not a valid {dtype.name} value for this field")


@dataclass(frozen=True)
class CollectionSchema:
    """The fields of a collection, with exactly one primary key and one or more vector fields."""

    fields: tuple[FieldSchema, ...]
    enable_dynamic_field: bool = False
    description: str = ""
    _by_name: dict[str, FieldSchema] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.fields})

    @property
    def primary(self) -> FieldSchema:
        return next(f for f in self.fields if f.is_primary)

    @property
    def partition_key(self) -> FieldSchema | None:
        """Milvus's partition key field, if the schema has one."""
        return next((f for f in self.fields if f.is_partition_key), None)

    @property
    def vector_fields(self) -> tuple[FieldSchema, ...]:
        return tuple(f for f in self.fields if f.dtype.is_vector)

    @property
    def scalar_fields(self) -> tuple[FieldSchema, ...]:
        """The fields kept in a segment's Arrow table: every field but the dense vectors (sparse ones too)."""
        return tuple(f for f in self.fields if not f.dtype.is_vector)

    @property
    def searchable_fields(self) -> tuple[FieldSchema, ...]:
        """The fields a search may rank by: dense and sparse vectors."""
        return tuple(f for f in self.fields if f.dtype.is_searchable)

    def has_field(self, name: str) -> bool:
        return name in self._by_name

    def field(self, name: str) -> FieldSchema:
        """Return the field named ``name``; raise ``FieldNotFoundError``."""
        try:
            return self._by_name[name]
        except KeyError:
            from embedb.errors import FieldNotFoundError

            known = ", ".join(self._by_name)
            raise FieldNotFoundError(f"no field {name!r} in the schema; fields: {known}") from None

    def validate(self) -> CollectionSchema:
        """Return a normalised copy; raise ``SchemaError`` naming what is wrong."""
        if not self.fields:
            raise SchemaError("a schema needs at least a primary key field and a vector field")
        fields = tuple(f.validate() for f in self.fields)
        names = [f.name for f in fields]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaError(f"duplicate field names: {duplicated}")
        primaries = [f.name for f in fields if f.is_primary]
        if len(primaries) != 1:
            raise SchemaError(f"a schema needs exactly one primary key field, found {len(primaries)}: {primaries}")
        if not any(f.dtype.is_searchable for f in fields):
            raise SchemaError(
                "a schema needs at least one vector field"
                " (FLOAT_VECTOR, FLOAT16_VECTOR, BFLOAT16_VECTOR, INT8_VECTOR, BINARY_VECTOR or SPARSE_FLOAT_VECTOR)"
            )
        for flag, what in (("is_partition_key", "partition key"), ("is_clustering_key", "clustering key")):
            keys = [f.name for f in fields if getattr(f, flag)]
            if len(keys) > 1:
                raise SchemaError(f"a schema has at most one {what}, found {keys}")
        by_name = {f.name: f for f in fields}
        for f in fields:
            if f.source is None:
                continue
            source = by_name.get(f.source)
            if source is None:
                raise SchemaError(f"field {f.name!r}: source field {f.source!r} is not in the schema")
            if source.dtype is not DataType.VARCHAR:
                raise SchemaError(f"field {f.name!r}: source field {f.source!r} must be VARCHAR")
        return CollectionSchema(
            fields=fields, enable_dynamic_field=self.enable_dynamic_field, description=self.description
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [f.to_dict() for f in self.fields],
            "enable_dynamic_field": self.enable_dynamic_field,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionSchema:
        if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
            raise SchemaError("a schema must be an object with a 'fields' list")
        return cls(
            fields=tuple(FieldSchema.from_dict(f) for f in data["fields"]),
            enable_dynamic_field=bool(data.get("enable_dynamic_field", False)),
            description=str(data.get("description") or ""),
        ).validate()

    @classmethod
    def quick(
        cls,
        *,
        dimension: int,
        primary_field_name: str = "id",
        id_type: DataType | str = DataType.INT64,
        vector_field_name: str = "vector",
        metric_type: MetricType | str = MetricType.COSINE,
        auto_id: bool = False,
        max_length: int | None = None,
        enable_dynamic_field: bool = True,
    ) -> CollectionSchema:
        """The Milvus quick-setup schema: a primary key, one vector, a dynamic field."""
        id_dtype = DataType.parse(id_type)
        if id_dtype is DataType.VARCHAR and max_length is None:
            max_length = 512
        return cls(
            fields=(
                FieldSchema(
                    primary_field_name,
                    id_dtype,
                    is_primary=True,
                    auto_id=auto_id,
                    max_length=max_length if id_dtype is DataType.VARCHAR else None,
                ),
                FieldSchema(vector_field_name, DataType.FLOAT_VECTOR, dim=dimension, metric_type=MetricType.parse(metric_type)),
            ),
            enable_dynamic_field=enable_dynamic_field,
        ).validate()


def VectorField(
    name: str,
    *,
    dim: int | None = None,
    metric_type: MetricType | str | None = None,
    source: str | None = None,
    model: str | None = None,
    description: str = "",
) -> FieldSchema:
    """A FLOAT_VECTOR field; with ``source`` and ``model`` EmbeDB embeds the source text itself.

    ``VectorField("embedding", source="text", model="minilm@champion")`` takes its
    dimension from the model when the collection is created.
    """
    return FieldSchema(
        name,
        DataType.FLOAT_VECTOR,
        dim=dim,
        metric_type=MetricType.parse(metric_type) if metric_type is not None else None,
        source=source,
        model=model,
        description=description,
    )
