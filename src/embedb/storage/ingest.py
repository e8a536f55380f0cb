"""Turn what a user hands to ``insert``/``upsert`` into a validated ``RowBatch``.

Accepted shapes: a list of row dicts (as pymilvus), one row dict, a dict of
columns (lists or NumPy arrays), a ``pyarrow.Table`` or a pandas ``DataFrame``.
Columns reach storage without a per-row Python loop; row dicts are turned into
columns once. Every check happens here, before anything is written, and every
error names the row, the field and what was wrong. Among them: text must be
valid Unicode (a lone surrogate could be stored but never read back, and an
Arrow table is validated in full, so its strings are UTF-8), JSON values nest
at most ``MAX_JSON_DEPTH`` levels, and vectors hold numbers only (``"1"`` is
refused, never coerced).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedb.errors import DataError, DimensionMismatchError
from embedb.schema import (
    DYNAMIC_FIELD_NAME,
    INTEGER_BOUNDS,
    MAX_JSON_DEPTH,
    CollectionSchema,
    DataType,
    FieldSchema,
    MetricType,
    lone_surrogate_at,
)
from embedb.storage.binary_vectors import binary_queries, bits_from_packed
from embedb.storage.records import RowBatch, primary_key_array

Columns = dict[str, Any]


@dataclass(frozen=True)
class PreparedRows:
    """Columns by field name plus the count of rows; output of ``to_columns``."""

    columns: Columns
    num_rows: int
    from_rows: bool  # True when the user handed row dicts (errors then name rows)


def supplied_column(prepared: PreparedRows, name: str) -> Any:
    """The values given for field ``name``, or None when no row gave it.

    Raises ``DataError`` when some rows give it and others do not.
    """
    value = prepared.columns.get(name)
    if value is None or not isinstance(value, list):
        return value
    missing = [i for i, item in enumerate(value) if item is _MISSING or item is None]
    if len(missing) == len(value):
        return None
    if missing:
        raise DataError(f"row {missing[0]}: field {name!r} is missing while other rows of the batch give it", row=missing[0], field=name)
    return value


def _is_sequence_column(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray, pa.Array, pa.ChunkedArray)) or _is_pandas_series(value)


def _is_pandas_series(value: Any) -> bool:
    return type(value).__name__ == "Series" and hasattr(value, "to_numpy")


def _looks_columnar(data: Mapping[str, Any], schema: CollectionSchema) -> bool:
    """A dict is columns when its vector values are 2-D (or it has no vector but only sequences)."""
    for field in schema.vector_fields:
        if field.name in data:
            value = data[field.name]
            if isinstance(value, np.ndarray):
                return value.ndim == 2
            if not isinstance(value, (list, tuple)):
                return False
            first = next((item for item in value if item is not None), None)  # a nullable column may start with nulls
            binary = field.dtype is DataType.BINARY_VECTOR and isinstance(first, (bytes, bytearray, memoryview))
            return first is not None and (_is_sequence_column(first) or binary)
    nested_ok = {f.name for f in schema.fields if f.dtype in (DataType.ARRAY, DataType.JSON)}
    return bool(data) and all(_is_sequence_column(v) and k not in nested_ok for k, v in data.items())


def to_columns(data: Any, schema: CollectionSchema) -> PreparedRows:
    """Normalise any accepted input shape into columns; raise ``DataError`` for anything else."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        try:
            # Full validation checks that strings are UTF-8: an Arrow IPC body can hold any bytes.
            data.validate(full=True)
        except pa.ArrowInvalid as error:
            raise DataError(f"the Arrow table is not valid: {error}") from None
        return PreparedRows({name: data.column(name) for name in data.column_names}, data.num_rows, False)
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        columns = {str(name): data[name].to_numpy() for name in data.columns}
        return PreparedRows(columns, len(data), False)
    if isinstance(data, Mapping):
        if _looks_columnar(data, schema):
            lengths = {name: len(value) for name, value in data.items()}
            if len(set(lengths.values())) > 1:
                raise DataError(f"columns have different lengths: {lengths}")
            return PreparedRows(dict(data), next(iter(lengths.values()), 0), False)
        data = [data]
    if isinstance(data, (list, tuple)):
        return _rows_to_columns(data, schema)
    raise DataError(
        f"cannot insert a {type(data).__name__}: give a list of row dicts, a dict of columns, "
        "a pyarrow Table or a pandas DataFrame"
    )


