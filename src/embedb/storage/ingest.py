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

from embedb.errors import DataError
from embedb.schema import (
    DYNAMIC_FIELD_NAME,
    INTEGER_BOUNDS,
    MAX_JSON_DEPTH,
    CollectionSchema,
    DataType,
    FieldSchema,
    lone_surrogate_at,
)
from embedb.storage.records import RowBatch, primary_key_array
from embedb.storage.sparse_vectors import sparse_column, term_count_column
from embedb.storage.vector_input import (
    MISSING,
    check_vectors,
    is_pandas_series,
    is_sequence_column,
)
from embedb.text import analyzer
from embedb.timestamps import UTC_NAME, to_micros

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
    missing = [i for i, item in enumerate(value) if item is MISSING or item is None]
    if len(missing) == len(value):
        return None
    if missing:
        raise DataError(f"row {missing[0]}: field {name!r} is missing while other rows of the batch give it", row=missing[0], field=name)
    return value


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
            if first is None:
                continue  # every cell null: the other fields decide
            binary = field.dtype is DataType.BINARY_VECTOR and isinstance(first, (bytes, bytearray, memoryview))
            return is_sequence_column(first) or binary
    for field in schema.scalar_fields:
        if field.dtype.is_sparse and field.name in data:
            value = data[field.name]
            if isinstance(value, Mapping) or hasattr(value, "tocsr"):
                return not isinstance(value, Mapping) and all(is_sequence_column(v) for k, v in data.items() if k != field.name)
            first = next((item for item in value if item is not None), None) if isinstance(value, (list, tuple)) else None
            return isinstance(first, Mapping) or hasattr(first, "tocoo") or (isinstance(first, (list, tuple)) and bool(first) and isinstance(first[0], (list, tuple)))
    nested_ok = {f.name for f in schema.fields if f.dtype in (DataType.ARRAY, DataType.JSON)}
    return bool(data) and all(is_sequence_column(v) and k not in nested_ok for k, v in data.items())


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
            lengths = {name: value.shape[0] if hasattr(value, "tocsr") else len(value) for name, value in data.items()}
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
        columns[name] = [row.get(name, MISSING) for row in rows]
    if dynamic:
        columns[DYNAMIC_FIELD_NAME] = extras
    return PreparedRows(columns, len(rows), True)


def prepare_batch(
    data: Any,
    schema: CollectionSchema,
    *,
    partition_id: int,
    vector_keys: Mapping[str, str],
    allow_auto_id_values: bool = False,
    next_auto_ids: Any = None,
    skip_vectors: Iterable[str] = (),
    timezone: str = UTC_NAME,
) -> RowBatch:
    """Validate ``data`` against ``schema`` and build the ``RowBatch`` storage writes.

    ``vector_keys`` maps each vector field to the storage column key it is
    written under. ``next_auto_ids(n)`` returns fresh keys when the primary
    key is ``auto_id``. Fields named in ``skip_vectors`` are not required (the
    caller fills them, e.g. by embedding the source text). TIMESTAMPTZ text
    without an offset is read in ``timezone``. Raises ``DataError``
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
        elif field.dtype.is_sparse and schema.function_output(field.name) is not None:
            if _any_given(columns.get(field.name, [])):
                raise DataError(f"field {field.name!r} is filled by function {schema.function_output(field.name).name!r}: do not give it")  # type: ignore[union-attr]
            arrays.append(pa.nulls(n, type=field.arrow_type))  # filled below, from its input field
        elif field.dtype.is_sparse:
            arrays.append(_sparse_array(field, columns.get(field.name, MISSING), n))
        else:
            value = columns.get(field.name, MISSING)
            if field.dtype is DataType.TIMESTAMPTZ:
                field, value = _as_instants(field, value, timezone)
            arrays.append(_scalar_column(field, value, n, prepared))
        names.append(field.name)
    for function in schema.functions:  # BM25: the input text's term counts
        source = schema.field(function.input_field_names[0])
        texts = arrays[names.index(source.name)].to_pylist()
        output = function.output_field_names[0]
        arrays[names.index(output)] = term_count_column(texts, analyzer(source.analyzer_params).tokens, output)
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
        value = columns.get(field.name, MISSING)
        vectors[vector_keys[field.name]] = check_vectors(field, value, n, prepared)
    return RowBatch(table, vectors, partition_id)


def _any_given(column: Any) -> bool:
    if isinstance(column, list):
        return any(v is not MISSING and v is not None for v in column)
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


def _sparse_array(field: FieldSchema, value: Any, n: int) -> pa.Array:
    """A SPARSE_FLOAT_VECTOR column (dicts, pairs, or a SciPy sparse matrix of n rows) as an Arrow map array."""
    if value is MISSING:
        raise DataError(f"missing sparse vector field {field.name!r}", field=field.name)
    if hasattr(value, "tocsr") and hasattr(value, "shape"):  # one SciPy sparse matrix for the whole batch
        matrix = value.tocsr()
        value = [matrix[i : i + 1] for i in range(matrix.shape[0])]  # a slice stays 2-d (csr_array too)
    elif isinstance(value, (pa.Array, pa.ChunkedArray)):
        value = value.to_pylist()
    items = [None if item is MISSING else item for item in value]
    if len(items) != n:
        raise DataError(f"field {field.name!r} has {len(items)} sparse vectors for {n} rows", field=field.name)
    return sparse_column(items, field.name)


def _as_instants(field: FieldSchema, value: Any, timezone: str) -> tuple[FieldSchema, Any]:
    """A TIMESTAMPTZ column (and its default) as microseconds since the epoch; ``DataError`` names a bad row."""
    default = field.default_value
    if default is not None:
        field = replace(field, default_value=to_micros(default, timezone, what=f"field {field.name!r} default"))
    if value is MISSING:
        return field, value
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        value = value.to_pylist()
    elif isinstance(value, np.ndarray) or is_pandas_series(value):
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise DataError(f"field {field.name!r}: a TIMESTAMPTZ column is a list of ISO 8601 texts", field=field.name)
    instants: list[Any] = []
    for row, item in enumerate(value):
        if item is None or item is MISSING:
            instants.append(item)
            continue
        try:
            instants.append(to_micros(item, timezone, what=f"row {row}: field {field.name!r}"))
        except DataError as error:
            raise DataError(str(error), row=row, field=field.name) from None
    return field, instants


def _scalar_column(field: FieldSchema, value: Any, n: int, prepared: PreparedRows) -> pa.Array:
    """One scalar column as an Arrow array of the field's type, with defaults and nulls applied."""
    if value is MISSING:
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
    if not any(v is MISSING for v in values):
        return values
    if field.default_value is None and not field.nullable:
        row = next(i for i, v in enumerate(values) if v is MISSING)
        raise DataError(f"row {row}: missing field {field.name!r} (required: not nullable and no default)", row=row, field=field.name)
    return [field.default_value if v is MISSING else v for v in values]


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
    if is_pandas_series(value):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        return _numpy_to_arrow(field, value)
    if field.dtype in (DataType.ARRAY, DataType.VARCHAR, DataType.TIMESTAMPTZ):  # instants: already checked ints
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
