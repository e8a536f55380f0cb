"""Binding: check a syntax tree against a schema and turn it into a bound filter.

This is where names become columns (a bare unknown name is a key of ``$meta``
when the dynamic field is on), ``{params}`` are filled, constant parts are
folded and types are checked. Every mistake here is a ``FilterError`` that
names the field and the types involved; nothing is evaluated yet.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Literal as Choice

import numpy as np

from embedb.errors import DataError, FilterError, InvalidArgumentError
from embedb.query.filters import bound as b
from embedb.query.filters import nodes as n
from embedb.query.filters.json_values import json_compare, json_equal
from embedb.query.filters.tokens import MAX_INTEGER_BITS
from embedb.query.filters.typerules import (
    SCALAR_TYPES,
    Typed,
    ValueType,
    check_comparable,
    check_item,
    check_numeric,
    const,
    element_typed,
    error_about,
    fold_arithmetic,
    quoted,
)
from embedb.schema import DYNAMIC_FIELD_NAME, CollectionSchema, DataType, FieldSchema
from embedb.text import analyzer
from embedb.timestamps import UTC_NAME, interval_micros, to_micros

_CONTAINS_MODES: dict[str, Choice["one", "all", "any"]] = {
    "array_contains": "one",
    "json_contains": "one",
    "array_contains_all": "all",
    "json_contains_all": "all",
    "array_contains_any": "any",
    "json_contains_any": "any",
}


@dataclass(frozen=True)
class BoundFilter:
    predicate: b.Predicate | None  # None: the empty filter, every row matches
    fields: frozenset[str]


def bind(
    tree: n.Node | None, schema: CollectionSchema, *, params: Mapping[str, object] | None = None, timezone: str = UTC_NAME
) -> BoundFilter:
    """Bind ``tree`` to ``schema``; raise ``FilterError`` for unknown names, bad types or missing params.

    ``ISO '...'`` text without an offset is read in ``timezone``.
    """
    if tree is None:
        return BoundFilter(None, frozenset())
    binder = _Binder(schema, params or {}, timezone)
    return BoundFilter(binder.predicate(tree), frozenset(binder.fields))


def literal_primary_keys(predicate: b.Predicate | None, primary: FieldSchema) -> list[Any] | None:
    """The keys when ``predicate`` is only ``pk == v`` / ``pk in [...]`` (or an OR of them), else None."""
    match predicate:
        case b.Compare(op="==", left=b.FieldRef(name=name), right=b.Const(value=key)) if name == primary.name:
            keys: list[Any] | None = [key]
        case b.Compare(op="==", left=b.Const(value=key), right=b.FieldRef(name=name)) if name == primary.name:
            keys = [key]
        case b.InValues(operand=b.FieldRef(name=name), values=values, negated=False) if name == primary.name:
            keys = list(values)
        case b.AnyOf(terms=terms):
            keys = []
            for term in terms:
                found = literal_primary_keys(term, primary)
                if found is None:
                    return None
                keys.extend(found)
        case _:
            return None
    wanted = str if primary.dtype is DataType.VARCHAR else int
    if keys is None or not all(isinstance(k, wanted) and not isinstance(k, bool) for k in keys):
        return None
    return list(dict.fromkeys(keys))


def literal_values(predicate: b.Predicate | None, field: FieldSchema) -> list[Any] | None:
    """The values ``predicate`` allows ``field``: the common values of its top-level terms that are only
    ``field == v`` / ``field in [...]`` (or an OR of them); None when no term is."""
    terms = predicate.terms if isinstance(predicate, b.AllOf) else (predicate,)
    allowed: list[Any] | None = None
    for term in terms:
        values = literal_primary_keys(term, field)
        if values is not None:
            allowed = values if allowed is None else [value for value in allowed if value in values]
    return allowed


class _Binder:
    def __init__(self, schema: CollectionSchema, params: Mapping[str, object], timezone: str) -> None:
        self.schema = schema
        self.params = params
        self.timezone = timezone
        self.fields: set[str] = set()

    # ------------------------------------------------------------ predicates

    def predicate(self, node: n.Node) -> b.Predicate:
        match node:
            case n.Logical(op=op):
                return _combine(op, [self.predicate(term) for term in _flatten(node, op)])
            case n.Unary(op="not", operand=operand):
                inner = self.predicate(operand)
                return b.Constant(not inner.value) if isinstance(inner, b.Constant) else b.Negation(inner)
            case n.Comparison():
                return self.comparison(node)
            case n.InList():
                return self.in_list(node)
            case n.Like():
                return self.like(node)
            case n.IsNull(operand=operand, negated=negated):
                typed = self.value(operand)
                if isinstance(typed.value, b.Const):
                    return b.Constant(negated)
                return b.NullCheck(typed.value, negated)
            case n.Exists(operand=operand):
                typed = self.value(operand)
                if not isinstance(typed.value, b.JsonPath):
                    raise error_about(f"exists needs a JSON path such as meta[\"key\"] or a dynamic key, got {typed.describe()}", typed)
                return b.KeyExists(typed.value)
            case n.Call(name=name) if name in _CONTAINS_MODES:
                return self.contains(node)
            case n.Call(name="text_match" | "phrase_match"):
                return self.text_match(node)
        typed = self.value(node)
        if isinstance(typed.value, b.Const) and isinstance(typed.value.value, bool):
            return b.Constant(typed.value.value)
        if typed.vtype in (ValueType.BOOL, ValueType.JSON) and not isinstance(typed.value, b.Const):
            return b.Truth(typed.value)
        raise error_about(f"{typed.describe()} is not a condition; compare it with a value", typed)

    def comparison(self, node: n.Comparison) -> b.Predicate:
        left, right = self.value(node.left), self.value(node.right)
        op = node.op
        check_comparable(op, left, right)
        if isinstance(left.value, b.Const) and isinstance(right.value, b.Const):
            return b.Constant(json_compare(op, left.value.value, right.value.value) is True)
        return b.Compare(op, left.value, right.value)

    def in_list(self, node: n.InList) -> b.Predicate:
        operand, values = self.value(node.operand), self.value(node.values)
        keyword = "not in" if node.negated else "in"
        if not (isinstance(values.value, b.Const) and isinstance(values.value.value, tuple)):
            raise error_about(
                f"'{keyword}' after {operand.describe()} needs a list of values like [1, 2], got {values.describe()}",
                operand,
            )
        if operand.vtype in (ValueType.ARRAY, ValueType.LIST):
            raise error_about(f"'{keyword}' needs a scalar on its left, got {operand.describe()}; for arrays use array_contains_any", operand)
        items = values.value.value
        for item in items:
            check_item(operand, item, f"'{keyword}'")
        if isinstance(operand.value, b.Const):
            found = any(json_equal(operand.value.value, item) for item in items)
            return b.Constant(found != node.negated)
        return b.InValues(operand.value, items, node.negated)

    def like(self, node: n.Like) -> b.Predicate:
        operand, pattern = self.value(node.operand), self.value(node.pattern)
        if operand.vtype not in (ValueType.STRING, ValueType.JSON) or isinstance(operand.value, b.Const):
            raise error_about(f"'like' needs a VARCHAR field or a JSON value on its left, got {operand.describe()}", operand)
        if not (isinstance(pattern.value, b.Const) and isinstance(pattern.value.value, str)):
            raise error_about(f"'like' needs a string pattern such as \"abc%\", got {pattern.describe()}", operand)
        return b.LikeMatch(operand.value, pattern.value.value)

    def text_match(self, node: n.Call) -> b.Predicate:
        """TEXT_MATCH / PHRASE_MATCH on a VARCHAR field with enable_match: the query's tokens by the field's own analyzer."""
        name = node.name.upper()
        target, text = node.args[0], node.args[1]
        if not isinstance(target, n.Name) or not self.schema.has_field(target.name):
            raise FilterError(f"{name} needs a VARCHAR field with enable_match=True as its first argument", position=node.position)
        field = self.schema.field(target.name)
        if field.dtype is not DataType.VARCHAR or not field.enable_match:
            raise FilterError(f"{name}: field {field.name!r} was not created with enable_analyzer=True, enable_match=True", field=field.name)
        words = self.constant(text)
        if not isinstance(words, str):
            raise FilterError(f"{name} takes the words as text, got {words!r}", field=field.name)
        slop = self.constant(node.args[2]) if len(node.args) > 2 else 0
        if isinstance(slop, bool) or not isinstance(slop, int) or slop < 0:
            raise FilterError(f"PHRASE_MATCH slop must be a whole number >= 0, got {slop!r}", field=field.name)
        self.fields.add(field.name)
        params = json.dumps(field.analyzer_params or {}, sort_keys=True)
        tokens = tuple(analyzer(field.analyzer_params).tokens(words))
        return b.TextMatch(field.name, params, tokens, node.name == "phrase_match", slop)

    def contains(self, node: n.Call) -> b.Predicate:
        target, argument = self.value(node.args[0]), self.value(node.args[1])
        mode = _CONTAINS_MODES[node.name]
        operand = target.value
        if not (isinstance(operand, b.JsonPath) or (isinstance(operand, b.FieldRef) and operand.element is not None)):
            raise error_about(f"{node.name}() needs an ARRAY field or a JSON value, got {target.describe()}", target)
        if not isinstance(argument.value, b.Const):
            raise error_about(f"{node.name}() needs a constant as its second argument, got {argument.describe()}", target)
        if mode == "one":
            values: tuple[b.ConstValue, ...] = (argument.value.value,)
        elif isinstance(argument.value.value, tuple):
            values = argument.value.value
        else:
            raise error_about(f"{node.name}() needs a list such as [1, 2] as its second argument, got {argument.describe()}", target)
        if isinstance(operand, b.FieldRef):
            element = element_typed(target)
            for value in values:
                check_item(element, value, f"{node.name}()")
        return b.Contains(operand, values, mode)

    # ---------------------------------------------------------------- values

    def value(self, node: n.Node) -> Typed:
        match node:
            case n.Literal(value=value):
                return const(value, n.to_text(node))
            case n.ListLiteral(items=items):
                return const(tuple(self.constant(item) for item in items), n.to_text(node))
            case n.Param(name=name):
                return const(self.param(name), n.to_text(node))
            case n.TimeLiteral():
                return self.time_literal(node)
            case n.Name():
                return self.name(node)
            case n.Index():
                return self.index(node)
            case n.Unary(op="-" | "+" as op, operand=operand):
                return self.unary(op, self.value(operand), node)
            case n.Arithmetic():
                return self.arithmetic(node)
            case n.Call(name="array_length", args=(argument,)):
                target = self.value(argument)
                measured = target.value
                if not (isinstance(measured, b.JsonPath) or (isinstance(measured, b.FieldRef) and measured.element is not None)):
                    raise error_about(f"array_length() needs an ARRAY field or a JSON array, got {target.describe()}", target)
                length = b.ArrayLength(measured)
                return Typed(length, ValueType.INT, "integer", n.to_text(node), target.field)
        raise FilterError(f"the condition {quoted(node)} cannot be used as a value", position=node.position)

    def constant(self, node: n.Node) -> b.ConstValue:
        typed = self.value(node)
        if not isinstance(typed.value, b.Const):
            raise error_about(f"list items must be constants, got {typed.describe()}", typed)
        return typed.value.value

    def param(self, name: str) -> b.ConstValue:
        if name not in self.params:
            given = ", ".join(sorted(self.params)) or "none"
            raise FilterError(f"missing filter parameter {name!r} for {{{name}}}; params given: {given}", parameter=name)
        return _param_value(name, self.params[name])

    def name(self, node: n.Name) -> Typed:
        name = node.name
        dynamic = self.schema.enable_dynamic_field
        if name == DYNAMIC_FIELD_NAME or (dynamic and not self.schema.has_field(name)):
            if not dynamic:
                raise FilterError(f"{DYNAMIC_FIELD_NAME} is not available: the collection has no dynamic field", field=name)
            self.fields.add(DYNAMIC_FIELD_NAME)
            path: tuple[str, ...] = () if name == DYNAMIC_FIELD_NAME else (name,)
            label = name if name == DYNAMIC_FIELD_NAME else f"dynamic key {name!r}"
            return Typed(b.JsonPath(DYNAMIC_FIELD_NAME, path), ValueType.JSON, "JSON", label, DYNAMIC_FIELD_NAME)
        if not self.schema.has_field(name):
            known = ", ".join(f.name for f in self.schema.scalar_fields)
            raise FilterError(
                f"unknown field {name!r} in filter; fields: {known} (the dynamic field is off)",
                field=name,
                known=[f.name for f in self.schema.scalar_fields],
            )
        field = self.schema.field(name)
        if field.dtype.is_searchable:
            raise FilterError(
                f"field {name!r} ({field.dtype.name}) is a vector field and cannot be used in a filter", field=name
            )
        self.fields.add(name)
        label = f"field {name!r}"
        if field.dtype is DataType.JSON:
            return Typed(b.JsonPath(name, ()), ValueType.JSON, "JSON", label, name)
        if field.dtype is DataType.ARRAY and field.element_type is not None:
            ref = b.FieldRef(name, field.dtype, field.element_type)
            return Typed(ref, ValueType.ARRAY, f"ARRAY<{field.element_type.name}>", label, name)
        return Typed(b.FieldRef(name, field.dtype), SCALAR_TYPES[field.dtype], field.dtype.name, label, name)

    def index(self, node: n.Index) -> Typed:
        target = self.value(node.target)
        label = n.to_text(node)
        if isinstance(target.value, b.JsonPath):
            path = b.JsonPath(target.value.column, (*target.value.path, node.key))
            return Typed(path, ValueType.JSON, "JSON", label, target.field)
        if isinstance(target.value, b.FieldRef) and target.value.element is not None:
            if not isinstance(node.key, int):
                raise error_about(f"{target.describe()} needs an integer index, got [{json.dumps(node.key)}]", target)
            element = target.value.element
            item = b.ArrayElement(target.value.name, node.key, element)
            return Typed(item, SCALAR_TYPES[element], element.name, label, target.field)
        raise error_about(f"{target.describe()} cannot be indexed; only JSON and ARRAY fields can", target)

    def unary(self, op: str, operand: Typed, node: n.Node) -> Typed:
        check_numeric(operand, f"unary '{op}'")
        if op == "+" and operand.vtype is ValueType.JSON:
            # +j["a"] is a number: a JSON string under it becomes null, as in any arithmetic.
            return Typed(b.Arith("+", b.Const(0), operand.value), ValueType.FLOAT, "number", quoted(node), operand.field)
        if op == "+":
            return operand
        if isinstance(operand.value, b.Const) and isinstance(operand.value.value, int | float):
            return const(-operand.value.value, n.to_text(node))
        if operand.vtype is ValueType.JSON:  # -j["a"] is a number, never a JSON value (nor a condition)
            return Typed(b.Negate(operand.value), ValueType.FLOAT, "number", quoted(node), operand.field)
        return Typed(b.Negate(operand.value), operand.vtype, operand.type_name, quoted(node), operand.field)

    def time_literal(self, node: n.TimeLiteral) -> Typed:
        try:
            if node.kind == "ISO":
                return Typed(b.Const(to_micros(node.text, self.timezone, what="in the filter")), ValueType.TIME, "ISO instant", n.to_text(node))
            return Typed(b.Const(interval_micros(node.text)), ValueType.INTERVAL, "INTERVAL", n.to_text(node))
        except (DataError, InvalidArgumentError) as error:
            raise FilterError(f"{error} (at position {node.position})", position=node.position) from None

    def time_arithmetic(self, op: str, left: Typed, right: Typed, node: n.Arithmetic) -> Typed:
        """An instant plus or minus a duration is an instant; two durations add up. Nothing else mixes with them."""
        kinds = (left.vtype, right.vtype)
        if (op == "+" and kinds in ((ValueType.TIME, ValueType.INTERVAL), (ValueType.INTERVAL, ValueType.TIME))) or (op == "-" and kinds == (ValueType.TIME, ValueType.INTERVAL)):
            vtype = ValueType.TIME
        elif op in ("+", "-") and kinds == (ValueType.INTERVAL, ValueType.INTERVAL):
            vtype = ValueType.INTERVAL
        else:
            raise FilterError(
                f"cannot compute {left.describe()} {op} {right.describe()}: an instant takes + or - an INTERVAL '...'",
                field=left.field or right.field,
                position=node.position,
            )
        if isinstance(left.value, b.Const) and isinstance(right.value, b.Const):
            folded = fold_arithmetic(op, left.value.value, right.value.value, node)
            return Typed(b.Const(folded), vtype, vtype.value, n.to_text(node))
        return Typed(b.Arith(op, left.value, right.value), vtype, vtype.value, quoted(node), left.field or right.field)

    def arithmetic(self, node: n.Arithmetic) -> Typed:
        left, right = self.value(node.left), self.value(node.right)
        op = node.op
        if {left.vtype, right.vtype} & {ValueType.TIME, ValueType.INTERVAL}:
            return self.time_arithmetic(op, left, right, node)
        check_numeric(left, f"'{op}'")
        check_numeric(right, f"'{op}'")
        if isinstance(left.value, b.Const) and isinstance(right.value, b.Const):
            return const(fold_arithmetic(op, left.value.value, right.value.value, node), n.to_text(node))
        if op in ("/", "%") and isinstance(right.value, b.Const) and right.value.value == 0:
            raise FilterError(f"division by zero in {quoted(node)}", position=node.position)
        integer = left.vtype is ValueType.INT and right.vtype is ValueType.INT and op not in ("/", "**")
        vtype = ValueType.INT if integer else ValueType.FLOAT
        field = left.field or right.field
        return Typed(b.Arith(op, left.value, right.value), vtype, "number", quoted(node), field)


# -------------------------------------------------------------------- helpers


def _flatten(node: n.Logical, op: str) -> list[n.Node]:
    """The terms under ``node`` in order, nested nodes of the same operator opened: (a or b) or c."""
    terms: list[n.Node] = []
    stack: list[n.Node] = list(reversed(node.terms))
    while stack:
        term = stack.pop()
        if isinstance(term, n.Logical) and term.op == op:
            stack.extend(reversed(term.terms))
        else:
            terms.append(term)
    return terms


def _combine(op: str, terms: list[b.Predicate]) -> b.Predicate:
    """AND / OR the terms, folding constants (false decides an AND, true decides an OR)."""
    decisive = op == "or"
    kept: list[b.Predicate] = []
    for term in terms:
        if isinstance(term, b.Constant):
            if term.value == decisive:
                return b.Constant(decisive)
            continue
        kept.append(term)
    if not kept:
        return b.Constant(not decisive)
    if decisive:
        kept = _gather_equalities(kept)
    if len(kept) == 1:
        return kept[0]
    return b.AnyOf(tuple(kept)) if decisive else b.AllOf(tuple(kept))


def _gather_equalities(terms: list[b.Predicate]) -> list[b.Predicate]:
    """OR terms with ``f == v`` / ``f in [...]`` on one scalar field gathered into one ``f in [...]``.

    A generated filter ORs thousands of keys (``id == 0 or id == 1 or ...``):
    gathered, that is one set lookup per row instead of one comparison per
    term. The answer is the same, nulls included (a null row stays unknown);
    a field that appears in one term only keeps that term as written.
    """
    groups: dict[b.FieldRef, list[b.Predicate]] = {}
    for term in terms:
        ref = _equality_field(term)
        if ref is not None:
            groups.setdefault(ref, []).append(term)
    if all(len(group) < 2 for group in groups.values()):
        return terms
    gathered: list[b.Predicate] = []
    for term in terms:
        ref = _equality_field(term)
        if ref is None or len(groups[ref]) < 2:
            gathered.append(term)
        elif groups[ref][0] is term:
            values = tuple(value for member in groups[ref] for value in _equality_values(member))
            gathered.append(b.InValues(ref, values, False))
    return gathered


def _equality_field(term: b.Predicate) -> b.FieldRef | None:
    match term:
        case b.Compare(op="==", left=b.FieldRef(element=None) as ref, right=b.Const(value=value)) if not isinstance(value, tuple):
            return ref
        case b.Compare(op="==", left=b.Const(value=value), right=b.FieldRef(element=None) as ref) if not isinstance(value, tuple):
            return ref
        case b.InValues(operand=b.FieldRef(element=None) as ref, negated=False):
            return ref
    return None


def _equality_values(term: b.Predicate) -> tuple[b.ConstValue, ...]:
    match term:
        case b.Compare(left=b.Const(value=value)) | b.Compare(right=b.Const(value=value)):
            return (value,)
        case b.InValues(values=values):
            return values
    return ()


def _param_value(name: str, raw: object) -> b.ConstValue:
    if isinstance(raw, np.generic | np.ndarray):
        raw = raw.tolist()
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > MAX_INTEGER_BITS:
        raise FilterError(f"filter parameter {name!r} is an integer of over {MAX_INTEGER_BITS} bits", parameter=name)
    if isinstance(raw, bool | int | float | str):
        return raw
    if isinstance(raw, list | tuple):
        return tuple(_param_value(name, item) for item in raw)
    raise FilterError(
        f"filter parameter {name!r} is a {type(raw).__name__}; use a bool, int, float, str or a list of them",
        parameter=name,
    )


