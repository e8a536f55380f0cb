"""Random filters over random rows: the Arrow evaluator against a slow row-by-row Python model.

The model below shares no code with ``embedb.query.filters``: it walks its own
expression tree (the same tree is rendered to filter text for
``compile_filter``) with three-valued logic and JSON typing written out again.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from embedb.errors import FilterError
from embedb.query.filters import compile_filter
from embedb.schema import CollectionSchema, DataType, FieldSchema

SCHEMA = CollectionSchema(
    fields=(
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("a", DataType.INT32, nullable=True),
        FieldSchema("b", DataType.INT64),
        FieldSchema("x", DataType.DOUBLE, nullable=True),
        FieldSchema("s", DataType.VARCHAR, max_length=8, nullable=True),
        FieldSchema("t", DataType.BOOL, nullable=True),
        FieldSchema("arr", DataType.ARRAY, element_type=DataType.INT64, max_capacity=4, nullable=True),
        FieldSchema("j", DataType.JSON, nullable=True),
        FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
    ),
    enable_dynamic_field=True,
).validate()

MISSING: Any = object()
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
Node = tuple[Any, ...]

# ------------------------------------------------------------------ rows

small_ints = st.integers(-6, 6)
strings = st.sampled_from(["", "a", "ab", "b", "ba", "a%", "a_b", "é"])
doubles = st.sampled_from([-1.5, 0.0, 0.5, 2.0, 3.25])
json_scalars = st.one_of(st.none(), small_ints, strings, st.booleans(), doubles)
json_docs = st.one_of(
    st.none(),
    st.lists(small_ints, max_size=3),
    st.fixed_dictionaries({}, optional={"k": json_scalars, "l": st.lists(small_ints | strings, max_size=3)}),
)
row_strategy = st.fixed_dictionaries(
    {
        "a": st.none() | small_ints,
        "b": small_ints,
        "x": st.none() | doubles,
        "s": st.none() | strings,
        "t": st.none() | st.booleans(),
        "arr": st.none() | st.lists(small_ints, max_size=4),
        "j": json_docs,
        "$meta": st.none() | st.fixed_dictionaries({}, optional={"d": json_scalars}),
    }
)


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    columns: dict[str, Any] = {"id": pa.array(range(len(rows)), pa.int64())}
    for field in SCHEMA.scalar_fields[1:]:
        values = [row[field.name] for row in rows]
        if field.dtype is DataType.JSON:
            values = [None if v is None else json.dumps(v) for v in values]
        columns[field.name] = pa.array(values, field.arrow_type)
    columns["$meta"] = pa.array([None if r["$meta"] is None else json.dumps(r["$meta"]) for r in rows], pa.string())
    return pa.table(columns)


# ----------------------------------------------------------- expressions

json_paths = st.sampled_from([("json", "k"), ("json", "d"), ("json", "$d")])
numeric_leaves = st.one_of(
    st.tuples(st.just("field"), st.sampled_from(["a", "b", "x"])),
    st.tuples(st.just("lit"), small_ints | doubles),
    json_paths,
    st.just(("alen",)),
    st.tuples(st.just("elem"), st.integers(0, 2)),
)


def _numeric_compounds(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    return st.one_of(
        st.tuples(st.just("arith"), st.sampled_from(["+", "-", "*", "/", "%"]), children, children),
        st.tuples(st.just("arith"), st.just("**"), children, st.tuples(st.just("lit"), st.integers(0, 2))),
        st.tuples(st.just("neg"), children),
    )


numeric = st.recursive(numeric_leaves, _numeric_compounds, max_leaves=4)
compare_ops = st.sampled_from(list(OPS))
mixed_items = st.lists(small_ints | strings | st.booleans(), max_size=6)
leaf_predicates = st.one_of(
    st.tuples(st.just("cmp"), compare_ops, numeric, numeric),
    st.tuples(st.just("cmp"), compare_ops, st.sampled_from([("field", "s"), ("json", "k"), ("json", "d")]),
              st.tuples(st.just("lit"), strings)),
    st.tuples(st.just("cmp"), st.sampled_from(["==", "!="]), st.sampled_from([("field", "t"), ("json", "k")]),
              st.tuples(st.just("lit"), st.booleans())),
    st.tuples(st.just("in"), numeric, st.lists(small_ints | doubles, max_size=6), st.booleans()),
    st.tuples(st.just("in"), st.just(("field", "s")), st.lists(strings, max_size=6), st.booleans()),
    st.tuples(st.just("in"), json_paths, mixed_items, st.booleans()),
    st.tuples(st.just("like"), st.sampled_from([("field", "s"), ("json", "k"), ("json", "$d")]),
              st.sampled_from(["a%", "%a", "%", "_", "a_", "%b%", "", "a\\%", "é%"])),
    st.tuples(st.just("isnull"), st.sampled_from([("field", "a"), ("field", "s"), ("field", "arr"), ("json", "k"),
                                                   ("json", "d"), ("json", ""), ("elem", 1)]), st.booleans()),
    st.tuples(st.just("exists"), st.sampled_from([("json", "k"), ("json", "d"), ("json", "l"), ("json", "")])),
    st.tuples(st.just("truth"), st.sampled_from([("field", "t"), ("json", "k"), ("json", "d")])),
    st.tuples(st.just("contains"), st.sampled_from(["one", "all", "any"]), st.just(("field", "arr")),
              st.lists(small_ints, min_size=1, max_size=3)),
    st.tuples(st.just("contains"), st.sampled_from(["one", "all", "any"]), st.sampled_from([("json", "l"), ("json", "")]),
              st.lists(small_ints | strings, min_size=1, max_size=3)),
    st.tuples(st.just("arreq"), st.sampled_from(["==", "!="]), st.lists(small_ints, max_size=3)),
)
predicates = st.recursive(
    leaf_predicates,
    lambda children: st.one_of(
        st.tuples(st.just("not"), st.sampled_from(["not ", "NOT ", "!"]), children),
        st.tuples(st.just("and"), st.sampled_from(["and", "AND", "&&"]), children, children),
        st.tuples(st.just("or"), st.sampled_from(["or", "Or", "||"]), children, children),
    ),
    max_leaves=6,
)


def render(node: Node) -> str:
    kind = node[0]
    if kind == "field":
        return node[1]
    if kind == "lit":
        value = node[1]
        if isinstance(value, str | bool):
            return json.dumps(value, ensure_ascii=False)
        return f"({value!r})" if value < 0 else repr(value)  # -2 ** 2 would read as -(2 ** 2)
    if kind == "json":
        return {"k": 'j["k"]', "l": "j['l']", "": "j", "d": "d", "$d": '$meta["d"]'}[node[1]]
    if kind == "alen":
        return "array_length(arr)"
    if kind == "elem":
        return f"arr[{node[1]}]"
    if kind == "arith":
        return f"({render(node[2])} {node[1]} {render(node[3])})"
    if kind == "neg":
        return f"(-({render(node[1])}))"
    if kind == "cmp":
        return f"{render(node[2])} {node[1]} {render(node[3])}"
    if kind == "in":
        items = ", ".join(render(("lit", item)) for item in node[2])
        return f"{render(node[1])} {'not in' if node[3] else 'in'} [{items}]"
    if kind == "like":
        return f"{render(node[1])} like {json.dumps(node[2], ensure_ascii=False)}"
    if kind == "isnull":
        return f"{render(node[1])} is {'not null' if node[2] else 'null'}"
    if kind == "exists":
        return f"exists {render(node[1])}"
    if kind == "truth":
        return render(node[1])
    if kind == "contains":
        name = {"one": "array_contains", "all": "array_contains_all", "any": "json_contains_any"}[node[1]]
        rendered = [render(("lit", item)) for item in node[3]]
        argument = rendered[0] if node[1] == "one" else "[" + ", ".join(rendered) + "]"
        return f"{name}({render(node[2])}, {argument})"
    if kind == "arreq":
        return f"arr {node[1]} [{', '.join(map(str, node[2]))}]"
    if kind == "not":
        return f"{node[1]}({render(node[2])})"
    return f"({render(node[2])}) {node[1]} ({render(node[3])})"  # and / or


# ---------------------------------------------------------------- model


def json_kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "null"
    for kind, types in (("bool", bool), ("number", (int, float)), ("string", str), ("array", list)):
        if isinstance(value, types):
            return kind
    return "object"


def json_eq(left: Any, right: Any) -> bool:
    if json_kind(left) != json_kind(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(json_eq(p, q) for p, q in zip(left, right, strict=True))
    return bool(left == right)


def json_cmp(op: str, left: Any, right: Any) -> bool | None:
    if "null" in (json_kind(left), json_kind(right)):
        return None
    if json_kind(left) != json_kind(right):
        return op == "!="
    if json_kind(left) in ("number", "string"):
        return OPS[op](left, right)
    return json_eq(left, right) == (op == "==") if op in ("==", "!=") else False


def is_json(node: Node) -> bool:
    return node[0] == "json"


def value(node: Node, row: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "field":
        return row[node[1]]
    if kind == "lit":
        return node[1]
    if kind == "json":
        key = node[1].lstrip("$")
        document = row["$meta"] if key == "d" else row["j"]
        if key == "":
            return MISSING if document is None else document
        return document[key] if isinstance(document, dict) and key in document else MISSING
    if kind == "alen":
        return None if row["arr"] is None else len(row["arr"])
    if kind == "elem":
        items = row["arr"]
        return items[node[1]] if items is not None and len(items) > node[1] else None
    if kind == "neg":
        operand = number(node[1], row)
        return None if operand is None else -operand
    left, right = number(node[2], row), number(node[3], row)  # arith
    if left is None or right is None or (node[1] in "/%" and right == 0):
        return None
    functions = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}
    return float(left) ** float(right) if node[1] == "**" else functions[node[1]](left, right)


def number(node: Node, row: dict[str, Any]) -> Any:
    result = value(node, row)
    return result if json_kind(result) == "number" else None


def truth(node: Node, row: dict[str, Any]) -> bool | None:
    kind = node[0]
    if kind == "not":
        inner = truth(node[2], row)
        return None if inner is None else not inner
    if kind in ("and", "or"):
        left, right = truth(node[2], row), truth(node[3], row)
        decisive = kind == "or"
        if decisive in (left, right):
            return decisive
        return None if None in (left, right) else not decisive
    if kind == "cmp":
        left, right = value(node[2], row), value(node[3], row)
        if is_json(node[2]) or is_json(node[3]):
            return json_cmp(node[1], left, right)
        return None if left is None or right is None else OPS[node[1]](left, right)
    if kind == "in":
        subject = value(node[1], row)
        if json_kind(subject) == "null":
            return None
        found = any(json_eq(subject, item) for item in node[2]) if is_json(node[1]) else subject in node[2]
        return found != node[3]
    if kind == "like":
        subject = value(node[1], row)
        if json_kind(subject) != "string":
            return None if json_kind(subject) == "null" else False
        pattern = "".join(
            ".*" if part == "%" else "." if part == "_" else re.escape(part[-1]) for part in re.findall(r"\\.|.", node[2], re.S)
        )
        return re.fullmatch(pattern, subject, re.S) is not None
    if kind == "isnull":
        return (json_kind(value(node[1], row)) == "null") != node[2]
    if kind == "exists":
        return value(node[1], row) is not MISSING
    if kind == "truth":
        subject = value(node[1], row)
        return None if json_kind(subject) == "null" else subject is True
    if kind == "contains":
        items = value(node[2], row)
        if json_kind(items) == "null":
            return None
        if not isinstance(items, list):
            return False
        wanted = node[3][:1] if node[1] == "one" else node[3]
        hits = [any(json_eq(element, w) for element in items) for w in wanted]
        return all(hits) if node[1] == "all" else any(hits)
    if kind == "arreq":
        items = row["arr"]
        return None if items is None else (items == node[2]) == (node[1] == "==")
    raise AssertionError(f"unknown node {node!r}")


# ------------------------------------------------------------------ test


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row_strategy, max_size=12), tree=predicates, filler=row_strategy)
def test_vectorised_evaluation_matches_the_row_model(rows: list[dict[str, Any]], tree: Node, filler: dict[str, Any]) -> None:
    expression = render(tree)
    try:
        compiled = compile_filter(expression, SCHEMA)
    except FilterError as error:
        # Only a constant divisor of zero is refused at compile time.
        assume("division by zero" not in error.message)
        raise
    expected = [truth(tree, row) is True for row in rows]
    mask = compiled.evaluate(to_table(rows))
    assert mask.dtype == np.bool_
    assert mask.tolist() == expected, expression
    # The same rows as a slice in two chunks: offsets no longer start at zero.
    shifted = to_table([filler, *rows]).slice(1)
    rechunked = pa.Table.from_batches(shifted.to_batches(max_chunksize=5) or shifted.to_batches(), schema=shifted.schema)
    assert compiled.evaluate(rechunked).tolist() == expected, expression
