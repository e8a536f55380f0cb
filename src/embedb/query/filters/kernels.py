"""Arrow building blocks of the evaluator: typed comparisons, set lookups, ARRAY columns.

Every function takes and returns whole ``pyarrow`` arrays (one chunk); nulls
stay null (unknown) unless a docstring says otherwise.

Literal rules, as in Milvus: a literal compared with a FLOAT (float32) column
is rounded to float32 first, so ``ratio == 0.1`` finds the rows stored from
0.1; an integer literal outside the range of an integer column's type
(``int8_field > 1000``) compares as the number it is, without overflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedb.query.filters.bound import ConstValue

COMPARE_FUNCTIONS = {
    "==": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
}
MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FEW_VALUES = 4  # up to this many, "in" compares value by value instead of hashing


def with_nulls_of(result: pa.Array, source: pa.Array) -> pa.Array:
    """``result`` with null wherever ``source`` is null."""
    if source.null_count == 0:
        return result
    return pc.if_else(pc.is_valid(source), result, pa.scalar(None, result.type))


def constant_mask(value: bool, length: int) -> pa.Array:
    return pa.array(np.full(length, value, dtype=bool))


def as_float(value: int | float) -> float:
    """``float(value)``, saturating to +-inf instead of raising for huge integers."""
    try:
        return float(value)
    except OverflowError:
        return float("inf") if value > 0 else float("-inf")


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare_arrays(op: str, left: pa.Array, right: pa.Array) -> pa.Array:
    """``left op right`` row by row; numbers of different types meet as int64 or float64."""
    if left.type != right.type and _is_numeric(left.type) and _is_numeric(right.type):
        common = pa.float64() if pa.types.is_floating(left.type) or pa.types.is_floating(right.type) else pa.int64()
        left, right = left.cast(common), right.cast(common)
    return COMPARE_FUNCTIONS[op](left, right)


def compare_with_constant(op: str, array: pa.Array, constant: ConstValue) -> pa.Array:
    """``array op constant`` for a scalar constant of a type the binder found comparable."""
    kind = array.type
    if pa.types.is_integer(kind) and isinstance(constant, int) and not isinstance(constant, bool):
        bounds = np.iinfo(kind.to_pandas_dtype())
        if constant > bounds.max or constant < bounds.min:
            # Outside the column's type: every value is on the same side of it.
            above = constant > bounds.max
            truth = op in ("!=", "<", "<=") if above else op in ("!=", ">", ">=")
            return with_nulls_of(constant_mask(truth, len(array)), array)
        return COMPARE_FUNCTIONS[op](array, pa.scalar(constant, kind))
    if is_number(constant) and (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
        number_type = pa.float32() if kind == pa.float32() else pa.float64()
        return COMPARE_FUNCTIONS[op](array, pa.scalar(as_float(constant), number_type))
    return COMPARE_FUNCTIONS[op](array, pa.scalar(constant))


def lookup_set(array: pa.Array, values: Sequence[ConstValue]) -> tuple[pa.Array, pa.Array]:
    """``array`` and the constants that could equal its values, both of one Arrow type.

    Integer arrays are widened to int64 (so no constant overflows their type);
    a constant that cannot equal any value (2.5 against integers) is dropped.
    """
    kind = array.type
    if pa.types.is_integer(kind):
        ints = []
        for value in values:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if is_number(value) and isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
                ints.append(value)
        return array.cast(pa.int64()), pa.array(ints, type=pa.int64())
    if pa.types.is_floating(kind):
        floats = [as_float(v) for v in values if is_number(v)]
        return array, pa.array(floats, type=kind)
    if pa.types.is_boolean(kind):
        return array, pa.array([v for v in values if isinstance(v, bool)], type=kind)
    return array, pa.array([v for v in values if isinstance(v, str)], type=pa.string())


def is_in(array: pa.Array, values: Sequence[ConstValue]) -> pa.Array:
    """Whether each row equals one of ``values``; null rows stay null."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) <= _FEW_VALUES:
        # A few comparisons beat building a hash set (3-10x on a million rows).
        if not distinct:
            return with_nulls_of(constant_mask(False, len(array)), array)
        found = compare_with_constant("==", array, distinct[0])
        for value in distinct[1:]:
            found = pc.or_(found, compare_with_constant("==", array, value))
        return found
    widened, value_set = lookup_set(array, distinct)
    return with_nulls_of(pc.is_in(widened, value_set=value_set), array)


# ----------------------------------------------------------- ARRAY columns


def list_element(lists: pa.Array, index: int) -> pa.Array:
    """Element ``index`` of each list; null where the list is null or shorter."""
    offsets, values = _window(lists)
    starts = offsets[:-1]
    has_index = (offsets[1:] - starts) > index
    taken = values.take(pa.array(starts + index, mask=~has_index))
    return with_nulls_of(taken, lists)


def list_length(lists: pa.Array) -> pa.Array:
    return pc.list_value_length(lists).cast(pa.int64())


def list_contains(lists: pa.Array, values: Sequence[ConstValue], mode: str) -> pa.Array:
    """array_contains ("one"), array_contains_all ("all") and array_contains_any ("any")."""
    offsets, elements = _window(lists)
    if mode == "all":
        found = np.ones(len(lists), dtype=bool)
        for value in dict.fromkeys(values):
            found &= _rows_with(elements, offsets, [value])
    else:
        found = _rows_with(elements, offsets, values)
    return with_nulls_of(pa.array(found), lists)


def list_equals(lists: pa.Array, items: Sequence[ConstValue]) -> pa.Array:
    """Whether each list equals ``items`` (same length, equal elements in order)."""
    equal = pc.equal(list_length(lists), len(items)).fill_null(False)
    for index, item in enumerate(items):
        element_equal = compare_with_constant("==", list_element(lists, index), item).fill_null(False)
        equal = pc.and_(equal, element_equal)
    return with_nulls_of(equal, lists)


def _window(lists: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """The list offsets rebased to 0 and the child values they index (the array may be a slice)."""
    offsets = lists.offsets.to_numpy(zero_copy_only=False)
    first = int(offsets[0])
    return offsets - first, lists.values.slice(first, int(offsets[-1]) - first)


def _rows_with(elements: pa.Array, offsets: np.ndarray, values: Sequence[ConstValue]) -> np.ndarray:
    """Which lists hold at least one of ``values`` (null lists come out False)."""
    hits = np.flatnonzero(is_in(elements, values).fill_null(False).to_numpy(zero_copy_only=False))
    found = np.zeros(len(offsets) - 1, dtype=bool)
    # The list of a hit is the last one that starts at or before it (empty lists start there too).
    found[np.searchsorted(offsets, hits, side="right") - 1] = True
    return found


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))