def _rows_to_columns(rows: Sequence[Any], schema: CollectionSchema) -> PreparedRows:
    known = {f.name for f in schema.fields}
    columns: Columns = {name: [] for name in known}
    extras: list[dict[str, Any] | None] = []
    dynamic = schema.enable_dynamic_field
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(f"row {index}: expected a dict of field values, got {type(row).__name__}", row=index)
        unknown = row.keys() - known
        if unknown:
            if not dynamic:
                raise DataError(
                    f"row {index}: unknown field(s) {sorted(unknown)}; the schema has {sorted(known)} "
                    "and no dynamic field",
                    row=index,
                )
            extras.append({key: row[key] for key in unknown})
        else:
            extras.append(None)
    for name in known:
        # A missing key becomes a sentinel so "missing" and "explicit None" stay apart.
        columns[name] = [row.get(name, _MISSING) for row in rows]
    if dynamic:
        columns[DYNAMIC_FIELD_NAME] = extras
    return PreparedRows(columns, len(rows), True)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def prepare_batch(
    data: Any,
    schema: CollectionSchema,
    *,
    partition_id: int,
    vector_keys: Mapping[str, str],
    allow_auto_id_values: bool = False,
    next_auto_ids: Any = None,
    skip_vectors: Iterable[str] = (),
) -> RowBatch:
    """Validate ``data`` against ``schema`` and build the ``RowBatch`` storage writes.

    ``vector_keys`` maps each vector field to the storage column key it is
    written under. ``next_auto_ids(n)`` returns fresh keys when the primary
    key is ``auto_id``. Fields named in ``skip_vectors`` are not required (the
    caller fills them, e.g. by embedding the source text). Raises ``DataError``
    (or ``DimensionMismatchError``) naming the row and field; writes nothing.
    """
    prepared = data if isinstance(data, PreparedRows) else to_columns(data, schema)
    n = prepared.num_rows
    if n == 0:
        raise DataError("no rows to write")
    columns = prepared.columns
    known = {f.name for f in schema.fields}
    extra_columns = [name for name in columns if name not in known and name != DYNAMIC_FIELD_NAME]
    if extra_columns and not schema.enable_dynamic_field:
        raise DataError(f"unknown field(s) {sorted(extra_columns)}; the schema has {sorted(known)} and no dynamic field")
    arrays: list[pa.Array] = []
    names: list[str] = []
    primary = schema.primary
    for field in schema.scalar_fields:
        if field.is_primary and field.auto_id:
            given = columns.get(field.name)
            if given is not None and not allow_auto_id_values and _any_given(given):
                raise DataError(f"field {field.name!r} is auto_id: do not pass primary keys, they are generated")
            assert next_auto_ids is not None, "auto_id collections need a key generator"
            keys = next_auto_ids(n)
            if field.dtype is DataType.VARCHAR:  # generated keys are numbers; a text key holds them as text
                arrays.append(pa.array([k if isinstance(k, str) else str(k) for k in list(keys)], type=pa.string()))
            else:
                arrays.append(pa.array(keys, type=pa.int64()))
        else:
            arrays.append(_scalar_column(field, columns.get(field.name, _MISSING), n, prepared))
        names.append(field.name)
    if schema.enable_dynamic_field:
        arrays.append(_dynamic_column(columns, extra_columns, n, known | {DYNAMIC_FIELD_NAME}))
        names.append(DYNAMIC_FIELD_NAME)
    table = pa.Table.from_arrays(arrays, names=names)
    _check_unique_keys(table.column(primary.name), primary.name)
    skip = set(skip_vectors)
    vectors = {}
    for field in schema.vector_fields:
        if field.name in skip:
            continue
        value = columns.get(field.name, _MISSING)
        vectors[vector_keys[field.name]] = check_vectors(field, value, n, prepared)
    return RowBatch(table, vectors, partition_id)


