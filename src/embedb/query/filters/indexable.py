"""The part of a filter a scalar index answers: top-level comparisons of an indexed field with constants.

``split_indexable`` takes a bound predicate and the fields that have a scalar
index, and returns the ``IndexTerm``s among its top-level ``and`` terms
(``field == c``, ``field < c`` ... either way round, ``field in [...]``) and
the predicate left for the column-at-a-time evaluator. A ``SortedColumn``
(one segment's values of a field in order, with their row numbers) finds an
``IndexTerm``'s rows by binary search. A term is indexable only when its
constants have the field's own kind (an integer for an integer field, text
for VARCHAR, ...), so the binary search compares exactly what the evaluator
would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from embedb.query.filters import bound as b
from embedb.schema import DataType

_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
_INTEGERS = frozenset({DataType.INT8, DataType.INT16, DataType.INT32, DataType.INT64})


@dataclass(frozen=True)
class IndexTerm:
    """Rows whose ``field`` is one of ``values``, or (``values`` None) lies between the bounds (None: open)."""

    field: str
    values: tuple[Any, ...] | None = None
    low: Any = None
    high: Any = None
    low_inclusive: bool = True
    high_inclusive: bool = True


def _fits(dtype: DataType, value: object) -> bool:
    if isinstance(value, bool):
        return dtype is DataType.BOOL
    if isinstance(value, int):
        return dtype in _INTEGERS or dtype in (DataType.FLOAT, DataType.DOUBLE)
    if isinstance(value, float):
        return dtype in (DataType.FLOAT, DataType.DOUBLE) and value == value  # not NaN
    if isinstance(value, str):
        return dtype is DataType.VARCHAR
    return False


def _term(predicate: b.Predicate, indexed: frozenset[str]) -> IndexTerm | None:
    if isinstance(predicate, b.Compare) and predicate.op in _FLIPPED:
        field, const, op = predicate.left, predicate.right, predicate.op
        if isinstance(field, b.Const) and isinstance(const, b.FieldRef):
            field, const, op = const, field, _FLIPPED[op]
        if not isinstance(field, b.FieldRef) or not isinstance(const, b.Const) or field.name not in indexed:
            return None
        if not _fits(field.dtype, const.value):
            return None
        value = const.value
        if op == "==":
            return IndexTerm(field.name, values=(value,))
        if op in ("<", "<="):
            return IndexTerm(field.name, high=value, high_inclusive=op == "<=")
        return IndexTerm(field.name, low=value, low_inclusive=op == ">=")
    if isinstance(predicate, b.InValues) and not predicate.negated:
        operand = predicate.operand
        if isinstance(operand, b.FieldRef) and operand.name in indexed and all(_fits(operand.dtype, v) for v in predicate.values):
            return IndexTerm(operand.name, values=tuple(predicate.values))
    return None


def split_indexable(predicate: b.Predicate | None, indexed: frozenset[str]) -> tuple[tuple[IndexTerm, ...], b.Predicate | None]:
    """(the indexable top-level ``and`` terms, the predicate of the others — None when there are none)."""
    if predicate is None or not indexed:
        return (), predicate
    terms = predicate.terms if isinstance(predicate, b.AllOf) else (predicate,)
    found: list[IndexTerm] = []
    rest: list[b.Predicate] = []
    for term in terms:
        indexable = _term(term, indexed)
        if indexable is None:
            rest.append(term)
        else:
            found.append(indexable)
    if not found:
        return (), predicate
    remaining: b.Predicate | None = None if not rest else rest[0] if len(rest) == 1 else b.AllOf(tuple(rest))
    return tuple(found), remaining


@dataclass(frozen=True)
class SortedColumn:
    """One segment's values of a field in order (NaN left out), with the row number of each."""

    values: np.ndarray
    rows: np.ndarray

    @classmethod
    def build(cls, column: np.ndarray) -> SortedColumn:
        rows = np.arange(column.shape[0])
        if column.dtype.kind == "f":
            keep = ~np.isnan(column)
            column, rows = column[keep], rows[keep]
        order = np.argsort(column, kind="stable")
        return cls(column[order], rows[order])

    def rows_of(self, term: IndexTerm) -> np.ndarray:
        """The row numbers ``term`` selects, in no particular order."""
        if term.values is not None:
            parts = [self._between(v, v, True, True) for v in term.values]
            return np.concatenate(parts) if parts else self.rows[:0]
        return self._between(term.low, term.high, term.low_inclusive, term.high_inclusive)

    def _between(self, low: Any, high: Any, low_inclusive: bool, high_inclusive: bool) -> np.ndarray:
        start = 0 if low is None else int(np.searchsorted(self.values, low, side="left" if low_inclusive else "right"))
        stop = len(self.values) if high is None else int(np.searchsorted(self.values, high, side="right" if high_inclusive else "left"))
        return self.rows[start:stop] if start < stop else self.rows[:0]
