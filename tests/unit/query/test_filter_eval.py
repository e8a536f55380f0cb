"""Evaluating filters on real Arrow tables, checked against plain Python over the same rows."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from embedb.query.filters import compile_filter
from embedb.schema import CollectionSchema

Row = dict[str, Any]
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def cmp(left: Any, op: str, right: Any) -> bool | None:
    """SQL-style comparison: unknown when either side is null."""
    if left is None or right is None:
        return None
    return OPS[op](left, right)


def f32(value: float | None) -> float | None:
    return None if value is None else float(np.float32(value))


def arith(function: Callable[..., Any], *values: Any) -> Any:
    return None if any(v is None for v in values) else function(*values)


def not_(value: bool | None) -> bool | None:
    return None if value is None else not value


def and_(*values: bool | None) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def or_(*values: bool | None) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def in_(value: Any, options: list[Any]) -> bool | None:
    return None if value is None else value in options


def element(values: list[Any] | None, index: int) -> Any:
    return values[index] if values is not None and len(values) > index else None


def matching_ids(expression: str, schema: CollectionSchema, table: pa.Table) -> list[int]:
    mask = compile_filter(expression, schema).evaluate(table)
    assert mask.dtype == np.bool_ and mask.shape == (table.num_rows,)
    return [int(i) for i in np.asarray(table.column("id"))[mask]]


# Each case: the expression, and the same condition in plain Python (None = unknown).
TYPED_CASES: list[tuple[str, Callable[[Row], bool | None]]] = [
    ("age > 30", lambda r: cmp(r["age"], ">", 30)),
    ("age >= 45", lambda r: cmp(r["age"], ">=", 45)),
    ("age < 30", lambda r: cmp(r["age"], "<", 30)),
    ("age <= 30", lambda r: cmp(r["age"], "<=", 30)),
    ("age == 0", lambda r: cmp(r["age"], "==", 0)),
    ("age != 0", lambda r: cmp(r["age"], "!=", 0)),
    ("30 < age", lambda r: cmp(r["age"], ">", 30)),
    ("age > 30.5", lambda r: cmp(r["age"], ">", 30.5)),
    ("small > 1000", lambda r: cmp(r["small"], ">", 1000)),
    ("small < 1000", lambda r: cmp(r["small"], "<", 1000)),
    ("small != 99999999999999999999", lambda r: cmp(r["small"], "!=", 99999999999999999999)),
    ("small >= -128", lambda r: cmp(r["small"], ">=", -128)),
    ("id < 100000000000000000000", lambda r: True),
    ("score <= 1.5", lambda r: cmp(r["score"], "<=", 1.5)),
    ("score == 100.25", lambda r: cmp(r["score"], "==", 100.25)),
    ("ratio == 0.1", lambda r: cmp(f32(r["ratio"]), "==", f32(0.1))),
    ("ratio > 1e29", lambda r: cmp(f32(r["ratio"]), ">", f32(1e29))),
    ("ratio < 1e300", lambda r: cmp(r["ratio"], "<", 1e300)),
    ("age == score", lambda r: cmp(r["age"], "==", r["score"])),
    ("age > small", lambda r: cmp(r["age"], ">", r["small"])),
    ("ratio < score", lambda r: cmp(f32(r["ratio"]), "<", r["score"])),
    ("name == 'bob'", lambda r: cmp(r["name"], "==", "bob")),
    ("name != 'bob'", lambda r: cmp(r["name"], "!=", "bob")),
    ("name < 'b'", lambda r: cmp(r["name"], "<", "b")),
    ("name >= 'al'", lambda r: cmp(r["name"], ">=", "al")),
    ("name == ''", lambda r: cmp(r["name"], "==", "")),
    ("flag", lambda r: r["flag"]),
    ("not flag", lambda r: not_(r["flag"])),
    ("flag == true", lambda r: cmp(r["flag"], "==", True)),
    ("flag != false", lambda r: cmp(r["flag"], "!=", False)),
    ("true", lambda r: True),
    ("FALSE", lambda r: False),
    ("1 < 2 and age > 40", lambda r: cmp(r["age"], ">", 40)),
    # in / not in (a few values compare one by one, more use a hash set)
    ("age in [30, 45]", lambda r: in_(r["age"], [30, 45])),
    ("age not in [30, 45]", lambda r: not_(in_(r["age"], [30, 45]))),
    ("age in [0, 1, 2, 3, 30, 61]", lambda r: in_(r["age"], [0, 1, 2, 3, 30, 61])),
    ("age not in [0, 1, 2, 3, 30, 61]", lambda r: not_(in_(r["age"], [0, 1, 2, 3, 30, 61]))),
    ("age in [30.0, 45.5]", lambda r: in_(r["age"], [30])),
    ("age in [30.0, 45.5, 1, 2, 3, 4, 5]", lambda r: in_(r["age"], [30, 1, 2, 3, 4, 5])),
    ("small in [127, 128, 100000]", lambda r: in_(r["small"], [127])),
    ("age in []", lambda r: in_(r["age"], [])),
    ("name not in []", lambda r: not_(in_(r["name"], []))),
    ("name in ['alice', '', 'x']", lambda r: in_(r["name"], ["alice", ""])),
    ("score in [1.5, 100.25]", lambda r: in_(r["score"], [1.5, 100.25])),
    ("ratio in [0.1, 0.5]", lambda r: in_(f32(r["ratio"]), [f32(0.1), 0.5])),
    ("ratio in [0.1, 0.5, 7, 8, 9, 10]", lambda r: in_(f32(r["ratio"]), [f32(0.1), 0.5])),
    ("flag in [true]", lambda r: in_(r["flag"], [True])),
    # like
    ("name like 'al%'", lambda r: arith(lambda n: n.startswith("al"), r["name"])),
    ("name like '%o%'", lambda r: arith(lambda n: "o" in n, r["name"])),
    ("name like '_ob'", lambda r: arith(lambda n: len(n) == 3 and n.endswith("ob"), r["name"])),
    ("name like 'al\\%ce'", lambda r: cmp(r["name"], "==", "al%ce")),
    ("name like ''", lambda r: cmp(r["name"], "==", "")),
    ("name like '%'", lambda r: arith(lambda n: True, r["name"])),
    ("name like 'Á%'", lambda r: arith(lambda n: n.startswith("Á"), r["name"])),
    ("not (name like 'a%')", lambda r: not_(arith(lambda n: n.startswith("a"), r["name"]))),
    # null checks
    ("age is null", lambda r: r["age"] is None),
    ("age is not null", lambda r: r["age"] is not None),
    ("name IS NULL", lambda r: r["name"] is None),
    ("tags is null", lambda r: r["tags"] is None),
    ("meta is not null", lambda r: r["meta"] is not None),
    ("tags[2] is null", lambda r: element(r["tags"], 2) is None),
    # Kleene logic: unknown and false is false, unknown or true is true
    ("age > 30 or flag", lambda r: or_(cmp(r["age"], ">", 30), r["flag"])),
    ("age > 30 and flag", lambda r: and_(cmp(r["age"], ">", 30), r["flag"])),
    # Milvus's ranges: a chained comparison is the 'and' of its links
    ("20 < age <= 40", lambda r: and_(cmp(20, "<", r["age"]), cmp(r["age"], "<=", 40))),
    ("50 >= age + 5 > small", lambda r: and_(cmp(50, ">=", arith(lambda a: a + 5, r["age"])), cmp(arith(lambda a: a + 5, r["age"]), ">", r["small"]))),
    ("0 < small < age < 45", lambda r: and_(cmp(0, "<", r["small"]), cmp(r["small"], "<", r["age"]), cmp(r["age"], "<", 45))),
    ("not (age > 30 and flag)", lambda r: not_(and_(cmp(r["age"], ">", 30), r["flag"]))),
    ("not (age > 100 or flag)", lambda r: not_(or_(cmp(r["age"], ">", 100), r["flag"]))),
    ("age > 30 and not flag || name == 'al%ce'",
     lambda r: or_(and_(cmp(r["age"], ">", 30), not_(r["flag"])), cmp(r["name"], "==", "al%ce"))),
    ("!(age < 10) && (score > 0 || small < 0)",
     lambda r: and_(not_(cmp(r["age"], "<", 10)), or_(cmp(r["score"], ">", 0), cmp(r["small"], "<", 0)))),
    # arithmetic (Python semantics: true division, floor modulo)
    ("age + 1 > 31", lambda r: cmp(arith(lambda a: a + 1, r["age"]), ">", 31)),
    ("age - small == 25", lambda r: cmp(arith(operator.sub, r["age"], r["small"]), "==", 25)),
    ("age * 2 >= 90", lambda r: cmp(arith(lambda a: a * 2, r["age"]), ">=", 90)),
    ("age / 2 == 15", lambda r: cmp(arith(lambda a: a / 2, r["age"]), "==", 15)),
    ("age / 4 == 7.5", lambda r: cmp(arith(lambda a: a / 4, r["age"]), "==", 7.5)),
    ("age % 7 == 2", lambda r: cmp(arith(lambda a: a % 7, r["age"]), "==", 2)),
    ("small % 3 == 1", lambda r: cmp(arith(lambda a: a % 3, r["small"]), "==", 1)),
    ("-age < -40", lambda r: cmp(arith(operator.neg, r["age"]), "<", -40)),
    ("-(age - 50) > 0", lambda r: cmp(arith(lambda a: 50 - a, r["age"]), ">", 0)),
    ("age ** 2 > 1000", lambda r: cmp(arith(lambda a: a**2, r["age"]), ">", 1000)),
    ("2 ** small == 32", lambda r: cmp(arith(lambda s: 2.0**s, r["small"]), "==", 32)),
    ("score * 2 == 3.0", lambda r: cmp(arith(lambda s: s * 2, r["score"]), "==", 3.0)),
    ("small + 200 > 300", lambda r: cmp(arith(lambda s: s + 200, r["small"]), ">", 300)),
    ("small * small > 16000", lambda r: cmp(arith(lambda s: s * s, r["small"]), ">", 16000)),
    ("age / small > 5", lambda r: cmp(arith(lambda a, s: a / s if s else None, r["age"], r["small"]), ">", 5)),
    ("age % small == 0", lambda r: cmp(arith(lambda a, s: a % s if s else None, r["age"], r["small"]), "==", 0)),
    ("id * 9223372036854775807 > 0", lambda r: True),
    ("ratio * 10 > 1.0", lambda r: cmp(arith(lambda x: x * 10, f32(r["ratio"])), ">", 1.0)),
    ("age + score > 45", lambda r: cmp(arith(operator.add, r["age"], r["score"]), ">", 45)),
    # ARRAY fields
    ("array_contains(tags, 2)", lambda r: in_(2, r["tags"]) if r["tags"] is not None else None),
    ("ARRAY_CONTAINS(tags, 2.0)", lambda r: in_(2, r["tags"]) if r["tags"] is not None else None),
    ("array_contains(tags, 2.5)", lambda r: False if r["tags"] is not None else None),
    ("not array_contains(tags, 2)", lambda r: not_(2 in r["tags"]) if r["tags"] is not None else None),
    ("array_contains_all(tags, [2, 3])", lambda r: arith(lambda t: {2, 3} <= set(t), r["tags"])),
    ("array_contains_all(tags, [2, 2])", lambda r: arith(lambda t: 2 in t, r["tags"])),
    ("array_contains_all(tags, [])", lambda r: arith(lambda t: True, r["tags"])),
    ("array_contains_any(tags, [3, 5])", lambda r: arith(lambda t: bool({3, 5} & set(t)), r["tags"])),
    ("array_contains_any(tags, [1, 3, 5, 7, 11, 13])", lambda r: arith(lambda t: bool({1, 3, 5, 7} & set(t)), r["tags"])),
    ("array_contains_any(tags, [])", lambda r: arith(lambda t: False, r["tags"])),
    ("json_contains(tags, 5)", lambda r: arith(lambda t: 5 in t, r["tags"])),
    ("array_contains(words, 'red')", lambda r: arith(lambda w: "red" in w, r["words"])),
    ("array_contains(weights, 0.1)", lambda r: arith(lambda w: f32(0.1) in [f32(x) for x in w], r["weights"])),
    ("array_length(tags) == 0", lambda r: cmp(arith(len, r["tags"]), "==", 0)),
    ("array_length(tags) > 2", lambda r: cmp(arith(len, r["tags"]), ">", 2)),
    ("array_length(words) + array_length(tags) == 2", lambda r: cmp(arith(lambda w, t: len(w) + len(t), r["words"], r["tags"]), "==", 2)),
    ("tags[0] == 1", lambda r: cmp(element(r["tags"], 0), "==", 1)),
    ("tags[1] > 1", lambda r: cmp(element(r["tags"], 1), ">", 1)),
    ("tags[3] == 10", lambda r: cmp(element(r["tags"], 3), "==", 10)),
    ("tags[0] + tags[1] == 4", lambda r: cmp(arith(operator.add, element(r["tags"], 0), element(r["tags"], 1)), "==", 4)),
    ("words[0] like 'r%'", lambda r: arith(lambda w: w.startswith("r"), element(r["words"], 0))),
    ("weights[1] == 0.1", lambda r: cmp(f32(element(r["weights"], 1)), "==", f32(0.1))),
    ("tags == [2, 2]", lambda r: cmp(r["tags"], "==", [2, 2])),
    ("tags != [2, 2]", lambda r: cmp(r["tags"], "!=", [2, 2])),
    ("tags == []", lambda r: cmp(r["tags"], "==", [])),
    ("[1, 2, 3] == tags", lambda r: cmp(r["tags"], "==", [1, 2, 3])),
    ("words == ['red', 'green']", lambda r: cmp(r["words"], "==", ["red", "green"])),
]


@pytest.mark.parametrize(("expression", "python"), TYPED_CASES, ids=[case[0] for case in TYPED_CASES])
def test_typed_fields_match_plain_python(
    dynamic_schema: CollectionSchema,
    rows_table: pa.Table,
    rows: list[Row],
    expression: str,
    python: Callable[[Row], bool | None],
) -> None:
    expected = [row["id"] for row in rows if python(row) is True]
    assert matching_ids(expression, dynamic_schema, rows_table) == expected


# JSON follows JSON types: "1" is not 1, true is not 1, missing or null never matches.
# Row 6's meta is the array [1, 2]; row 2's meta and $meta are null; row 4's $meta is {}.
JSON_CASES: list[tuple[str, list[int]]] = [
    ("meta['a'] == 1", [1]),
    ("meta['a'] == '1'", [3]),
    ("meta['a'] != 1", [3, 5]),
    ("meta['a'] > 1", [5]),
    ("meta['a'] >= 1", [1, 5]),
    ("meta['a'] < 'z'", [3]),
    ("not (meta['a'] == 1)", [3, 5]),
    ("meta['a'] in [1, '1']", [1, 3]),
    ("meta['a'] not in [1]", [3, 5]),
    ("meta['a'] is null", [2, 4, 6]),
    ("meta['a'] is not null", [1, 3, 5]),
    ("exists meta['a']", [1, 3, 4, 5]),
    ("exists meta", [1, 3, 4, 5, 6]),
    ("meta['s'] like 'x%'", [1, 5]),
    ("meta['s'] like '%\\%'", [4]),
    ("meta['o']['b'] == true", [1]),
    ("meta['o']['b']", [1]),
    ("meta['o']['b'] == 1", [3]),
    ("meta['o'] == meta['o']", [1, 3]),
    ("meta['arr'] == meta['arr']", [1, 3, 4, 5]),
    ("meta['arr'] != meta['o']", [1, 3]),
    ("meta['arr'][0] == 1", [1]),
    ("meta['arr'][1][0] == 1", [5]),
    ("meta[0] == 1", [6]),
    ("meta == [1, 2]", [6]),
    ("meta['arr'] == [1, 2, 3]", [1]),
    ("meta['arr'] != [1, 2, 3]", [3, 4, 5]),
    ("json_contains(meta['arr'], 2)", [1, 5]),
    ("json_contains(meta['arr'], '1')", [3]),
    ("json_contains(meta['arr'], [1])", [5]),
    ("array_contains(meta, 2)", [6]),
    ("json_contains_all(meta['arr'], [1, 3])", [1]),
    ("json_contains_all(meta['arr'], [])", [1, 3, 4, 5]),
    ("json_contains_any(meta['arr'], [3, '1'])", [1, 3]),
    ("array_length(meta['arr']) == 0", [4]),
    ("array_length(meta['arr']) >= 2", [1, 5]),
    ("meta['a'] + 1 > 2", [5]),
    ("not (meta['a'] >= 1)", [3]),  # "1" is a string: definitely not >= 1
    ("not (+meta['a'] >= 1)", []),  # arithmetic on a string is unknown
    ("meta['a'] * 2 == age - 28", [1]),
    ("-meta['a'] < 0", [1, 5]),
    ("meta['a'] == small - 4", [1]),
    ("meta['a'] != small - 4", [3, 5]),
    ("meta['s'] == name", []),
    ("meta['s'] != name", [1, 4, 5]),
    # dynamic keys
    ("color == 'red'", [1, 6]),
    ("$meta['color'] == 'red'", [1, 6]),
    ("color != 'red'", [3, 5]),
    ("color == 5", [5]),
    ("not (color == 'red')", [3, 5]),
    ("color in ['red', 5]", [1, 5, 6]),
    ("color like 'r%'", [1, 6]),
    ("n > 3", [3]),
    ("n == 3", [1]),
    ("n == true", [5]),
    ("n + 1 == 4", [1]),
    ("n * 2 > age / 10", [1, 3]),
    ("exists list", [3, 6]),
    ("json_contains(list, 'a')", [3]),
    ("array_length(list) == 0", [6]),
    ("list == [1, 'a']", [3]),
    ("nothing == 1 or nothing is null", [1, 2, 3, 4, 5, 6]),
    ("$meta['n'] is not null and color == 'red'", [1]),
]


@pytest.mark.parametrize(("expression", "ids"), JSON_CASES, ids=[case[0] for case in JSON_CASES])
def test_json_paths_follow_json_types(
    dynamic_schema: CollectionSchema, rows_table: pa.Table, expression: str, ids: list[int]
) -> None:
    assert matching_ids(expression, dynamic_schema, rows_table) == ids