def _any_given(column: Any) -> bool:
    if isinstance(column, list):
        return any(v is not _MISSING and v is not None for v in column)
    return len(column) > 0


def _check_unique_keys(column: pa.ChunkedArray, name: str) -> None:
    keys = primary_key_array(column)
    if keys.size < 2:
        return
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    same = np.nonzero(sorted_keys[1:] == sorted_keys[:-1])[0]
    if same.size:
        first, second = int(order[same[0]]), int(order[same[0] + 1])
        raise DataError(
            f"rows {first} and {second}: primary key {name!r} = {sorted_keys[same[0]].item()!r} appears twice in one batch",
            row=second,
            field=name,
        )


def _scalar_column(field: FieldSchema, value: Any, n: int, prepared: PreparedRows) -> pa.Array:
    """One scalar column as an Arrow array of the field's type, with defaults and nulls applied."""
    if value is _MISSING:
        if field.default_value is not None:
            return pa.array([field.default_value] * n, type=field.arrow_type)
        if field.nullable:
            return pa.nulls(n, type=field.arrow_type)
        raise DataError(f"missing field {field.name!r} (required: not nullable and no default)", field=field.name)
    if isinstance(value, list):
        value = _fill_missing(field, value)
    if field.dtype is DataType.JSON:
        return _json_column(field, value)
    try:
        array = _to_arrow(field, value)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
        raise _locate_bad_value(field, value, error) from None
    if array.null_count and not field.nullable:
        if field.default_value is not None:
            array = pc.fill_null(array, pa.scalar(field.default_value, type=field.arrow_type))
        else:
            row = int(np.nonzero(array.is_null().to_numpy(zero_copy_only=False))[0][0])
            raise DataError(f"row {row}: field {field.name!r} is not nullable but got null", row=row, field=field.name)
    _check_limits(field, array)
    return array


def _fill_missing(field: FieldSchema, values: list[Any]) -> list[Any]:
    if not any(v is _MISSING for v in values):
        return values
    if field.default_value is None and not field.nullable:
        row = next(i for i, v in enumerate(values) if v is _MISSING)
        raise DataError(f"row {row}: missing field {field.name!r} (required: not nullable and no default)", row=row, field=field.name)
    return [field.default_value if v is _MISSING else v for v in values]


def _to_arrow(field: FieldSchema, value: Any) -> pa.Array:
    target = field.arrow_type
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        if value.type == target:
            return value
        if field.dtype.is_integer and not pa.types.is_integer(value.type):
            raise TypeError(f"expected integers, got Arrow {value.type}")
        return value.cast(target, safe=True)
    if _is_pandas_series(value):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        return _numpy_to_arrow(field, value)
    if field.dtype is DataType.ARRAY or field.dtype is DataType.VARCHAR:
        return pa.array(value, type=target, from_pandas=False)
    # Let Arrow infer the type first (in C), so that True never becomes 1 and
    # 1.5 never becomes 1 on the way into an integer column.
    inferred = pa.array(value, from_pandas=False)
    kind = inferred.type
    if pa.types.is_null(kind) or (
        (field.dtype.is_integer and pa.types.is_integer(kind))
        or (field.dtype is DataType.BOOL and pa.types.is_boolean(kind))
        or (field.dtype in (DataType.FLOAT, DataType.DOUBLE) and (pa.types.is_integer(kind) or pa.types.is_floating(kind)))
    ):
        return inferred.cast(target, safe=True)
    raise TypeError(f"expected {field.dtype.name} values, got {kind}")


