"""Milvus's field operations in a partial upsert: replace a field, or append to / remove from an ARRAY field.

``upsert(..., field_ops={"tags": "array_append"})`` sends only the elements to
add (or, with ``array_remove``, the values whose every stored occurrence goes);
the engine merges them with the stored array under the collection's write lock.
A row whose key is new starts from an empty array. The merged array is checked
like any written value (``max_capacity``, element type) before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedb.errors import DataError, InvalidArgumentError
from embedb.schema import CollectionSchema, DataType

REPLACE = "replace"
ARRAY_APPEND = "array_append"
ARRAY_REMOVE = "array_remove"
FIELD_OPS = (REPLACE, ARRAY_APPEND, ARRAY_REMOVE)


def checked_field_ops(schema: CollectionSchema, field_ops: Mapping[str, Any] | None) -> dict[str, str]:
    """``field_ops`` as {field: op} for the fields that are not plainly replaced; ``InvalidArgumentError`` otherwise."""
    if not field_ops:
        return {}
    if not isinstance(field_ops, Mapping):
        raise InvalidArgumentError(
            f"field_ops must be a dict of operations by field name, got {type(field_ops).__name__}",
            argument="field_ops",
        )
    checked: dict[str, str] = {}
    for name, op in field_ops.items():
        text = op.strip().lower() if isinstance(op, str) else None
        if text not in FIELD_OPS:
            raise InvalidArgumentError(
                f"field_ops[{name!r}]: {op!r} is not one of {list(FIELD_OPS)}", argument="field_ops"
            )
        if not isinstance(name, str) or not schema.has_field(name):
            raise InvalidArgumentError(
                f"field_ops names {name!r}, which is not a field of the collection", argument="field_ops"
            )
        if text != REPLACE and schema.field(name).dtype is not DataType.ARRAY:
            raise InvalidArgumentError(
                f"field_ops[{name!r}]: {text} works on ARRAY fields, not {schema.field(name).dtype.name}",
                argument="field_ops",
            )
        if text != REPLACE:
            checked[name] = text
    return checked


def apply_field_op(op: str, stored: Any, given: Any, field: str, row: int) -> Any:
    """The array a row's field holds after ``op`` with the ``given`` elements (``stored`` may be None)."""
    if given is None:
        return stored
    if not isinstance(given, (list, tuple)):
        raise DataError(
            f"row {row}: field {field!r}: {op} takes a list of elements, got {type(given).__name__}",
            row=row,
            field=field,
        )
    base = list(stored or [])
    if op == ARRAY_APPEND:
        return base + list(given)
    removed = list(given)
    return [element for element in base if element not in removed]
