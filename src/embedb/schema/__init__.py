"""Collection schemas: data types, fields, metrics, and their validation.

A schema is a small immutable value: it is stored as JSON in the catalog, sent
over the wire as the same JSON, and checked once when a collection is created.
Names and numbers follow Milvus (``DataType.FLOAT_VECTOR`` is 101 there too), so
that code written for pymilvus reads the same.
"""

from embedb.schema.core import CollectionSchema, FieldSchema, VectorField
from embedb.schema.types import (
    ARRAY_ELEMENT_TYPES,
    AUTO_ID_TEXT_LENGTH,
    DYNAMIC_FIELD_NAME,
    FLOAT32_MAX,
    INTEGER_BOUNDS,
    MAX_ARRAY_CAPACITY,
    MAX_DIMENSION,
    MAX_JSON_DEPTH,
    MAX_VARCHAR_LENGTH,
    MILVUS_TYPES_NOT_SUPPORTED,
    NAME_PATTERN,
    DataType,
    MetricType,
    check_name,
    lone_surrogate_at,
)

__all__ = [
    "ARRAY_ELEMENT_TYPES",
    "AUTO_ID_TEXT_LENGTH",
    "DYNAMIC_FIELD_NAME",
    "FLOAT32_MAX",
    "INTEGER_BOUNDS",
    "MAX_ARRAY_CAPACITY",
    "MAX_DIMENSION",
    "MAX_JSON_DEPTH",
    "MAX_VARCHAR_LENGTH",
    "MILVUS_TYPES_NOT_SUPPORTED",
    "NAME_PATTERN",
    "CollectionSchema",
    "DataType",
    "FieldSchema",
    "MetricType",
    "VectorField",
    "check_name",
    "lone_surrogate_at",
]
