"""Values between Milvus's column messages (``FieldData``) and EmbeDB's rows and columns.

Milvus sends and answers data by column: one ``FieldData`` per field, the
values of every row in one typed array (``long_data``, ``float_vector``...),
nulls as ``valid_data`` flags, and the dynamic fields of each row as one JSON
document in the ``$meta`` column. EmbeDB's contract takes a dict of columns
(vectors as one float32 matrix) and answers rows as dicts; this module
converts between the two, and reads the query vectors of a search
(``PlaceholderGroup``) and filter template values (``expr_template_values``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pymilvus.grpc_gen import common_pb2, schema_pb2

from embedb.errors import DataError, UnsupportedTypeError
from embedb.protocol.wire import sparse_bytes, sparse_pairs
from embedb.schema import DYNAMIC_FIELD_NAME, CollectionSchema, DataType, FieldSchema
from embedb.server.milvus.schemas import data_type

# Where each scalar type's values live in a ScalarField.
_SCALAR_ARRAYS: dict[DataType, str] = {
    DataType.BOOL: "bool_data",
    DataType.INT8: "int_data",
    DataType.INT16: "int_data",
    DataType.INT32: "int_data",
    DataType.INT64: "long_data",
    DataType.FLOAT: "float_data",
    DataType.DOUBLE: "double_data",
    DataType.VARCHAR: "string_data",
    DataType.JSON: "json_data",
    DataType.TIMESTAMPTZ: "string_data",  # ISO 8601 text, as pymilvus sends and reads it
}
_PLACEHOLDER_FILLER: dict[DataType, Any] = {
    DataType.BOOL: False,
    DataType.VARCHAR: "",
    DataType.TIMESTAMPTZ: "",
    DataType.JSON: b"null",
    DataType.FLOAT: 0.0,
    DataType.DOUBLE: 0.0,
}


# ------------------------------------------------------------------ in: rows a client sends


def parse_json(data: bytes | str, what: str) -> Any:
    """JSON a client sent; ``DataError`` for text that is not JSON, not UTF-8, or nested too deep to read."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise DataError(f"{what} is not valid JSON: {type(error).__name__}") from None


def _scalar_values(scalars: schema_pb2.ScalarField, dtype: DataType, element: DataType | None = None) -> list[Any]:
    if dtype is DataType.ARRAY:
        # pymilvus leaves element_type unset in an insert: the schema's is the one that counts.
        sent = scalars.array_data.element_type
        inner = data_type(sent) if sent else element
        if inner is None:
            raise DataError("an ARRAY column needs its element type")
        return [_scalar_values(cell, inner) for cell in scalars.array_data.data]
    attribute = _SCALAR_ARRAYS.get(dtype)
    if attribute is None:
        raise UnsupportedTypeError(f"data type {dtype.name} cannot be sent as scalars")
    values = list(getattr(scalars, attribute).data)
    if dtype is DataType.JSON:
        return [parse_json(value, "a JSON value") for value in values]
    return values


def _vector_values(field: schema_pb2.FieldData, name: str) -> np.ndarray:
    vectors = field.vectors
    kind = vectors.WhichOneof("data")
    dim = int(vectors.dim)
    if kind is None and field.valid_data and not any(field.valid_data):  # a nullable field with every row null
        return np.empty((0, max(dim, 0)), dtype=np.float32)
    if kind == "binary_vector":  # packed bits: dim / 8 bytes per row, unpacked by the contract's ingest
        width = dim // 8
        if dim <= 0 or dim % 8 or len(vectors.binary_vector) % width:
            raise DataError(f"field {name!r}: {len(vectors.binary_vector)} bytes do not split into {dim}-bit vectors", field=name)
        return np.frombuffer(vectors.binary_vector, dtype=np.uint8).reshape(-1, width)
    if kind == "float_vector":
        flat = np.asarray(vectors.float_vector.data, dtype=np.float32)
    elif kind in _PACKED_VECTORS:
        flat = unpack_vectors(getattr(vectors, kind), kind, name)
    else:
        raise UnsupportedTypeError(f"field {name!r}: {kind or 'empty'} vectors are not supported by EmbeDB yet")
    if dim <= 0 or flat.size % dim:
        raise DataError(f"field {name!r}: {flat.size} numbers do not split into vectors of dimension {dim}", field=name)
    return flat.reshape(-1, dim)


