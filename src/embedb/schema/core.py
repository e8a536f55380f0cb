"""Fields and collection schemas, and their validation (see ``embedb.schema``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from embedb.errors import DataError, SchemaError
from embedb.schema.functions import FunctionSchema, check_functions
from embedb.schema.types import (
    _ARROW_SCALAR_TYPES,
    ARRAY_ELEMENT_TYPES,
    AUTO_ID_TEXT_LENGTH,
    FLOAT32_MAX,
    INTEGER_BOUNDS,
    MAX_ARRAY_CAPACITY,
    MAX_DIMENSION,
    MAX_VARCHAR_LENGTH,
    DataType,
    MetricType,
    check_name,
    lone_surrogate_at,
)
from embedb.timestamps import to_micros


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
    # Full-text search on a VARCHAR field: its analyzer (Milvus's analyzer_params), and TEXT_MATCH filters.
    enable_analyzer: bool = False
    analyzer_params: dict[str, Any] | None = None
    enable_match: bool = False

    def with_metric(self, metric: MetricType) -> FieldSchema:
        return replace(self, metric_type=metric)

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
        elif dtype.is_sparse and (self.source is not None or self.model is not None):
            if self.source is None or self.model is None:  # an analyzer version counts the source's terms
                raise SchemaError(f"{where}: a BM25 field bound to an analyzer names both source= and model=")
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
        if (self.enable_analyzer or self.enable_match or self.analyzer_params is not None) and dtype is not DataType.VARCHAR:
            raise SchemaError(f"{where}: enable_analyzer, analyzer_params and enable_match apply to VARCHAR fields")
        if self.enable_match and not self.enable_analyzer:
            raise SchemaError(f"{where}: enable_match needs enable_analyzer=True (TEXT_MATCH reads the analyzer's tokens)")
        if self.analyzer_params is not None and not isinstance(self.analyzer_params, dict):
            raise SchemaError(f"{where}: analyzer_params must be a dict, got {type(self.analyzer_params).__name__}")
        return field_

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.dtype.name}
        for key in ("is_primary", "auto_id", "nullable", "is_partition_key", "is_clustering_key", "enable_analyzer", "enable_match"):
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
            "analyzer_params": self.analyzer_params,
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
            "enable_analyzer",
            "analyzer_params",
            "enable_match",
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
            enable_analyzer=bool(data.get("enable_analyzer", False)),
            analyzer_params=data.get("analyzer_params"),
            enable_match=bool(data.get("enable_match", False)),
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
    functions: tuple[FunctionSchema, ...] = ()
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
    def bound_fields(self) -> tuple[FieldSchema, ...]:
        """Fields whose values a registered model makes: vectors by an embedding model, BM25 term counts by an analyzer."""
        return tuple(f for f in self.fields if f.model is not None)

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
        if self.functions:  # a BM25 function's output field is searched with BM25
            checked = check_functions(self.functions, by_name)
            fields = tuple(checked[f.name] for f in fields)
        outputs = {name for function in self.functions for name in function.output_field_names}
        for f in fields:
            if f.dtype.is_sparse and f.model is not None and f.name not in outputs:
                raise SchemaError(f"field {f.name!r}: an analyzer-bound sparse field is a BM25 function's output; add one")
        return CollectionSchema(
            fields=fields, enable_dynamic_field=self.enable_dynamic_field, description=self.description, functions=self.functions
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fields": [f.to_dict() for f in self.fields],
            "enable_dynamic_field": self.enable_dynamic_field,
            "description": self.description,
        }
        if self.functions:
            out["functions"] = [function.to_dict() for function in self.functions]
        return out

    def function_output(self, field_name: str) -> FunctionSchema | None:
        """The function that fills ``field_name``, or None when writes give it."""
        return next((f for f in self.functions if field_name in f.output_field_names), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionSchema:
        if not isinstance(data, dict) or not isinstance(data.get("fields"), list):
            raise SchemaError("a schema must be an object with a 'fields' list")
        return cls(
            fields=tuple(FieldSchema.from_dict(f) for f in data["fields"]),
            enable_dynamic_field=bool(data.get("enable_dynamic_field", False)),
            description=str(data.get("description") or ""),
            functions=tuple(FunctionSchema.from_dict(f) for f in data.get("functions") or ()),
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
