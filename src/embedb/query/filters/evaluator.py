"""Evaluate a bound filter over an Arrow table, whole columns at a time.

Predicates evaluate to Arrow boolean arrays with three values (true, false,
null for unknown) combined by Kleene logic; ``evaluate`` turns null into false
at the very end. Values evaluate to an Arrow array, a ``JsonColumn`` (JSON
paths) or a plain Python constant.

Arithmetic follows Python: ``/`` is true division, ``%`` takes the sign of the
divisor, ``**`` is computed in float64. Integer arithmetic runs in int64 and
falls back to float64 when it would overflow; dividing by zero gives null.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedb.errors import DataError
from embedb.query.filters import bound as b
from embedb.query.filters import kernels as k
from embedb.query.filters.json_values import (
    MISSING,
    JsonColumn,
    JsonDocuments,
    comparison_with,
    json_compare,
    json_equal,
    membership_in,
)
from embedb.text import analyzer

Evaluated: TypeAlias = "pa.Array | JsonColumn | b.ConstValue"

_ARITHMETIC = {
    "+": pc.add_checked,
    "-": pc.subtract_checked,
    "*": pc.multiply_checked,
    "/": pc.divide,
    "%": pc.modulo,
    "**": pc.power,
}


def evaluate(predicate: b.Predicate | None, table: pa.Table) -> np.ndarray:
    """One bool per row of ``table``: True where ``predicate`` holds (unknown counts as False).

    Raises ``DataError`` if a column the filter needs is missing or a JSON
    column holds text that is not JSON.
    """
    rows = table.num_rows
    if predicate is None:
        return np.ones(rows, dtype=bool)
    if rows == 0:
        return np.zeros(0, dtype=bool)
    mask = _Evaluation(table).predicate(predicate)
    return mask.fill_null(False).to_numpy(zero_copy_only=False)


class _Evaluation:
    """One evaluation: holds the columns and parsed JSON it has needed so far."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.rows = table.num_rows
        self.columns: dict[str, pa.Array] = {}
        self.documents: dict[str, JsonDocuments] = {}

    def column(self, name: str) -> pa.Array:
        if name not in self.columns:
            if name not in self.table.column_names:
                raise DataError(f"the table has no column {name!r} that the filter needs", field=name)
            chunked = self.table.column(name)
            self.columns[name] = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
        return self.columns[name]

    def json(self, path: b.JsonPath) -> JsonColumn:
        if path.column not in self.documents:
            self.documents[path.column] = JsonDocuments.parse(self.column(path.column), column=path.column)
        return self.documents[path.column].select(path.path)

    # ------------------------------------------------------------ predicates

    def predicate(self, node: b.Predicate) -> pa.Array:
        match node:
            case b.AllOf(terms=terms):
                result = self.predicate(terms[0])
                for term in terms[1:]:
                    result = pc.and_kleene(result, self.predicate(term))
                return result
            case b.AnyOf(terms=terms):
                result = self.predicate(terms[0])
                for term in terms[1:]:
                    result = pc.or_kleene(result, self.predicate(term))
                return result
            case b.Negation(operand=operand):
                return pc.invert(self.predicate(operand))
            case b.Constant(value=value):
                return k.constant_mask(value, self.rows)
            case b.Compare(op=op, left=left, right=right):
                return self.compare(op, self.value(left), self.value(right))
            case b.InValues(operand=operand, values=values, negated=negated):
                found = self.is_in(self.value(operand), values)
                return pc.invert(found) if negated else found
            case b.LikeMatch(operand=operand, pattern=pattern):
                return self.like(self.value(operand), pattern)
            case b.NullCheck(operand=operand, negated=negated):
                is_null = self.is_null(self.value(operand))
                return pc.invert(is_null) if negated else is_null
            case b.KeyExists(operand=path):
                return self.json(path).map(lambda v: v is not MISSING, pa.bool_())
            case b.Contains(operand=operand, values=values, mode=mode):
                if isinstance(operand, b.FieldRef):
                    return k.list_contains(self.column(operand.name), values, mode)
                return self.json(operand).map(lambda v: _json_contains(v, values, mode), pa.bool_())
            case b.Truth(operand=operand):
                return self.truth(self.value(operand))
            case b.TextMatch():
                return text_matches(self.column(node.field), node)
        raise TypeError(f"not a bound predicate: {node!r}")

    def compare(self, op: str, left: Evaluated, right: Evaluated) -> pa.Array:
        if not isinstance(left, pa.Array | JsonColumn):
            # The binder folds constant == constant, so the right side is not constant here.
            op, left, right = k.MIRRORED[op], right, left
        if isinstance(left, JsonColumn) or isinstance(right, JsonColumn):
            return self.compare_json(op, left, right)
        left = _column(left)
        if isinstance(right, pa.Array):
            return k.compare_arrays(op, left, right)
        if isinstance(right, tuple):
            equal = k.list_equals(left, right)
            return equal if op == "==" else pc.invert(equal)
        return k.compare_with_constant(op, left, right)

    def compare_json(self, op: str, left: Evaluated, right: Evaluated) -> pa.Array:
        if not isinstance(left, JsonColumn):
            op, left, right = k.MIRRORED[op], right, left
        if not isinstance(left, JsonColumn):
            raise TypeError("compare_json needs a JSON side")
        if isinstance(right, JsonColumn):
            pairs = zip(left.row_values(), right.row_values(), strict=True)
            return pa.array([json_compare(op, x, y) for x, y in pairs], type=pa.bool_())
        if not isinstance(right, pa.Array):
            return left.map(comparison_with(op, right), pa.bool_())
        kind = "string" if pa.types.is_string(right.type) else "bool" if pa.types.is_boolean(right.type) else "number"
        typed, mismatch = left.project(kind)
        result = k.compare_arrays(op, typed, right)
        # A present value of another JSON type is a definite answer, not an unknown one.
        decided = pc.and_(mismatch, pc.is_valid(right))
        return pc.if_else(decided, op == "!=", result)

    def is_in(self, operand: Evaluated, values: tuple[b.ConstValue, ...]) -> pa.Array:
        if isinstance(operand, JsonColumn):
            return operand.map(membership_in(values), pa.bool_())
        return k.is_in(_column(operand), values)

    def like(self, operand: Evaluated, pattern: str) -> pa.Array:
        if isinstance(operand, JsonColumn):
            strings, mismatch = operand.project("string")
            return pc.if_else(mismatch, False, pc.match_like(strings, pattern))
        return pc.match_like(_column(operand), pattern)

    def is_null(self, operand: Evaluated) -> pa.Array:
        if isinstance(operand, JsonColumn):
            return operand.map(lambda v: v is MISSING or v is None, pa.bool_())
        return pc.is_null(_column(operand))

    def truth(self, operand: Evaluated) -> pa.Array:
        if isinstance(operand, JsonColumn):
            return operand.map(lambda v: None if v is MISSING or v is None else v is True, pa.bool_())
        return _column(operand)

    # ---------------------------------------------------------------- values

    def value(self, node: b.Value) -> Evaluated:
        match node:
            case b.Const(value=value):
                return value
            case b.FieldRef(name=name):
                return self.column(name)
            case b.JsonPath():
                return self.json(node)
            case b.ArrayElement(field=field, index=index):
                return k.list_element(self.column(field), index)
            case b.ArrayLength(operand=b.FieldRef(name=name)):
                return k.list_length(self.column(name))
            case b.ArrayLength(operand=b.JsonPath() as path):
                return self.json(path).map(lambda v: len(v) if isinstance(v, list) else None, pa.int64())
            case b.Arith(op=op, left=left, right=right):
                return self.arithmetic(op, self.number(left), self.number(right))
            case b.Negate(operand=operand):
                return self.arithmetic("-", 0, self.number(operand))
        raise TypeError(f"not a bound value: {node!r}")

    def number(self, node: b.Value) -> pa.Array | int | float:
        """A numeric operand: ints widened to int64, floats to float64, JSON numbers projected."""
        value = self.value(node)
        if isinstance(value, JsonColumn):
            return value.project("number")[0]
        if isinstance(value, pa.Array):
            return value.cast(pa.float64() if pa.types.is_floating(value.type) else pa.int64())
        if not k.is_number(value):
            raise TypeError(f"not a number: {value!r}")  # the binder checks operands are numeric
        if isinstance(value, int) and not k.INT64_MIN <= value <= k.INT64_MAX:
            return k.as_float(value)
        return value

    def arithmetic(self, op: str, left: pa.Array | int | float, right: pa.Array | int | float) -> pa.Array:
        if op in ("/", "**"):
            left, right = _to_float(left), _to_float(right)
        if op in ("/", "%") and isinstance(right, pa.Array):
            right = pc.if_else(pc.equal(right, 0), pa.scalar(None, right.type), right)
        try:
            return _ARITHMETIC[op](left, right)
        except pa.ArrowInvalid:  # int64 overflow: redo it in float64
            return _ARITHMETIC[op](_to_float(left), _to_float(right))