def _numpy_to_arrow(field: FieldSchema, value: np.ndarray) -> pa.Array:
    kind = value.dtype.kind
    if field.dtype.is_integer:
        if kind == "f" and np.all(np.isfinite(value)) and np.all(np.mod(value, 1) == 0):
            value = value.astype(np.int64)
        elif kind not in "iu":
            raise TypeError(f"expected integers, got NumPy {value.dtype}")
        low, high = INTEGER_BOUNDS[field.dtype]
        if value.size and (value.min() < low or value.max() > high):
            bad = int(np.nonzero((value < low) | (value > high))[0][0])
            raise DataError(
                f"row {bad}: field {field.name!r} value {value[bad].item()} is out of range for {field.dtype.name} [{low}, {high}]",
                row=bad,
                field=field.name,
            )
        return pa.array(value, type=field.arrow_type)
    if field.dtype in (DataType.FLOAT, DataType.DOUBLE) and kind not in "iuf":
        raise TypeError(f"expected numbers, got NumPy {value.dtype}")
    if field.dtype is DataType.BOOL and kind != "b":
        raise TypeError(f"expected booleans, got NumPy {value.dtype}")
    if kind == "O":
        return pa.array(list(value), type=field.arrow_type)
    return pa.array(value, type=field.arrow_type)


