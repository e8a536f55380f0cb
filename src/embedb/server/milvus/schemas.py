"""Collection schemas between Milvus's protobuf messages and EmbeDB's ``CollectionSchema``.

A Milvus ``FieldSchema`` carries its options as string ``type_params``
(``dim``, ``max_length``, ``max_capacity``) and no metric: in Milvus the
metric is the index's. EmbeDB keeps a metric on the vector field, so a field
created over gRPC starts with EmbeDB's default (COSINE) and takes the metric of
its first index (``create_index`` re-indexes, see ``embedb.index.admin``).
EmbeDB's own options (a model binding) travel as ``embedb.*`` type params, so
a schema read back over gRPC round-trips.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pymilvus.grpc_gen import common_pb2, schema_pb2

from embedb.errors import SchemaError, UnsupportedTypeError
from embedb.schema import CollectionSchema, DataType, FieldSchema
from embedb.schema.functions import FunctionSchema

# type_params EmbeDB reads as integers; the others Milvus sends that change nothing here are ignored.
_INTEGER_PARAMS = ("dim", "max_length", "max_capacity")
_IGNORED_PARAMS = frozenset({"mmap.enabled"})
_FLAG_PARAMS = ("enable_analyzer", "enable_match")
_EMBEDB_PARAMS = ("source", "model")
_EMBEDB_PREFIX = "embedb."


def data_type(number: int) -> DataType:
    """EmbeDB's type for a Milvus ``DataType`` number; ``UnsupportedTypeError`` names one EmbeDB lacks."""
    try:
        return DataType(number)
    except ValueError:
        pass
    try:
        name = schema_pb2.DataType.Name(number)
    except ValueError:
        raise SchemaError(f"unknown Milvus data type number {number}") from None
    # Milvus spells them FloatVector, VarChar...: EmbeDB's names are the upper snake case of those.
    snake = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name)).upper()
    snake = snake.replace("B_FLOAT", "BFLOAT")
    return DataType.parse(snake)


def _default_value(value: schema_pb2.ValueField) -> Any:
    kind = value.WhichOneof("data")
    return None if kind is None else getattr(value, kind)


def _set_default(target: schema_pb2.ValueField, dtype: DataType, value: Any) -> None:
    if dtype is DataType.BOOL:
        target.bool_data = bool(value)
    elif dtype in (DataType.INT8, DataType.INT16, DataType.INT32):
        target.int_data = int(value)
    elif dtype is DataType.INT64:
        target.long_data = int(value)
    elif dtype is DataType.FLOAT:
        target.float_data = float(value)
    elif dtype is DataType.DOUBLE:
        target.double_data = float(value)
    elif dtype in (DataType.VARCHAR, DataType.TIMESTAMPTZ):
        target.string_data = str(value)
    elif dtype is DataType.JSON:
        target.bytes_data = json.dumps(value).encode()


def field_from_proto(message: schema_pb2.FieldSchema) -> FieldSchema:
    """One Milvus field as an EmbeDB field (not yet validated); raises ``SchemaError`` for what EmbeDB lacks."""
    where = f"field {message.name!r}"
    options: dict[str, Any] = {}
    for pair in message.type_params:
        key = pair.key
        if key in _FLAG_PARAMS:
            options[key] = pair.value.strip().lower() == "true"
        elif key == "analyzer_params":
            try:
                options[key] = json.loads(pair.value)
            except (ValueError, RecursionError):
                raise SchemaError(f"{where}: analyzer_params is not JSON: {pair.value[:80]!r}") from None
        elif key == "multi_analyzer_params":
            raise UnsupportedTypeError(f"{where}: multi_analyzer_params (one analyzer per language) is not supported yet")
        elif key in _INTEGER_PARAMS:
            if not re.fullmatch(r"[0-9]{1,10}", pair.value):
                raise SchemaError(f"{where}: {key} must be a whole number, got {pair.value!r}")
            options[key] = int(pair.value)
        elif key.startswith(_EMBEDB_PREFIX) and key[len(_EMBEDB_PREFIX) :] in _EMBEDB_PARAMS:
            options[key[len(_EMBEDB_PREFIX) :]] = pair.value
        elif key not in _IGNORED_PARAMS:
            raise SchemaError(f"{where}: type parameter {key!r} is not supported by EmbeDB")
    dtype = data_type(message.data_type)
    element = data_type(message.element_type) if dtype is DataType.ARRAY else None
    default = _default_value(message.default_value) if message.HasField("default_value") else None
    if dtype is DataType.JSON and default is not None:
        raise SchemaError(f"{where}: JSON fields cannot have a default value")
    if (dtype is not DataType.VARCHAR and isinstance(default, str)) or (dtype is DataType.VARCHAR and isinstance(default, bytes)):
        raise SchemaError(f"{where}: default value {default!r} is not a {dtype.name} value")
    return FieldSchema(
        name=message.name,
        dtype=dtype,
        is_primary=message.is_primary_key,
        auto_id=message.autoID,
        nullable=message.nullable,
        default_value=default,
        element_type=element,
        description=message.description,
        is_partition_key=message.is_partition_key,
        is_clustering_key=message.is_clustering_key,
        **options,
    )


