"""The lexer and parser: tokens, literals, precedence (read back with ``to_text``), syntax errors."""

from __future__ import annotations

import pytest

from embedb.errors import FilterError, FilterSyntaxError
from embedb.query.filters.nodes import InList, ListLiteral, Literal, Name, to_text
from embedb.query.filters.parser import parse
from embedb.query.filters.tokens import TokenKind, tokenize


def shape(expression: str) -> str:
    tree = parse(expression)
    assert tree is not None
    return to_text(tree)


def syntax_error(expression: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as caught:
        parse(expression)
    return caught.value


# ------------------------------------------------------------------ lexer


def test_tokens_carry_kind_value_and_position() -> None:
    tokens = tokenize('age >= 30 AND name like "a%"')
    assert [(t.kind, t.value, t.position) for t in tokens] == [
        (TokenKind.NAME, "age", 0),
        (TokenKind.SYMBOL, ">=", 4),
        (TokenKind.NUMBER, 30, 7),
        (TokenKind.KEYWORD, "and", 10),
        (TokenKind.NAME, "name", 14),
        (TokenKind.KEYWORD, "like", 19),
        (TokenKind.STRING, "a%", 24),
        (TokenKind.END, None, 28),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("1.5", 1.5),
        (".5", 0.5),
        ("2.", 2.0),
        ("1e-3", 0.001),
        ("2E+2", 200.0),
        ("0x1F", 31),
        ("0b101", 5),
        ("0o17", 15),
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_number_literals(text: str, value: float) -> None:
    token = tokenize(text)[0]
    assert token.kind is TokenKind.NUMBER
    assert token.value == value
    assert type(token.value) is type(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'it\\'s'", "it's"),
        ('"tab\\tnewline\\n"', "tab\tnewline\n"),
        ('"back\\\\slash"', "back\\slash"),
        ('"\\u00e9t\\u00e9"', "été"),
        ('"50\\%"', "50\\%"),  # kept for LIKE, where \% is a literal percent sign
        ('"ünïcode"', "ünïcode"),
        ('""', ""),
    ],
)
def test_string_literals_and_escapes(text: str, value: str) -> None:
    token = tokenize(text)[0]
    assert token.kind is TokenKind.STRING
    assert token.value == value


@pytest.mark.parametrize("word", ["true", "True", "TRUE", "false", "False", "FALSE"])
def test_boolean_spellings(word: str) -> None:
    tree = parse(word)
    assert isinstance(tree, Literal)
    assert tree.value is (word.lower() == "true")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a AND b Or NOT c", "((a and b) or (not c))"),
        ("a && b || !c", "((a and b) or (not c))"),
        ("x IN [1] and y NOT IN [2]", "((x in [1]) and (y not in [2]))"),
        ("x Is Not Null", "(x is not null)"),
        ("x LIKE 'a%'", '(x like "a%")'),
        ("EXISTS k", "(exists k)"),
    ],
)
def test_keywords_in_any_case_and_symbol_spellings(expression: str, expected: str) -> None:
    assert shape(expression) == expected


def test_names_params_and_the_dynamic_field() -> None:
    kinds = [(t.kind, t.value) for t in tokenize("$meta['k'] > { min_age } and _x1 == {b}")]
    assert kinds[0] == (TokenKind.NAME, "$meta")
    assert (TokenKind.PARAM, "min_age") in kinds
    assert (TokenKind.NAME, "_x1") in kinds
    assert (TokenKind.PARAM, "b") in kinds


# ------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("a or b and c", "(a or (b and c))"),
        ("a and b or c", "((a and b) or c)"),
        ("not a and b", "((not a) and b)"),
        ("not a or not b", "((not a) or (not b))"),
        ("not not a", "(not (not a))"),
        ("not age > 3", "(not (age > 3))"),
        ("a > 1 and b < 2 or c == 3", "(((a > 1) and (b < 2)) or (c == 3))"),
        ("a + b * c == d", "((a + (b * c)) == d)"),
        ("a - b - c > 0", "(((a - b) - c) > 0)"),
        ("a / b % c < 1", "(((a / b) % c) < 1)"),
        ("2 ** 3 ** 2 > x", "((2 ** (3 ** 2)) > x)"),
        ("-a ** 2 < 0", "((-(a ** 2)) < 0)"),
        ("a ** -2 < 1", "((a ** (-2)) < 1)"),
        ("-a * b > 0", "(((-a) * b) > 0)"),
        ("(a or b) and c", "((a or b) and c)"),
        ("((a))", "a"),
        ("x in [1, 2] or y not in ['a']", '((x in [1, 2]) or (y not in ["a"]))'),
        ("x like 'a%' and y is null", '((x like "a%") and (y is null))'),
        ("a + 1 in [2, 3]", "((a + 1) in [2, 3])"),
        ("meta['a']['b'][0] == 1", '(meta["a"]["b"][0] == 1)'),
        ("tags[0] + tags[1] > 2", '((tags[0] + tags[1]) > 2)'),
        ("array_length(tags) * 2 >= 4", "((array_length(tags) * 2) >= 4)"),
        ("ARRAY_CONTAINS(tags, 1) and x", "(array_contains(tags, 1) and x)"),
        ("exists meta['k'] or x", '((exists meta["k"]) or x)'),
        ("age > {min} and id in {ids}", "((age > {min}) and (id in {ids}))"),
        ("x in [1, 2,]", "(x in [1, 2])"),
        ("x in []", "(x in [])"),
        ("x == [1, [2, 'a']]", '(x == [1, [2, "a"]])'),
        # Milvus's ranges: a chain of < / <= (or > / >=) is one 'and' of comparisons sharing their operands.
        ("10 < age < 20", "((10 < age) and (age < 20))"),
        ("10 <= age + 1 <= 12 or x", "(((10 <= (age + 1)) and ((age + 1) <= 12)) or x)"),
        ("9 > a >= b > 1", "((9 > a) and (a >= b) and (b > 1))"),
    ],
)
def test_precedence_and_grouping(expression: str, expected: str) -> None:
    assert shape(expression) == expected