def _column(value: Evaluated) -> pa.Array:
    if isinstance(value, pa.Array):
        return value
    # The binder folds constant-only comparisons, so a constant never gets here.
    raise TypeError(f"expected a column, got {value!r}")


def _to_float(value: pa.Array | int | float) -> pa.Array | float:
    return value.cast(pa.float64()) if isinstance(value, pa.Array) else k.as_float(value)


def _json_contains(value: object, values: tuple[b.ConstValue, ...], mode: str) -> bool | None:
    if value is MISSING or value is None:
        return None
    if not isinstance(value, list):
        return False
    if mode == "all":
        return all(any(json_equal(element, wanted) for element in value) for wanted in values)
    return any(json_equal(element, wanted) for element in value for wanted in values)


# Token lists of recently matched text columns: a column is tokenised once, not once per filter.
_TOKENS: collections.OrderedDict[tuple[Any, ...], tuple[pa.Array, list[list[str] | None]]] = collections.OrderedDict()
_TOKENS_KEPT = 16
_TOKENS_LOCK = threading.Lock()


def _column_tokens(column: pa.Array, analyzer_params: str) -> list[list[str] | None]:
    # The same rows arrive in a new wrapper on every evaluation: key on the buffers they live in (held below,
    # so their addresses are not reused while cached).
    buffers = tuple(0 if buffer is None else buffer.address for buffer in column.buffers())
    key = (buffers, column.offset, len(column), analyzer_params)
    with _TOKENS_LOCK:
        found = _TOKENS.get(key)
        if found is not None:
            _TOKENS.move_to_end(key)
            return found[1]
    tokens = analyzer(json.loads(analyzer_params)).tokens
    lists = [None if text is None else tokens(text) for text in column.to_pylist()]
    with _TOKENS_LOCK:
        _TOKENS[key] = (column, lists)
        while len(_TOKENS) > _TOKENS_KEPT:
            _TOKENS.popitem(last=False)
    return lists