def schema_from_proto(data: bytes) -> CollectionSchema:
    """A ``CreateCollectionRequest.schema`` (serialized bytes) as a validated EmbeDB schema."""
    message = schema_pb2.CollectionSchema()
    try:
        message.ParseFromString(data)
    except Exception:
        raise SchemaError("the schema is not a serialized milvus.proto.schema.CollectionSchema") from None
    functions = tuple(_function_from_proto(function) for function in message.functions)
    if message.struct_array_fields:
        raise UnsupportedTypeError("struct array fields are not supported by EmbeDB yet")
    dynamic = message.enable_dynamic_field
    fields = []
    for field_message in message.fields:
        if field_message.is_dynamic:
            dynamic = True
            continue
        fields.append(field_from_proto(field_message))
    if message.autoID:
        fields = [FieldSchema(**{**f.__dict__, "auto_id": True}) if f.is_primary else f for f in fields]
    return CollectionSchema(tuple(fields), enable_dynamic_field=dynamic, description=message.description, functions=functions).validate()


def _function_from_proto(message: schema_pb2.FunctionSchema) -> FunctionSchema:
    kind = schema_pb2.FunctionType.Name(message.type) if message.type in schema_pb2.FunctionType.values() else str(message.type)
    return FunctionSchema(
        name=message.name,
        function_type=kind.upper(),
        input_field_names=tuple(message.input_field_names),
        output_field_names=tuple(message.output_field_names),
        params={pair.key: pair.value for pair in message.params},
        description=message.description,
    )


def _function_to_proto(function: FunctionSchema, schema: CollectionSchema) -> schema_pb2.FunctionSchema:
    ids = {field.name: 100 + i for i, field in enumerate(schema.fields)}
    return schema_pb2.FunctionSchema(
        name=function.name,
        description=function.description,
        type=dict(schema_pb2.FunctionType.items()).get(function.function_type, 0),
        input_field_names=list(function.input_field_names),
        input_field_ids=[ids[name] for name in function.input_field_names if name in ids],
        output_field_names=list(function.output_field_names),
        output_field_ids=[ids[name] for name in function.output_field_names if name in ids],
        params=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in function.params.items()],
    )


def field_to_proto(field: FieldSchema, field_id: int) -> schema_pb2.FieldSchema:
    """An EmbeDB field as Milvus describes one."""
    message = schema_pb2.FieldSchema(
        fieldID=field_id,
        name=field.name,
        is_primary_key=field.is_primary,
        description=field.description,
        data_type=int(field.dtype),
        autoID=field.auto_id,
        nullable=field.nullable,
        is_partition_key=field.is_partition_key,
        is_clustering_key=field.is_clustering_key,
    )
    if field.element_type is not None:
        message.element_type = int(field.element_type)
    params = {key: getattr(field, key) for key in _INTEGER_PARAMS}
    params.update({_EMBEDB_PREFIX + key: getattr(field, key) for key in _EMBEDB_PARAMS})
    for key, value in params.items():
        if value is not None:
            message.type_params.append(common_pb2.KeyValuePair(key=key, value=str(value)))
    for flag in _FLAG_PARAMS:
        if getattr(field, flag):
            message.type_params.append(common_pb2.KeyValuePair(key=flag, value="true"))
    if field.analyzer_params is not None:
        message.type_params.append(common_pb2.KeyValuePair(key="analyzer_params", value=json.dumps(field.analyzer_params)))
    if field.default_value is not None:
        _set_default(message.default_value, field.dtype, field.default_value)
    return message


def schema_to_proto(name: str, schema: CollectionSchema) -> schema_pb2.CollectionSchema:
    """An EmbeDB schema as Milvus describes one (as there, a dynamic schema's ``$meta`` field is not listed)."""
    message = schema_pb2.CollectionSchema(
        name=name,
        description=schema.description,
        autoID=schema.primary.auto_id,
        enable_dynamic_field=schema.enable_dynamic_field,
        fields=[field_to_proto(field, 100 + i) for i, field in enumerate(schema.fields)],
        functions=[_function_to_proto(function, schema) for function in schema.functions],
    )
    for field in message.fields:
        field.is_function_output = schema.function_output(field.name) is not None
    return message
