"""compile_filter against a schema: name resolution, type errors, params, fields, primary keys."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.errors import FilterError, FilterSyntaxError
from embedb.query.filters import CompiledFilter, compile_filter
from embedb.schema import CollectionSchema, DataType, FieldSchema


def filter_error(expression: str, schema: CollectionSchema, **params: object) -> FilterError:
    with pytest.raises(FilterError) as caught:
        compile_filter(expression, schema, params=params)
    assert not isinstance(caught.value, FilterSyntaxError)
    return caught.value


# ------------------------------------------------------------------ names


def test_unknown_field_without_dynamic_field_names_it_and_lists_known_ones(static_schema: CollectionSchema) -> None:
    error = filter_error("colour == 'red'", static_schema)
    assert "'colour'" in error.message
    assert "age" in error.message and "meta" in error.message
    assert "vec" not in error.details["known"]
    assert error.details["field"] == "colour"


def test_unknown_name_with_dynamic_field_reads_meta(dynamic_schema: CollectionSchema) -> None:
    compiled = compile_filter("colour == 'red'", dynamic_schema)
    assert compiled.fields == frozenset({"$meta"})


def test_dollar_meta_needs_the_dynamic_field(static_schema: CollectionSchema) -> None:
    error = filter_error("$meta['a'] == 1", static_schema)
    assert "$meta" in error.message


@pytest.mark.parametrize("expression", ["vec == 1", "vec[0] > 0.5", "vec is null", "array_length(vec) == 2"])
def test_vector_fields_cannot_be_filtered(static_schema: CollectionSchema, expression: str) -> None:
    error = filter_error(expression, static_schema)
    assert "'vec'" in error.message and "FLOAT_VECTOR" in error.message


@pytest.mark.parametrize(
    ("expression", "fields"),
    [
        ("", set()),
        ("age > 1", {"age"}),
        ("age > score and name like 'a%'", {"age", "score", "name"}),
        ("meta['a'] == 1 and tags[0] == 2", {"meta", "tags"}),
        ("color == 'red' or $meta['n'] > 1", {"$meta"}),
        ("id in [1, 2] or age + small > 3", {"id", "age", "small"}),
    ],
)
def test_fields_lists_what_the_filter_reads(dynamic_schema: CollectionSchema, expression: str, fields: set[str]) -> None:
    assert compile_filter(expression, dynamic_schema).fields == frozenset(fields)


# ------------------------------------------------------------------ types


@pytest.mark.parametrize(
    ("expression", "field", "words"),
    [
        ("name > 3", "name", ["VARCHAR", "integer"]),
        ("name == 3.5", "name", ["VARCHAR", "float"]),
        ("age == 'x'", "age", ["INT32", "string"]),
        ("flag == 1", "flag", ["BOOL", "integer"]),
        ("flag < true", "flag", ["BOOL", "'<'"]),
        ("age == true", "age", ["INT32", "bool"]),
        ("age > name", "age", ["INT32", "VARCHAR"]),
        ("age like 'a%'", "age", ["like", "INT32"]),
        ("flag like 'a%'", "flag", ["like", "BOOL"]),
        ("tags like 'a%'", "tags", ["like", "ARRAY<INT64>"]),
        ("name like 3", "name", ["string pattern"]),
        ("array_contains(age, 1)", "age", ["array_contains", "INT32"]),
        ("array_contains_all(name, ['a'])", "name", ["array_contains_all", "VARCHAR"]),
        ("json_contains_any(score, [1])", "score", ["json_contains_any", "DOUBLE"]),
        ("array_contains(tags, 'a')", "tags", ["INT64", "'a'"]),
        ("array_contains(words, 1)", "words", ["VARCHAR", "1"]),
        ("array_contains_all(tags, 1)", "tags", ["needs a list"]),
        ("array_contains(tags, age)", "tags", ["constant"]),
        ("array_length(name) > 1", "name", ["array_length", "VARCHAR"]),
        ("name + 1 > 2", "name", ["'+'", "numbers", "VARCHAR"]),
        ("-name < 0", "name", ["unary '-'", "VARCHAR"]),
        ("flag * 2 > 1", "flag", ["'*'", "BOOL"]),
        ("tags + 1 > 1", "tags", ["'+'", "ARRAY<INT64>"]),
        ("tags > 1", "tags", ["ARRAY<INT64>", "array_contains"]),
        ("tags == words", "tags", ["ARRAY<INT64>", "ARRAY<VARCHAR>"]),
        ("tags == ['a']", "tags", ["INT64 elements", "'a'"]),
        ("tags < [1]", "tags", ["'<'"]),
        ("age in ['a', 'b']", "age", ["INT32", "'a'"]),
        ("name in [1]", "name", ["VARCHAR", "1"]),
        ("flag in [1]", "flag", ["BOOL", "1"]),
        ("tags in [1]", "tags", ["array_contains_any"]),
        ("age in 3", "age", ["needs a list"]),
        ("age[0] == 1", "age", ["cannot be indexed"]),
        ("tags['a'] == 1", "tags", ["integer index"]),
        ("tags[0][1] == 1", "tags", ["cannot be indexed"]),
        ("exists age", "age", ["exists", "INT32"]),
        ("age", "age", ["not a condition", "INT32"]),
        ("age + 1", "age", ["'age + 1'", "not a condition"]),
        ("name", "name", ["not a condition"]),
        ("meta['a'] < true", "meta", ["JSON", "bool"]),
        ("meta['a'] > [1]", "meta", ["JSON", "list"]),
    ],
)
def test_type_mismatches_name_the_field_and_the_types(
    static_schema: CollectionSchema, expression: str, field: str, words: list[str]
) -> None:
    error = filter_error(expression, static_schema)
    assert error.details.get("field") == field, error.message
    for word in words:
        assert word in error.message, error.message


@pytest.mark.parametrize(
    "expression",
    ["(age > 1) + 1 > 2", "(age > 1) == true", "age == (name like 'a')", "'a' like 'a'", "3", "'x'", "[1, 2]"],
)
def test_conditions_and_values_do_not_mix(static_schema: CollectionSchema, expression: str) -> None:
    filter_error(expression, static_schema)


@pytest.mark.parametrize("expression", ["age / 0 > 1", "age % 0 == 1", "1 / 0 > age", "age > 2 ** 100000"])
def test_constant_arithmetic_errors_are_filter_errors(static_schema: CollectionSchema, expression: str) -> None:
    filter_error(expression, static_schema)


@pytest.mark.parametrize(
    "expression",
    [
        "small > 1000",  # out of INT8 range: not an error, it just compares
        "small < -99999999999999999999999",
        "age > 1.5",
        "ratio == 1",
        "age == score",
        "meta['a'] == 'x'",
        "meta['a'] == meta['b']",
        "meta['a'] != [1, 'x']",
        "meta == [1, 2]",
        "flag",
        "not flag",
        "flag == false",
        "meta['ok']",
        "tags == [1, 2]",
        "words != ['a']",
        "1 < 2",
        "true",
        "exists meta['a']['b']",
        "json_contains(meta['list'], [1, 2])",
        "array_contains(meta, 1)",
        "array_length(meta['arr']) > 1",
    ],
)
def test_well_typed_filters_compile(static_schema: CollectionSchema, expression: str) -> None:
    assert isinstance(compile_filter(expression, static_schema), CompiledFilter)


def test_not_a_string_is_a_filter_error(static_schema: CollectionSchema) -> None:
    with pytest.raises(FilterError):
        compile_filter(42, static_schema)  # type: ignore[arg-type]


# ----------------------------------------------------------------- params


def test_params_fill_placeholders(static_schema: CollectionSchema) -> None:
    compiled = compile_filter(
        "age > {min_age} and name in {names} and flag == {on}",
        static_schema,
        params={"min_age": 30, "names": ["alice", "bob"], "on": True},
    )
    assert compiled.fields == frozenset({"age", "name", "flag"})


def test_params_accept_numpy_scalars_and_tuples(static_schema: CollectionSchema) -> None:
    compile_filter("age > {a} and id in {ids}", static_schema, params={"a": np.int32(3), "ids": (1, 2)})


def test_missing_param_is_named(static_schema: CollectionSchema) -> None:
    error = filter_error("age > {min_age} and score < {top}", static_schema, top=1.0)
    assert "'min_age'" in error.message
    assert error.details["parameter"] == "min_age"


def test_unsupported_param_type_is_named(static_schema: CollectionSchema) -> None:
    error = filter_error("age > {when}", static_schema, when=None)
    assert "'when'" in error.message and "NoneType" in error.message


def test_param_types_are_checked_like_literals(static_schema: CollectionSchema) -> None:
    error = filter_error("age > {x}", static_schema, x="thirty")
    assert "INT32" in error.message and "string" in error.message


# ------------------------------------------------------------ primary keys


@pytest.mark.parametrize(
    ("expression", "keys"),
    [
        ("id == 7", [7]),
        ("7 == id", [7]),
        ("id in [3, 1, 3]", [3, 1]),
        ("id == 1 or id == 2 or id in [2, 5]", [1, 2, 5]),
        ("(id == 1) || id in [4]", [1, 4]),
        ("id in {ids}", [9, 8]),
        ("id in []", []),
        ("id > 7", None),
        ("id != 7", None),
        ("id not in [1]", None),
        ("id == 1 and age > 3", None),
        ("id == 1 or age > 3", None),
        ("not id == 1", None),
        ("id == 1.0", None),
        ("age == 1", None),
        ("", None),
    ],
)
def test_primary_keys_fast_path(static_schema: CollectionSchema, expression: str, keys: list[int] | None) -> None:
    compiled = compile_filter(expression, static_schema, params={"ids": [9, 8]})
    assert compiled.primary_keys() == keys


def test_primary_keys_of_a_varchar_key() -> None:
    schema = CollectionSchema(
        fields=(
            FieldSchema("pk", DataType.VARCHAR, is_primary=True, max_length=16),
            FieldSchema("v", DataType.FLOAT_VECTOR, dim=2),
        )
    ).validate()
    assert compile_filter("pk in ['a', 'b'] or pk == 'c'", schema).primary_keys() == ["a", "b", "c"]
    with pytest.raises(FilterError):
        compile_filter("pk == 1", schema)


def test_primary_keys_returns_a_copy(static_schema: CollectionSchema) -> None:
    compiled = compile_filter("id in [1, 2]", static_schema)
    keys = compiled.primary_keys()
    assert keys is not None
    keys.append(3)
    assert compiled.primary_keys() == [1, 2]


def test_params_accept_numpy_arrays(static_schema: CollectionSchema) -> None:
    compiled = compile_filter("id in {ids}", static_schema, params={"ids": np.array([4, 5])})
    assert compiled.primary_keys() == [4, 5]
