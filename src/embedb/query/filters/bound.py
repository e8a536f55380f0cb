"""The bound filter: a syntax tree checked against a schema, ready to evaluate.

Binding resolves names to columns, fills template parameters, folds constant
sub-expressions and checks types, so every node here is known to make sense.
Values (``Value``) produce one value per row; predicates (``Predicate``)
produce one three-valued truth per row (true, false or unknown).

Constants hold plain Python values; a list constant is a tuple.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as Choice
from typing import TypeAlias

from embedb.schema import DataType

ConstValue: TypeAlias = "bool | int | float | str | tuple[ConstValue, ...]"
PathKey: TypeAlias = str | int

# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Const:
    value: ConstValue


@dataclass(frozen=True)
class FieldRef:
    """A scalar column of the table, named by its field."""

    name: str
    dtype: DataType
    element: DataType | None = None  # for ARRAY fields


@dataclass(frozen=True)
class JsonPath:
    """A value inside the JSON text of ``column`` (a JSON field or ``$meta``); missing -> null."""

    column: str
    path: tuple[PathKey, ...]


@dataclass(frozen=True)
class ArrayElement:
    """``field[index]`` of an ARRAY field; null when the array is shorter."""

    field: str
    index: int
    element: DataType


@dataclass(frozen=True)
class ArrayLength:
    operand: FieldRef | JsonPath


@dataclass(frozen=True)
class Arith:
    op: str  # "+", "-", "*", "/", "%", "**"
    left: Value
    right: Value


@dataclass(frozen=True)
class Negate:
    operand: Value


Value: TypeAlias = Const | FieldRef | JsonPath | ArrayElement | ArrayLength | Arith | Negate

# ------------------------------------------------------------ predicates


@dataclass(frozen=True)
class Compare:
    op: str  # "==", "!=", "<", "<=", ">", ">="
    left: Value
    right: Value


@dataclass(frozen=True)
class InValues:
    operand: Value
    values: tuple[ConstValue, ...]
    negated: bool


@dataclass(frozen=True)
class LikeMatch:
    operand: Value
    pattern: str  # SQL LIKE: % any run, _ one character, backslash escapes


@dataclass(frozen=True)
class NullCheck:
    operand: Value
    negated: bool  # True for "is not null"


@dataclass(frozen=True)
class KeyExists:
    operand: JsonPath


@dataclass(frozen=True)
class Contains:
    """array_contains / _all / _any (and json_contains*) on an ARRAY field or a JSON array."""

    operand: FieldRef | JsonPath
    values: tuple[ConstValue, ...]  # one value for mode "one"
    mode: Choice["one", "all", "any"]


@dataclass(frozen=True)
class TextMatch:
    """TEXT_MATCH (any of ``tokens``) or PHRASE_MATCH (``tokens`` in order, ``slop`` other tokens between at most)."""

    field: str
    analyzer_params: str  # the field's analyzer parameters as JSON text (hashable)
    tokens: tuple[str, ...]
    phrase: bool
    slop: int = 0


@dataclass(frozen=True)
class Truth:
    """A BOOL value used as a condition (a BOOL field, ``flags[0]``, a JSON path)."""

    operand: Value


@dataclass(frozen=True)
class Constant:
    value: bool


@dataclass(frozen=True)
class AllOf:
    terms: tuple[Predicate, ...]


@dataclass(frozen=True)
class AnyOf:
    terms: tuple[Predicate, ...]


@dataclass(frozen=True)
class Negation:
    operand: Predicate


Predicate: TypeAlias = (
    Compare | InValues | LikeMatch | NullCheck | KeyExists | Contains | TextMatch | Truth | Constant | AllOf | AnyOf | Negation
)