def _locate_bad_value(field: FieldSchema, values: Any, error: Exception) -> DataError:
    """Find the first value Arrow could not convert, to name its row."""
    if isinstance(error, DataError):
        return error
    if isinstance(values, (list, tuple)):
        for index, item in enumerate(values):
            try:
                _to_arrow(field, [item])
            except UnicodeEncodeError:
                return DataError(
                    f"row {index}: field {field.name!r} holds a lone surrogate, which no UTF-8 text can hold: {item!r}",
                    row=index,
                    field=field.name,
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                return DataError(
                    f"row {index}: field {field.name!r} expects {_describe(field)}, got {item!r}",
                    row=index,
                    field=field.name,
                )
    return DataError(f"field {field.name!r} expects {_describe(field)}: {error}", field=field.name)


def _describe(field: FieldSchema) -> str:
    if field.dtype is DataType.ARRAY:
        assert field.element_type is not None
        return f"an ARRAY of {field.element_type.name} (at most {field.max_capacity} elements)"
    return f"a {field.dtype.name} value"


def _check_limits(field: FieldSchema, array: pa.Array) -> None:
    if field.dtype is DataType.VARCHAR and len(array):
        _check_string_lengths(field, array, field.max_length or 0)
    if field.dtype is DataType.ARRAY and len(array):
        lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
        too_long = np.nonzero(np.nan_to_num(lengths.astype(float), nan=0) > (field.max_capacity or 0))[0]
        if too_long.size:
            row = int(too_long[0])
            raise DataError(
                f"row {row}: field {field.name!r} has {int(lengths[row])} elements, max_capacity is {field.max_capacity}",
                row=row,
                field=field.name,
            )
        if field.element_type is DataType.VARCHAR:
            _check_string_lengths(field, pc.list_flatten(array), field.max_length or 0, element=True)


def _check_string_lengths(field: FieldSchema, array: pa.Array, limit: int, *, element: bool = False) -> None:
    lengths = pc.binary_length(array).to_numpy(zero_copy_only=False)
    lengths = np.nan_to_num(lengths.astype(float), nan=0)
    over = np.nonzero(lengths > limit)[0]
    if over.size:
        index = int(over[0])
        what = "an element" if element else f"row {index}"
        raise DataError(
            f"{what}: field {field.name!r} is {int(lengths[index])} bytes long, max_length is {limit} (UTF-8 bytes)",
            row=None if element else index,
            field=field.name,
        )


def _json_column(field: FieldSchema, values: Any) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        values = values.to_pylist()
    texts: list[str | None] = []
    for index, item in enumerate(values):
        if item is None:
            if not field.nullable:
                raise DataError(f"row {index}: field {field.name!r} is not nullable but got null", row=index, field=field.name)
            texts.append(None)
            continue
        try:
            texts.append(json.dumps(_jsonable(item), sort_keys=True, allow_nan=False, separators=(",", ":")))
        except (TypeError, ValueError) as error:
            raise DataError(f"row {index}: field {field.name!r} is not JSON-serialisable: {error}", row=index, field=field.name) from None
    return pa.array(texts, type=pa.string())


def _jsonable(value: Any, depth: int = 1) -> Any:
    """``value`` as plain JSON values; raises ``DataError`` past ``MAX_JSON_DEPTH`` levels or for a lone surrogate."""
    if isinstance(value, str):
        _check_text(value)
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Mapping, list, tuple)) and depth > MAX_JSON_DEPTH:
        raise DataError(f"JSON values nest at most {MAX_JSON_DEPTH} levels of arrays and objects")
    if isinstance(value, Mapping):
        return {_check_text(str(k)): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    return value


def _check_text(text: str) -> str:
    at = lone_surrogate_at(text)
    if at is not None:
        raise DataError(f"the text {text!r} holds a lone surrogate at character {at}, which no UTF-8 text can hold")
    return text


def _dynamic_keys(given: Any, row: int, reserved: set[str]) -> dict[str, Any]:
    """One row's dynamic fields as given in a ``$meta`` column: an object whose keys name no schema field."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise DataError(f"row {row}: {DYNAMIC_FIELD_NAME} must hold an object of dynamic fields, got {type(given).__name__}", row=row)
    clash = sorted(str(key) for key in given if not isinstance(key, str) or key in reserved)
    if clash:
        raise DataError(
            f"row {row}: dynamic field names {clash!r} are taken by the schema (or are not text); a dynamic key names no field",
            row=row,
        )
    return dict(given)


def _dynamic_column(columns: Columns, extra_columns: list[str], n: int, reserved: set[str]) -> pa.Array:
    """The ``$meta`` column: a JSON object of each row's keys that are not in the schema."""
    given = columns.get(DYNAMIC_FIELD_NAME)
    if not extra_columns and (given is None or (isinstance(given, list) and not any(given))):
        # No row has a dynamic key (the usual case): skip a json.dumps per row.
        return pa.array(["{}"] * n, type=pa.string())
    per_row: list[dict[str, Any]] = [_dynamic_keys(given[i], i, reserved) if given is not None else {} for i in range(n)]
    for name in extra_columns:
        values = columns[name]
        if isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = values.to_pylist()
        for i in range(n):
            per_row[i][name] = values[i]
    texts = []
    for index, extra in enumerate(per_row):
        try:
            texts.append(json.dumps(_jsonable(extra, 0), sort_keys=True, allow_nan=False, separators=(",", ":")))
        except (TypeError, ValueError) as error:
            raise DataError(f"row {index}: dynamic fields are not JSON-serialisable: {error}", row=index) from None
    return pa.array(texts, type=pa.string())


def check_vectors(field: FieldSchema, value: Any, n: int, prepared: PreparedRows | None = None) -> np.ndarray:
    """Return the vectors of ``field`` as an (n, dim) C-contiguous float32 matrix; refuse bad ones.

    A nullable field's null rows (``None``, or the field left out) are rows of
    NaN: input never holds NaN (it is refused), so NaN marks null in storage.
    """
    if field.nullable:
        nulls = _null_rows(value, n)
        if nulls is not None:
            return _with_null_rows(field, value, n, nulls, prepared)
    if value is _MISSING or value is None:
        raise DataError(f"missing vector field {field.name!r}", field=field.name)
    dim = int(field.dim or 0)
    matrix = bits_from_packed(field, value, "row") if field.dtype is DataType.BINARY_VECTOR else _as_matrix(field, value, dim)
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
                f"row {row}: field {field.name!r} is a zero vector, which has no direction for COSINE", row=row, field=field.name
            )
    return matrix


def _null_rows(value: Any, n: int) -> np.ndarray | None:
    """The rows of a nullable vector column that hold no vector, or None when every row holds one."""
    if value is _MISSING or value is None:
        return np.ones(n, dtype=bool)
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return np.asarray(value.is_null().to_numpy(zero_copy_only=False), dtype=bool) if value.null_count else None
    if isinstance(value, np.ndarray) and value.dtype != object:
        return None
    if not isinstance(value, (list, tuple)) and not (isinstance(value, np.ndarray) or _is_pandas_series(value)):
        return None
    nulls = np.fromiter((item is None or item is _MISSING for item in value), dtype=bool, count=len(value))
    return nulls if nulls.any() else None


