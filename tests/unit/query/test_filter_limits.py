"""Filters at the edges: chains of any length, nesting up to a limit, huge numbers, text that is not UTF-8."""

from __future__ import annotations

import pyarrow as pa
import pytest

from embedb.errors import FilterError, FilterSyntaxError
from embedb.query.filters import MAX_FILTER_DEPTH, compile_filter
from embedb.query.filters.nodes import Logical, to_text
from embedb.query.filters.parser import parse
from embedb.schema import CollectionSchema


def test_a_10000_term_or_chain_is_one_node_and_works(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    chain = " or ".join(f"id == {key}" for key in range(10_000))
    tree = parse(chain)
    assert isinstance(tree, Logical) and tree.op == "or" and len(tree.terms) == 10_000
    compiled = compile_filter(chain, dynamic_schema)
    assert compiled.primary_keys() == list(range(10_000))
    assert compiled.evaluate(rows_table).tolist() == [True] * 6
    mixed = compile_filter(" or ".join(f"age == {value} or name == 'n{value}'" for value in range(5_000)), dynamic_schema)
    assert mixed.evaluate(rows_table).tolist() == [True, False, True, True, True, False]
    both = compile_filter(" and ".join(f"id != {key}" for key in range(10_000, 20_000)), dynamic_schema)
    assert both.evaluate(rows_table).all()


def test_chains_read_back_as_written() -> None:
    chain = parse("a or b or c and d and e or f")
    assert chain is not None and to_text(chain) == "(a or b or (c and d and e) or f)"
    grouped = parse("(a or b) or c")
    assert isinstance(grouped, Logical) and to_text(grouped) == "((a or b) or c)"


@pytest.mark.parametrize(
    "terms",
    [
        ["age == 30", "age == 45", "age in [0, 99]"],
        ["small == 127", "small == 1000", "small == -128.0"],
        ["ratio == 0.1", "ratio == 2.5", "ratio in [1e30]"],
        ["score == 1.5", "100.25 == score"],
        ["name == 'bob'", "name == ''", "name in ['alice', 'x']"],
        ["flag == true", "flag == false"],
        ["age == 30", "name == 'bob'", "age == 61", "not (age == 0)"],
    ],
)
def test_gathered_equalities_answer_as_the_terms_do(
    dynamic_schema: CollectionSchema, rows_table: pa.Table, terms: list[str]
) -> None:
    """``f == a or f == b`` becomes one set lookup: the same rows, and a null row stays unknown (``not`` shows it)."""
    rows = range(rows_table.num_rows)
    true_terms = [compile_filter(term, dynamic_schema).evaluate(rows_table) for term in terms]
    false_terms = [compile_filter(f"not ({term})", dynamic_schema).evaluate(rows_table) for term in terms]
    gathered = compile_filter(" or ".join(terms), dynamic_schema).evaluate(rows_table)
    negated = compile_filter(f"not ({' or '.join(terms)})", dynamic_schema).evaluate(rows_table)
    assert gathered.tolist() == [any(column[row] for column in true_terms) for row in rows]
    assert negated.tolist() == [all(column[row] for column in false_terms) for row in rows]


NESTING = {
    "parentheses": lambda depth: "(" * depth + "id == 1" + ")" * depth,
    "not": lambda depth: "not " * depth + "flag",
    "unary minus": lambda depth: "-" * depth + "age == 1",
    "json path": lambda depth: "meta" + '["k"]' * depth + " == 1",
    "lists": lambda depth: "meta['a'] == " + "[" * depth + "1" + "]" * depth,
    "power": lambda depth: "age ** " * depth + "2 > 1",
    "sum": lambda depth: "age" + " + 1" * depth + " > 1",
    "exists": lambda depth: "exists " * depth + "meta['a']",
    "calls": lambda depth: "array_length(" * depth + "tags" + ")" * depth + " > 0",
}


@pytest.mark.parametrize("construct", sorted(NESTING))
def test_nesting_past_the_limit_is_a_syntax_error_naming_it(construct: str, dynamic_schema: CollectionSchema) -> None:
    for depth in (MAX_FILTER_DEPTH + 1, 2_000, 50_000):
        with pytest.raises(FilterSyntaxError, match=f"deeper than {MAX_FILTER_DEPTH} levels") as raised:
            compile_filter(NESTING[construct](depth), dynamic_schema)
        assert len(raised.value.message) < 600  # a window of the text, not all of it


@pytest.mark.parametrize("construct", sorted(NESTING))
def test_nesting_just_under_the_limit_compiles_and_evaluates(
    construct: str, dynamic_schema: CollectionSchema, rows_table: pa.Table
) -> None:
    """No stage recurses past Python's limit: the result is an answer or a typed error, never a RecursionError."""
    try:
        compiled = compile_filter(NESTING[construct](MAX_FILTER_DEPTH - 5), dynamic_schema)
    except FilterSyntaxError:
        pytest.fail("refused under the limit")
    except FilterError:
        return  # meaningless at that depth (exists of exists), said with the typed error
    assert len(compiled.evaluate(rows_table)) == rows_table.num_rows


@pytest.mark.parametrize(
    ("expression", "position"),
    [
        ('name == "\ud800"', 9),
        ("name == '\udfff' or id == 1", 9),
        ("id == 1 or \ud800", 11),
        ('name == "\\ud800"', 9),
        ('name == "\\udc00\\ud800"', 9),
        ('name == "a\\ud83dA"', 10),
    ],
)
def test_lone_surrogates_are_syntax_errors(expression: str, position: int, dynamic_schema: CollectionSchema) -> None:
    with pytest.raises(FilterSyntaxError, match="lone surrogate") as raised:
        compile_filter(expression, dynamic_schema)
    assert raised.value.details["position"] == position
    raised.value.message.encode("utf-8")  # the message itself is valid text


def test_an_escaped_surrogate_pair_is_one_character(dynamic_schema: CollectionSchema) -> None:
    emoji = compile_filter('name == "\\ud83d\\ude00"', dynamic_schema)
    table = pa.table({"name": ["\U0001f600", "x"], "$meta": ["{}", "{}"]})
    assert emoji.evaluate(table).tolist() == [True, False]


@pytest.mark.parametrize(
    "expression",
    ["id == " + "9" * 5_000, "id == 0x" + "f" * 300, "id == 0b1" + "0" * 1_024, "id < " + "1" * 310],
)
def test_integer_literals_past_1024_bits_are_syntax_errors(expression: str, dynamic_schema: CollectionSchema) -> None:
    with pytest.raises(FilterSyntaxError, match="integer literal too large"):
        compile_filter(expression, dynamic_schema)


def test_huge_integers_from_folding_or_params_are_filter_errors(dynamic_schema: CollectionSchema) -> None:
    big = str(2**1000)
    assert compile_filter(f"id < {big}", dynamic_schema).fields == {"id"}
    with pytest.raises(FilterError, match="over 1024 bits"):
        compile_filter(f"id < {big} * {big}", dynamic_schema)
    with pytest.raises(FilterError, match="over 1024 bits"):
        compile_filter("id < {x}", dynamic_schema, params={"x": 2**5_000})
    assert compile_filter("age < 1e999", dynamic_schema).fields == {"age"}


def test_error_messages_show_a_window_of_a_long_filter(dynamic_schema: CollectionSchema) -> None:
    chain = " or ".join(f"id == {key}" for key in range(10_000)) + " or"
    with pytest.raises(FilterSyntaxError) as raised:
        compile_filter(chain, dynamic_schema)
    message = raised.value.message
    assert len(message) < 400 and message.splitlines()[1].strip().startswith("...")
    *_, shown_line, caret_line = message.splitlines()
    assert caret_line.index("^") == len(shown_line)  # under the end of the text, where a value was expected
    assert raised.value.details["position"] == len(chain)


def test_a_negated_json_value_is_a_number_not_a_condition(dynamic_schema: CollectionSchema, rows_table: pa.Table) -> None:
    """Found by the mutated-filter corpus: ``-colour`` was bound as a JSON condition and failed in Arrow (a 500)."""
    for expression in ("-colour", "--meta['a']", "not -n"):
        with pytest.raises(FilterError, match="not a condition"):
            compile_filter(expression, dynamic_schema)
    assert compile_filter("-n == -3", dynamic_schema).evaluate(rows_table).tolist() == [True] + [False] * 5
