"""Mutated filters for bad-input tests: valid filters over one schema, broken in ways a parser must survive.

``mutate(rng, text)`` applies one to four mutations — tokens inserted, deleted,
duplicated or upper-cased, deep nesting, long chains, truncation, huge and odd
numbers, Unicode (lone surrogates, escapes, control and astral characters) —
so a seeded ``random.Random`` gives the same corpus every run. The filters
read the fields of ``SCHEMA``: ``id`` (INT64), ``title`` (VARCHAR), ``tags``
(ARRAY<INT64>), ``meta`` (JSON), ``score`` (DOUBLE) and dynamic keys, over
``rows(n)``.
"""

from __future__ import annotations

import random
import re
from typing import Any

from embedb.schema import CollectionSchema, DataType, FieldSchema

SCHEMA = CollectionSchema(
    (
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("vector", DataType.FLOAT_VECTOR, dim=4),
        FieldSchema("title", DataType.VARCHAR, max_length=64, nullable=True),
        FieldSchema("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8, nullable=True),
        FieldSchema("meta", DataType.JSON, nullable=True),
        FieldSchema("score", DataType.DOUBLE, nullable=True),
    ),
    enable_dynamic_field=True,
)


def rows(count: int) -> list[dict[str, Any]]:
    """Rows of ``SCHEMA``, every third with nulls, and a dynamic key ``colour``."""
    return [
        {
            "id": key,
            "vector": [1.0 + key, 2.0, 3.0, 4.0],
            "title": None if key % 3 == 2 else f"t{key}",
            "tags": None if key % 3 == 2 else [key, 2],
            "meta": None if key % 3 == 2 else {"k": key, "s": "v", "list": [1, "a"]},
            "score": None if key % 3 == 2 else key / 2,
            "colour": "red" if key % 2 else "blue",
        }
        for key in range(count)
    ]

VALID_FILTERS = [
    "id > 3",
    "id in [1, 2, 3] and title like 't%'",
    'title == "t1" or title != "x"',
    "not (id < 5) && tags[0] == 1",
    "array_contains(tags, 2) or array_length(tags) > 1",
    'meta["k"] >= 2 and meta["s"] == "v"',
    "colour == 'red' or exists meta['k']",
    "score * 2 + 1 > id % 3",
    "title is not null and -id < 0",
    "json_contains_any(meta['list'], [1, 'a'])",
    "id == {p} or title in {q}",
    "$meta['colour'] like \"r%\"",
    "2 ** id < 1e10 and id / 2 != 0.5",
]
VOCABULARY = [
    "(", ")", "[", "]", ",", "==", "!=", "<", ">=", "+", "-", "*", "/", "%", "**", "&&", "||", "!",
    "and", "or", "not", "in", "like", "is", "null", "exists", "true", "false",
    "id", "title", "tags", "meta", "colour", "$meta", "{p}", "{", "}", '"', "'", "\\", "$", "=", "&", "|",
    "array_contains(", "array_length(", "json_contains_all(",
]  # fmt: skip
NUMBERS = [
    "0", "-0", "1e999", "-1e999", "1e-400", "9" * 400, str(2**63), str(-(2**63) - 1), "0x" + "f" * 300,
    "0b", "0x", "1.", ".5", "1e", "00", "3.14e+", str(2**1024), "NaN", "inf",
]  # fmt: skip
UNICODE = ["\ud800", "\udfff", "\\ud800", "\\udc00\\ud800", "\\ud83d\\ude00", "\U0001f600", "é", "\u0301", "\u202e", "\x00", "\\u0000", "\ufeff", "ß" * 50]  # fmt: skip
MAX_LENGTH = 100_000  # what a chain grows to at most: the parser is linear, but a test has a time budget
TOKEN = re.compile(r"\s+|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|[A-Za-z_$][A-Za-z0-9_]*|\d[\w.]*|\*\*|[=!<>]=|&&|\|\||.", re.S)


def mutate(rng: random.Random, text: str) -> str:
    """One to four mutations of ``text``: token edits, nesting, chains, odd numbers, Unicode."""
    for _ in range(rng.randint(1, 4)):
        tokens = TOKEN.findall(text) or [""]
        where = rng.randrange(len(tokens))
        kind = rng.randrange(11)
        if kind == 0:
            del tokens[where]
        elif kind == 1:
            tokens.insert(where, f" {rng.choice(VOCABULARY)} ")
        elif kind == 2:
            end = min(len(tokens), where + rng.randint(1, 6))
            tokens[where:where] = tokens[where:end] * rng.randint(1, 3)
        elif kind == 3:
            tokens.insert(where, rng.choice(NUMBERS))
        elif kind == 4:
            tokens.insert(where, rng.choice(UNICODE))
        elif kind == 5:
            depth = rng.choice([2, 50, 99, 100, 101, 500, 3_000])
            opener = rng.choice(["(", "not ", "-", "!", "[", "exists "])
            closer = {"(": ")", "[": "]"}.get(opener, "")
            tokens = [opener * depth, *tokens, closer * depth]
        elif kind == 6:  # a long chain, though not past MAX_LENGTH characters in all
            copies = min(rng.choice([2, 2, 10, 10, 100, 2_000]), max(2, MAX_LENGTH // (len(text) + 4)))
            return " or ".join([text] * copies)
        elif kind == 7:
            tokens = tokens[: rng.randrange(len(tokens) + 1)]
        elif kind == 8:
            tokens.insert(where, '["k"]' * rng.choice([1, 99, 150, 2_000]))
        elif kind == 9:
            tokens[where] = tokens[where].upper()
        else:
            tokens.insert(where, chr(rng.randrange(0x20, 0x2FFFF)))
        text = "".join(tokens)
    return text