def _with_null_rows(field: FieldSchema, value: Any, n: int, nulls: np.ndarray, prepared: PreparedRows | None) -> np.ndarray:
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
    if _is_pandas_series(value):
        value = value.to_numpy()
    if isinstance(value, np.ndarray) and value.dtype != object:
        matrix = value
    else:
        items = list(value)
        for index, item in enumerate(items):
            if item is _MISSING or item is None:
                raise DataError(f"row {index}: missing vector field {field.name!r}", row=index, field=field.name)
            length = len(item) if hasattr(item, "__len__") else -1
            if length != dim:
                raise DimensionMismatchError(
                    f"row {index}: field {field.name!r} expects dimension {dim}, got {length}", row=index, field=field.name
                )
        try:
            # Inferred, not forced to float32, so that "1" or None is refused rather than turned into a number.
            matrix = np.asarray(items)
        except (TypeError, ValueError) as error:
            raise DataError(f"field {field.name!r}: vectors must be lists of numbers ({error})", field=field.name) from None
        if matrix.dtype.kind not in "iuf":
            matrix = _numbers_only(field, items)
    if matrix.ndim != 2:
        raise DimensionMismatchError(f"field {field.name!r} expects a list of {dim}-d vectors", field=field.name)
    if matrix.shape[1] != dim:
        raise DimensionMismatchError(f"field {field.name!r} expects dimension {dim}, got {matrix.shape[1]}", field=field.name)
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


def check_query_vectors(field: FieldSchema, data: Any) -> np.ndarray:
    """Search vectors: one vector or a batch, as an (nq, dim) float32 matrix; refuse NaN, inf and wrong sizes."""
    if field.dtype is DataType.BINARY_VECTOR:
        return binary_queries(field, data)
    if type(data) is np.ndarray and data.dtype == np.float32 and data.ndim == 2 and data.shape[1] == field.dim and data.flags.c_contiguous:
        matrix = data  # the common case, on every search: already what _as_matrix returns
        if np.count_nonzero(np.isfinite(matrix)) != matrix.size:  # .all() costs twice as much per call
            row = int(np.nonzero(~np.isfinite(matrix).all(axis=1))[0][0])
            raise DataError(f"query {row} contains NaN or infinity", row=row, field=field.name)
        return matrix if field.dtype is DataType.FLOAT_VECTOR else narrowed(field, matrix, "query")
    if isinstance(data, np.ndarray) and data.ndim == 1:
        data = data.reshape(1, -1)
    elif isinstance(data, (list, tuple)) and data and not _is_sequence_column(data[0]) and not hasattr(data[0], "__len__"):
        data = [data]
    if isinstance(data, (list, tuple)) and len(data) == 0:
        raise DataError("search needs at least one query vector")
    matrix = _as_matrix(field, data, int(field.dim or 0))
    if not np.isfinite(matrix).all():
        row = int(np.nonzero(~np.isfinite(matrix).all(axis=1))[0][0])
        raise DataError(f"query {row} contains NaN or infinity", row=row, field=field.name)
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
            raise DataError(f"{what} {int(over[0])}: field {field.name!r} holds FLOAT16 values (|v| <= 65504)", field=field.name)
        return np.ascontiguousarray(matrix.astype(np.float16).astype(np.float32))
    if field.dtype is DataType.BFLOAT16_VECTOR:
        bits = np.ascontiguousarray(matrix, dtype=np.float32).view(np.uint32).astype(np.uint64)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
        over = np.nonzero(~np.isfinite(rounded).all(axis=1))[0]
        if over.size:
            raise DataError(f"{what} {int(over[0])}: field {field.name!r}: a value is beyond BFLOAT16's range", field=field.name)
        return rounded
    if field.dtype is DataType.INT8_VECTOR:
        bad = np.nonzero(((matrix != np.round(matrix)) | (matrix < -128) | (matrix > 127)).any(axis=1))[0]
        if bad.size:
            raise DataError(f"{what} {int(bad[0])}: field {field.name!r} holds INT8 values (whole numbers in -128..127)", field=field.name)
        return matrix
    return matrix
