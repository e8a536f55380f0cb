"""The part of a filter a scalar index answers: top-level comparisons of an indexed field with constants.

``split_indexable`` takes a bound predicate and the fields that have a scalar
index, and returns the ``IndexTerm``s among its top-level ``and`` terms
(``field == c``, ``field < c`` ... either way round, ``field in [...]``). A
``SortedColumn`` (one segment's values of a field in order, with their row
numbers) counts and finds an ``IndexTerm``'s rows by binary search; a read
takes the rows of the most selective term as candidates and evaluates the
whole filter on those alone. A term is indexable only when its
constants have the field's own kind (an integer for an integer field, text
for VARCHAR, ...), so the binary search compares exactly what the evaluator
would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def index_terms(predicate: b.Predicate | None, indexed: frozenset[str]) -> tuple[IndexTerm, ...]:
    """The indexable top-level ``and`` terms of ``predicate``; ranges on one field are merged into one."""
    if predicate is None or not indexed:
        return ()
    found = [term for term in map(lambda t: _term(t, indexed), _conjuncts(predicate)) if term is not None]
    ranges: dict[str, IndexTerm] = {}
    merged: list[IndexTerm] = []
    for term in found:
        if term.values is not None:
            merged.append(term)
        else:
            ranges[term.field] = _narrower(ranges[term.field], term) if term.field in ranges else term
    return (*merged, *ranges.values())


def _conjuncts(predicate: b.Predicate) -> list[b.Predicate]:
    if isinstance(predicate, b.AllOf):
        return [leaf for term in predicate.terms for leaf in _conjuncts(term)]
    return [predicate]


def _narrower(a: IndexTerm, c: IndexTerm) -> IndexTerm:
    """The intersection of two ranges on one field."""
    low, low_inclusive = a.low, a.low_inclusive
    if c.low is not None and (low is None or c.low > low or (c.low == low and not c.low_inclusive)):
        low, low_inclusive = c.low, c.low_inclusive
    high, high_inclusive = a.high, a.high_inclusive
    if c.high is not None and (high is None or c.high < high or (c.high == high and not c.high_inclusive)):
        high, high_inclusive = c.high, c.high_inclusive
    return IndexTerm(a.field, None, low, high, low_inclusive, high_inclusive)


@dataclass(frozen=True)
class SortedColumn:
    """One segment's values of a field in order (NaN left out), with the row number of each."""

    values: np.ndarray
    rows: np.ndarray

    @classmethod
    def build(cls, column: pa.Array | pa.ChunkedArray) -> SortedColumn:
        """Sort a column (Arrow's sort: text sorts by UTF-8 bytes, as the evaluator compares it)."""
        if pa.types.is_floating(column.type):
            keep = pc.invert(pc.is_nan(column))
            rows = np.nonzero(keep.to_numpy(zero_copy_only=False))[0]
            column = pc.filter(column, keep)
        else:
            rows = np.arange(len(column))
        order = pc.sort_indices(column).to_numpy()
        values = pc.take(column, pa.array(order)).to_numpy(zero_copy_only=False)
        return cls(values, rows[order])

    def _bounds(self, term: IndexTerm) -> list[tuple[int, int]]:
        if term.values is not None:
            return [self._between(v, v, True, True) for v in term.values]
        return [self._between(term.low, term.high, term.low_inclusive, term.high_inclusive)]

    def count(self, term: IndexTerm) -> int:
        """How many rows ``term`` selects (two binary searches per value, nothing copied)."""
        return sum(max(0, stop - start) for start, stop in self._bounds(term))

    def rows_of(self, term: IndexTerm) -> np.ndarray:
        """The row numbers ``term`` selects, in no particular order."""
        parts = [self.rows[start:stop] for start, stop in self._bounds(term) if start < stop]
        return np.concatenate(parts) if parts else self.rows[:0]

    def _between(self, low: Any, high: Any, low_inclusive: bool, high_inclusive: bool) -> tuple[int, int]:
        start = 0 if low is None else int(np.searchsorted(self.values, low, side="left" if low_inclusive else "right"))
        stop = len(self.values) if high is None else int(np.searchsorted(self.values, high, side="right" if high_inclusive else "left"))
        return start, stop