def text_matches(column: pa.Array, match: b.TextMatch) -> pa.Array:
    """TEXT_MATCH: rows holding any of the tokens; PHRASE_MATCH: rows holding them in order within ``slop``."""
    rows = _column_tokens(column, match.analyzer_params)
    wanted = set(match.tokens)
    # A null text is unknown (null), as in any comparison: "not TEXT_MATCH" does not return it either.
    if not match.phrase:
        return pa.array([None if tokens is None else not wanted.isdisjoint(tokens) for tokens in rows], type=pa.bool_())
    return pa.array(
        [None if tokens is None else bool(match.tokens) and _has_phrase(tokens, match.tokens, match.slop) for tokens in rows],
        type=pa.bool_(),
    )


def _has_phrase(tokens: list[str], phrase: tuple[str, ...], slop: int) -> bool:
    """Whether ``phrase`` occurs in order in ``tokens`` with at most ``slop`` other tokens in between, in all."""
    for start, token in enumerate(tokens):
        if token != phrase[0]:
            continue
        position, gaps = start, 0
        for word in phrase[1:]:
            following = next((i for i in range(position + 1, len(tokens)) if tokens[i] == word), None)
            if following is None:
                return False
            gaps += following - position - 1
            position = following
        if gaps <= slop:
            return True
    return False
