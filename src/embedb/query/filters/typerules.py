"""Typing rules of the filter language: static value types and which operations they allow.

The binder asks these functions whether a comparison, a list item or an
arithmetic operand makes sense; each answer is either silence or a
``FilterError`` that names the field and the types involved.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from embedb.errors import FilterError
from embedb.query.filters import bound as b
from embedb.query.filters import nodes as n
from embedb.query.filters.tokens import MAX_INTEGER_BITS
from embedb.schema import DataType


class ValueType(enum.Enum):
    """The static type of a bound value; the enum value is how messages name a constant's type."""

    BOOL = "bool"
    INT = "integer"
    FLOAT = "float"
    STRING = "string"
    JSON = "JSON"
    ARRAY = "ARRAY"
    LIST = "list"
    TIME = "TIMESTAMPTZ"  # microseconds since the epoch: a TIMESTAMPTZ field or an ISO '...' instant
    INTERVAL = "INTERVAL"  # microseconds: an INTERVAL '...' duration

    @property
    def is_numeric(self) -> bool:
        return self in (ValueType.INT, ValueType.FLOAT)


SCALAR_TYPES = {
    DataType.BOOL: ValueType.BOOL,
    DataType.INT8: ValueType.INT,
    DataType.INT16: ValueType.INT,
    DataType.INT32: ValueType.INT,
    DataType.INT64: ValueType.INT,
    DataType.FLOAT: ValueType.FLOAT,
    DataType.DOUBLE: ValueType.FLOAT,
    DataType.VARCHAR: ValueType.STRING,
    DataType.JSON: ValueType.JSON,
    DataType.ARRAY: ValueType.ARRAY,
    DataType.TIMESTAMPTZ: ValueType.TIME,
}
ORDERING = frozenset({"<", "<=", ">", ">="})


@dataclass(frozen=True)
class Typed:
    """A bound value with what error messages need to say about it."""

    value: b.Value
    vtype: ValueType
    type_name: str  # "VARCHAR", "ARRAY<INT64>", "JSON", "integer", ...
    label: str  # "field 'name'", "the value 3", "meta[\"a\"]"
    field: str | None = None

    def describe(self) -> str:
        return f"{self.label} ({self.type_name})"


def quoted(node: n.Node) -> str:
    """``node`` as quoted text for messages, without the outer parentheses ``to_text`` adds."""
    text = n.to_text(node)
    if text.startswith("(") and text.endswith(")") and not isinstance(node, n.Call):
        text = text[1:-1]
    return f"'{text}'"


def error_about(message: str, subject: Typed) -> FilterError:
    """A ``FilterError`` whose details name ``subject``'s field and type."""
    return FilterError(message, field=subject.field, type=subject.type_name)


def const(value: b.ConstValue, text: str) -> Typed:
    """A constant with its type; ``text`` is how the expression wrote it."""
    if isinstance(value, bool):
        vtype = ValueType.BOOL
    elif isinstance(value, int):
        vtype = ValueType.INT
    elif isinstance(value, float):
        vtype = ValueType.FLOAT
    elif isinstance(value, str):
        vtype = ValueType.STRING
    else:
        vtype = ValueType.LIST
    return Typed(b.Const(value), vtype, vtype.value, f"the value {text}")


def check_numeric(side: Typed, what: str) -> None:
    """Arithmetic takes numbers and JSON values (JSON non-numbers become null when evaluated)."""
    if not (side.vtype.is_numeric or side.vtype is ValueType.JSON):
        raise error_about(f"{what} needs numbers, got {side.describe()}", side)


def check_comparable(op: str, left: Typed, right: Typed) -> None:
    """Numbers with numbers, strings with strings, BOOL with BOOL (== and != only), JSON with scalars.

    An ARRAY compares (== and != only) with a list of fitting constants; a
    JSON value also with a list constant, never with an ordering on bools.
    """
    kinds = {left.vtype, right.vtype}
    ordering = op in ORDERING
    subject = left if left.field else right
    message = f"cannot compare {left.describe()} with {right.describe()} using '{op}'"
    if ValueType.ARRAY in kinds:
        array, other = (left, right) if left.vtype is ValueType.ARRAY else (right, left)
        if other.vtype is not ValueType.LIST or ordering or not isinstance(other.value, b.Const):
            raise FilterError(
                message + "; use array_contains(), array_length() or an element like f[0]",
                field=subject.field,
                types=[left.type_name, right.type_name],
            )
        element = element_typed(array)
        items = other.value.value if isinstance(other.value.value, tuple) else ()
        for item in items:
            check_item(element, item, f"'{op}'")
        return
    allowed = (
        (ValueType.JSON in kinds and not (ordering and kinds & {ValueType.BOOL, ValueType.LIST}))
        or (left.vtype.is_numeric and right.vtype.is_numeric)
        or kinds == {ValueType.STRING}
        or (kinds == {ValueType.BOOL} and not ordering)
        or kinds == {ValueType.TIME}
    )
    if not allowed:
        hint = "; write an instant as ISO '2025-01-01T00:00:00Z'" if ValueType.TIME in kinds else ""
        raise FilterError(message + hint, field=subject.field, types=[left.type_name, right.type_name])


def element_typed(array: Typed) -> Typed:
    """What one element of an ARRAY field is, for checking constants against it."""
    element = array.value.element if isinstance(array.value, b.FieldRef) else None
    if element is None:
        return array
    return Typed(array.value, SCALAR_TYPES[element], f"{element.name} elements", array.label, array.field)


def check_item(target: Typed, item: b.ConstValue, where: str) -> None:
    """``item`` (a constant) must be able to match ``target``'s values in ``where``."""
    if target.vtype is ValueType.JSON:
        return
    fits = (
        (target.vtype.is_numeric and isinstance(item, int | float) and not isinstance(item, bool))
        or (target.vtype is ValueType.STRING and isinstance(item, str))
        or (target.vtype is ValueType.BOOL and isinstance(item, bool))
    )
    if not fits:
        raise FilterError(
            f"{where}: {target.describe()} cannot match {item!r} ({const(item, '').type_name})",
            field=target.field,
            types=[target.type_name, const(item, "").type_name],
        )


def fold_arithmetic(op: str, left: Any, right: Any, node: n.Arithmetic) -> b.ConstValue:
    """Compute constant arithmetic now, as the evaluator would (``**`` in float)."""
    try:
        if op == "+":
            result = left + right
        elif op == "-":
            result = left - right
        elif op == "*":
            result = left * right
        elif op == "/":
            result = left / right
        elif op == "%":
            result = left % right
        else:
            result = math.pow(left, right)
    except ZeroDivisionError:
        raise FilterError(f"division by zero in {quoted(node)}", position=node.position) from None
    except (OverflowError, ValueError) as exc:
        raise FilterError(f"cannot compute {quoted(node)}: {exc}", position=node.position) from None
    if isinstance(result, int) and result.bit_length() > MAX_INTEGER_BITS:
        raise FilterError(f"cannot compute {quoted(node)}: the result has over {MAX_INTEGER_BITS} bits", position=node.position)
    return result
