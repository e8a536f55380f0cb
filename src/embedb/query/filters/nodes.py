"""The syntax tree the parser builds: immutable nodes, not yet checked against a schema.

Every node keeps the 0-based ``position`` of the token it starts from (for a
binary operator, the operator), so that later errors can point into the text.
``to_text`` prints a node back fully parenthesised, which is how the tests read
precedence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeAlias

Scalar: TypeAlias = bool | int | float | str


@dataclass(frozen=True)
class Literal:
    value: Scalar
    position: int


@dataclass(frozen=True)
class ListLiteral:
    items: tuple[Node, ...]
    position: int


@dataclass(frozen=True)
class Param:
    """A template placeholder ``{name}``, filled from ``params`` when the filter is bound."""

    name: str
    position: int


@dataclass(frozen=True)
class TimeLiteral:
    """``ISO '2025-01-01T00:00:00Z'`` (an instant) or ``INTERVAL 'P1D'`` (a duration), as Milvus writes them."""

    kind: str  # "ISO" or "INTERVAL"
    text: str
    position: int


@dataclass(frozen=True)
class Name:
    """A bare name: a schema field, ``$meta``, or a key of the dynamic field."""

    name: str
    position: int


@dataclass(frozen=True)
class Index:
    """``target[key]``: a JSON key or position, or an ARRAY element."""

    target: Node
    key: str | int
    position: int


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "+" or "not"
    operand: Node
    position: int


@dataclass(frozen=True)
class Arithmetic:
    op: str  # "+", "-", "*", "/", "%", "**"
    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Comparison:
    op: str  # "==", "!=", "<", "<=", ">", ">="
    left: Node
    right: Node
    position: int


@dataclass(frozen=True)
class Logical:
    """``and`` / ``or`` over two or more terms: a chain ``a or b or c`` is one node, however long."""

    op: str  # "and" or "or"
    terms: tuple[Node, ...]
    position: int  # the first operator


@dataclass(frozen=True)
class InList:
    operand: Node
    values: Node
    negated: bool
    position: int


@dataclass(frozen=True)
class Like:
    operand: Node
    pattern: Node
    position: int


@dataclass(frozen=True)
class IsNull:
    operand: Node
    negated: bool
    position: int


@dataclass(frozen=True)
class Exists:
    operand: Node
    position: int


@dataclass(frozen=True)
class Call:
    name: str  # lower case, one of FUNCTIONS
    args: tuple[Node, ...]
    position: int


Node: TypeAlias = (
    Literal | ListLiteral | Param | TimeLiteral | Name | Index | Unary | Arithmetic | Comparison | Logical | InList | Like | IsNull | Exists | Call
)

# Function name -> number of arguments.
FUNCTIONS: dict[str, int] = {
    "array_contains": 2,
    "array_contains_all": 2,
    "array_contains_any": 2,
    "array_length": 1,
    "json_contains": 2,
    "json_contains_all": 2,
    "json_contains_any": 2,
    "text_match": 2,  # TEXT_MATCH(field, 'words'): any of the words, as the field's analyzer reads them
    "phrase_match": 3,  # PHRASE_MATCH(field, 'words in order'[, slop])
}
# Functions whose last argument may be left out.
OPTIONAL_LAST_ARGUMENT = frozenset({"phrase_match"})


def to_text(node: Node) -> str:
    """Print ``node`` back as filter text, with every operation in parentheses."""
    match node:
        case Literal(value=bool() as flag):
            return "true" if flag else "false"
        case Literal(value=str() as text):
            return json.dumps(text, ensure_ascii=False)
        case Literal(value=value):
            return repr(value)
        case ListLiteral(items=items):
            return "[" + ", ".join(to_text(item) for item in items) + "]"
        case Param(name=name):
            return "{" + name + "}"
        case TimeLiteral(kind=kind, text=text):
            return f"{kind} {json.dumps(text, ensure_ascii=False)}"
        case Name(name=name):
            return name
        case Index(target=target, key=key):
            return f"{to_text(target)}[{json.dumps(key, ensure_ascii=False)}]"
        case Unary(op="not", operand=operand):
            return f"(not {to_text(operand)})"
        case Unary(op=op, operand=operand):
            return f"({op}{to_text(operand)})"
        case Arithmetic(op=op, left=left, right=right) | Comparison(op=op, left=left, right=right):
            return f"({to_text(left)} {op} {to_text(right)})"
        case Logical(op=op, terms=terms):
            return "(" + f" {op} ".join(to_text(term) for term in terms) + ")"
        case InList(operand=operand, values=values, negated=negated):
            return f"({to_text(operand)} {'not in' if negated else 'in'} {to_text(values)})"
        case Like(operand=operand, pattern=pattern):
            return f"({to_text(operand)} like {to_text(pattern)})"
        case IsNull(operand=operand, negated=negated):
            return f"({to_text(operand)} is {'not null' if negated else 'null'})"
        case Exists(operand=operand):
            return f"(exists {to_text(operand)})"
        case Call(name=name, args=args):
            return f"{name}({', '.join(to_text(arg) for arg in args)})"
    raise TypeError(f"not a filter node: {node!r}")


def children(node: Node) -> tuple[Node, ...]:
    """The nodes directly under ``node``, left to right."""
    match node:
        case ListLiteral(items=items):
            return items
        case Index(target=target):
            return (target,)
        case Unary(operand=operand) | IsNull(operand=operand) | Exists(operand=operand):
            return (operand,)
        case Arithmetic(left=left, right=right) | Comparison(left=left, right=right):
            return (left, right)
        case Logical(terms=terms):
            return terms
        case InList(operand=operand, values=values):
            return (operand, values)
        case Like(operand=operand, pattern=pattern):
            return (operand, pattern)
        case Call(args=args):
            return args
    return ()


def first_too_deep(node: Node, limit: int) -> Node | None:
    """The first node found ``limit`` levels below ``node`` (``node`` is level 1), or None.

    Walks with a stack of its own, so a tree of any depth is measured without recursion.
    """
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        if level > limit:
            return current
        stack.extend((child, level + 1) for child in children(current))
    return None