# Vector types Milvus sends packed in bytes: (NumPy type of one number, its size in bytes).
_PACKED_VECTORS = {"float16_vector": (np.float16, 2), "bfloat16_vector": (np.uint16, 2), "int8_vector": (np.int8, 1)}
_PACKED_FIELD = {DataType.FLOAT16_VECTOR: "float16_vector", DataType.BFLOAT16_VECTOR: "bfloat16_vector", DataType.INT8_VECTOR: "int8_vector"}
_PACKED_PLACEHOLDERS = {common_pb2.Float16Vector: "float16_vector", common_pb2.BFloat16Vector: "bfloat16_vector", common_pb2.Int8Vector: "int8_vector"}


def unpack_vectors(data: bytes, kind: str, what: str) -> np.ndarray:
    """Packed FLOAT16 / BFLOAT16 / INT8 numbers as float32 (a bfloat16 is the upper half of a float32)."""
    number, size = _PACKED_VECTORS[kind]
    if len(data) % size:
        raise DataError(f"{what}: {kind} data is not a whole number of {size}-byte values")
    values = np.frombuffer(data, dtype=number)
    if kind == "bfloat16_vector":
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(np.float32)


def pack_vectors(flat: np.ndarray, kind: str) -> bytes:
    """float32 numbers (already holding the narrow type's values) packed as Milvus sends that type."""
    if kind == "bfloat16_vector":
        return (np.ascontiguousarray(flat, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
    return flat.astype(_PACKED_VECTORS[kind][0]).tobytes()


def _with_nulls(values: Sequence[Any], valid: Sequence[bool], num_rows: int, name: str) -> list[Any]:
    """Values at their rows, ``None`` where ``valid`` is false (values given for every row or only the valid ones)."""
    if len(valid) != num_rows:
        raise DataError(f"field {name!r}: {len(valid)} validity flags for {num_rows} rows", field=name)
    if len(values) == num_rows:
        return [value if ok else None for value, ok in zip(values, valid, strict=True)]
    if len(values) != sum(valid):
        raise DataError(f"field {name!r}: {len(values)} values for {sum(valid)} non-null rows", field=name)
    remaining = iter(values)
    return [next(remaining) if ok else None for ok in valid]


def columns_from_fields(fields: Iterable[schema_pb2.FieldData], num_rows: int, schema: CollectionSchema) -> dict[str, Any] | list[dict[str, Any]]:
    """The rows of an insert or upsert, as EmbeDB's contract takes them.

    A dict of columns (vectors as one matrix) when every row gives every field
    it names; row dicts when a field has null cells and a default value, so the
    missing cells take the default as in Milvus. Raises ``DataError`` when a
    column's length is not the row count, ``UnsupportedTypeError`` for a type
    EmbeDB does not store.
    """
    columns: dict[str, Any] = {}
    defaulted: set[str] = set()
    for field in fields:
        name = field.field_name
        if name in columns or (field.is_dynamic and DYNAMIC_FIELD_NAME in columns):
            raise DataError(f"field {name!r} is sent twice", field=name)
        if field.is_dynamic or name == DYNAMIC_FIELD_NAME:
            columns[DYNAMIC_FIELD_NAME] = [_dynamic_document(v) for v in _scalar_values(field.scalars, DataType.JSON)]
            continue
        dtype = data_type(field.type)
        element = schema.field(name).element_type if schema.has_field(name) else None
        if dtype.is_sparse:
            values: Any = [sparse_pairs(row, f"field {name!r}") for row in field.vectors.sparse_float_vector.contents]
        elif dtype.is_vector:
            values = _vector_values(field, name)
        else:
            values = _scalar_values(field.scalars, dtype, element)
        if field.valid_data:  # a nullable vector field sends only its non-null vectors, as pymilvus packs them
            values = _with_nulls(values, field.valid_data, num_rows, name)
            if schema.has_field(name) and schema.field(name).default_value is not None and not all(field.valid_data):
                defaulted.add(name)
        if len(values) != num_rows:
            raise DataError(f"field {name!r} has {len(values)} values for {num_rows} rows", field=name)
        columns[name] = values
    if not defaulted:
        return columns
    rows = [{name: column[i] for name, column in columns.items()} for i in range(num_rows)]
    for row in rows:
        for name in defaulted:
            if row[name] is None:
                del row[name]
        extras = row.pop(DYNAMIC_FIELD_NAME, None)
        row.update(extras or {})
    return rows


def _dynamic_document(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DataError(f"the dynamic field {DYNAMIC_FIELD_NAME} must hold a JSON object per row, got {type(value).__name__}")
    return value or None


def query_vectors(data: bytes) -> list[Any]:
    """The query vectors (float32 arrays) or texts of a search's serialized ``PlaceholderGroup``."""
    group = common_pb2.PlaceholderGroup()
    try:
        group.ParseFromString(data)
    except Exception:
        raise DataError("placeholder_group is not a serialized milvus.proto.common.PlaceholderGroup") from None
    if len(group.placeholders) != 1:
        raise DataError(f"a search takes one placeholder of query vectors, got {len(group.placeholders)}")
    placeholder = group.placeholders[0]
    if placeholder.type == common_pb2.FloatVector:
        if any(len(value) % 4 for value in placeholder.values):
            raise DataError("a float32 query vector must be a whole number of 4-byte floats")
        return [np.frombuffer(value, dtype=np.float32) for value in placeholder.values]
    if placeholder.type == common_pb2.BinaryVector:
        return [bytes(value) for value in placeholder.values]
    if placeholder.type == common_pb2.SparseFloatVector:
        return [sparse_pairs(value, f"query {i}") for i, value in enumerate(placeholder.values)]
    if placeholder.type in _PACKED_PLACEHOLDERS:
        return [unpack_vectors(value, _PACKED_PLACEHOLDERS[placeholder.type], "a query vector") for value in placeholder.values]
    if placeholder.type == common_pb2.VarChar:
        try:
            return [value.decode("utf-8") for value in placeholder.values]
        except UnicodeDecodeError:
            raise DataError("a query text is not valid UTF-8") from None
    name = common_pb2.PlaceholderType.Name(placeholder.type) if placeholder.type in common_pb2.PlaceholderType.values() else str(placeholder.type)
    raise UnsupportedTypeError(f"{name} query vectors are not supported by EmbeDB yet; send float32 vectors or texts")


def template_values(values: Mapping[str, schema_pb2.TemplateValue]) -> dict[str, Any]:
    """``expr_template_values`` as the ``filter_params`` of a query or search."""
    return {name: _template_value(value) for name, value in values.items()}


def _template_value(value: schema_pb2.TemplateValue) -> Any:
    kind = value.WhichOneof("val")
    if kind == "array_val":
        return _template_array(value.array_val)
    if kind == "bytes_val":
        return parse_json(value.bytes_val, "a filter template value")
    return None if kind is None else getattr(value, kind)


def _template_array(array: schema_pb2.TemplateArrayValue) -> list[Any]:
    kind = array.WhichOneof("data")
    if kind is None:
        return []
    if kind == "array_data":
        return [_template_array(item) for item in array.array_data.data]
    if kind == "json_data":
        return [parse_json(item, "a filter template value") for item in array.json_data.data]
    return list(getattr(array, kind).data)


# ---------------------------------------------------------------- out: rows EmbeDB answers


def _fill_scalars(target: schema_pb2.ScalarField, dtype: DataType, values: Sequence[Any], element: DataType | None) -> None:
    if dtype is DataType.ARRAY:
        assert element is not None
        target.array_data.element_type = int(element)
        for cell in values:
            item = target.array_data.data.add()
            _fill_scalars(item, element, cell or [], None)
        return
    attribute = _SCALAR_ARRAYS[dtype]
    if dtype is DataType.JSON:
        values = [json.dumps(value).encode() for value in values]
    getattr(target, attribute).data.extend(values)


def field_column(field: FieldSchema, values: Sequence[Any]) -> schema_pb2.FieldData:
    """One field's values (one per row, ``None`` for null) as a ``FieldData``."""
    message = schema_pb2.FieldData(type=int(field.dtype), field_name=field.name)
    if field.dtype.is_sparse:  # each row: (uint32 dimension, float32 weight) pairs, little-endian, as Milvus packs them
        contents = [sparse_bytes(value or {}) for value in values]
        message.vectors.sparse_float_vector.contents.extend(contents)
        message.vectors.sparse_float_vector.dim = max((max(value) + 1 for value in values if value), default=0)
        message.vectors.dim = message.vectors.sparse_float_vector.dim
        return message
    if field.dtype.is_vector:
        dim = int(field.dim or 0)
        message.vectors.dim = dim
        if field.nullable:  # Milvus sends the validity of every row and the vectors of the valid ones only
            message.valid_data.extend(value is not None for value in values)
            values = [value for value in values if value is not None]
        if field.dtype is DataType.BINARY_VECTOR:  # rows arrive packed (bytes)
            message.vectors.binary_vector = b"".join(bytes(value) for value in values)
            return message
        flat = np.asarray(values, dtype=np.float32).reshape(-1) if len(values) else np.empty(0, np.float32)
        packed = _PACKED_FIELD.get(field.dtype)
        if packed is None:
            message.vectors.float_vector.data.extend(flat.tolist())
        else:
            setattr(message.vectors, packed, pack_vectors(flat, packed))
        return message
    if any(value is None for value in values):
        message.valid_data.extend(value is not None for value in values)
        filler = _PLACEHOLDER_FILLER.get(field.dtype, 0) if field.dtype is not DataType.ARRAY else []
        values = [filler if value is None else value for value in values]
    elif field.nullable:
        message.valid_data.extend([True] * len(values))
    _fill_scalars(message.scalars, field.dtype, values, field.element_type)
    return message


def dynamic_column(documents: Sequence[dict[str, Any]]) -> schema_pb2.FieldData:
    """The ``$meta`` column: each row's dynamic fields as one JSON object."""
    message = schema_pb2.FieldData(type=int(DataType.JSON), field_name=DYNAMIC_FIELD_NAME, is_dynamic=True)
    message.scalars.json_data.data.extend(json.dumps(document).encode() for document in documents)
    return message


def row_columns(rows: Sequence[Mapping[str, Any]], schema: CollectionSchema, names: Sequence[str]) -> list[schema_pb2.FieldData]:
    """Rows as columns: the schema fields among ``names`` in schema order, then a ``$meta`` column of the rest.

    ``names`` are the keys the rows carry (every row carries the same fields;
    dynamic keys may differ from row to row).
    """
    wanted = set(names)
    columns = [field_column(field, [row.get(field.name) for row in rows]) for field in schema.fields if field.name in wanted]
    known = {field.name for field in schema.fields}
    if schema.enable_dynamic_field and any(name not in known for name in names):
        columns.append(dynamic_column([{k: v for k, v in row.items() if k not in known} for row in rows]))
    return columns


def primary_keys(field: FieldSchema, keys: Sequence[Any]) -> schema_pb2.IDs:
    """Primary keys as Milvus's ``IDs`` (integers or strings, as the field's type)."""
    ids = schema_pb2.IDs()
    if field.dtype is DataType.VARCHAR:
        ids.str_id.data.extend(str(key) for key in keys)
    else:
        ids.int_id.data.extend(int(key) for key in keys)
    return ids