def test_printing_round_trips() -> None:
    text = shape("not (a + 1 > 2 or b in [1, 'x']) and c like \"q%\" || d is not null")
    assert shape(text) == text


def test_nodes_keep_positions() -> None:
    tree = parse("x in [1, 'a']")
    assert isinstance(tree, InList)
    assert isinstance(tree.operand, Name) and tree.operand.position == 0
    assert tree.position == 2
    assert isinstance(tree.values, ListLiteral) and tree.values.position == 5
    assert [item.position for item in tree.values.items] == [6, 9]


@pytest.mark.parametrize("blank", ["", "   ", "\n\t "])
def test_empty_expression_parses_to_none(blank: str) -> None:
    assert parse(blank) is None


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("expression", "position", "reason"),
    [
        ("age > ", 6, "expected a value after '>'"),
        ("age >", 5, "expected a value after '>'"),
        ("(age > 1", 8, "expected ')' after '1'"),
        ("age > 1)", 7, "expected an operator or the end of the expression after '1'"),
        ("age = 1", 4, "expected '=='"),
        ("a & b", 2, "expected '&&' or 'and'"),
        ("a | b", 2, "expected '||' or 'or'"),
        ("1 < x > 5", 6, "a chained comparison must point one way, with < and <= or with > and >="),
        ("x == 1 < 5", 7, "a chained comparison must point one way"),
        ("1 < x < 5 == 5", 10, "a chained comparison must point one way"),
        ("x in", 4, "expected a value after 'in'"),
        ("x in [1, 2", 10, "expected ',' or ']' after '2'"),
        ("[1,,2]", 3, "expected a value after ','"),
        ("x is 3", 5, "expected 'null' after 'is'"),
        ("x == null", 5, "null is only allowed in 'is null' and 'is not null'"),
        ("a not b", 2, "expected 'not in' or an operator"),
        ("and a", 0, "expected a value"),
        ("'open", 0, "unterminated string"),
        ('"bad \\q"', 5, "unknown escape '\\q' in a string"),
        ('"\\u12"', 1, "expected four hex digits after '\\u'"),
        ("x ~ 1", 2, "unexpected character '~'"),
        ("12abc > 1", 2, "unexpected character 'a' after the number '12'"),
        ("1e+ > x", 1, "expected digits in the exponent of a number"),
        ("0xZZ > x", 0, "invalid number '0xZZ'"),
        ("$other > 1", 0, "expected '$meta'"),
        ("x > {}", 5, "expected a parameter name after '{'"),
        ("x > {a b}", 7, "expected '}' after the parameter name 'a'"),
        ("tags[-1] > 1", 5, "expected a string key or a non-negative integer index after '['"),
        ("tags[1.5] > 1", 5, "expected a string key or a non-negative integer index after '['"),
        ("tags[0 > 1", 7, "expected ']' after '0'"),
        ("lower(name) == 'a'", 0, "unknown function 'lower'"),
        ("array_length(a, b) > 1", 0, "array_length() takes 1 argument, got 2"),
        ("array_contains(a) ", 0, "array_contains() takes 2 arguments, got 1"),
    ],
)
def test_syntax_errors_say_where_and_what(expression: str, position: int, reason: str) -> None:
    error = syntax_error(expression)
    assert isinstance(error, FilterError)  # callers may catch the parent
    assert error.details["position"] == position
    assert error.details["expression"] == expression
    assert error.details["reason"].startswith(reason)
    assert f"at position {position}" in error.message


def test_syntax_error_message_shows_the_expression_and_a_caret() -> None:
    error = syntax_error("age > ")
    lines = error.message.splitlines()
    assert lines[0] == "expected a value after '>' at position 6, found the end of the expression"
    assert lines[1] == "    age > "
    assert lines[2] == "    " + " " * 6 + "^"


def test_caret_points_into_the_right_line_of_a_multi_line_expression() -> None:
    error = syntax_error("age > 1 and\nname ==")
    assert error.details["position"] == 19
    lines = error.message.splitlines()
    assert lines[1] == "    name =="
    assert lines[2] == "    " + " " * 7 + "^"


def test_syntax_error_round_trips_through_its_wire_form() -> None:
    from embedb.errors import error_from_wire

    error = syntax_error("a >")
    rebuilt = error_from_wire(error.wire_name, error.message, error.details)
    assert type(rebuilt) is FilterSyntaxError
    assert rebuilt.details["position"] == 3
