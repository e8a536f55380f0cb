"""JSON values in filters: parsing a column once per evaluation, paths, and JSON typing rules.

A JSON column is parsed per *distinct* text: ``pyarrow`` dictionary-encodes the
column, each distinct document is parsed once, and per-row results come back
through one ``take``. Nothing is cached beyond one evaluation.

Typing follows JSON, not Python: a string never equals a number, ``true`` is
not ``1``, and a missing key or a JSON ``null`` is unknown (null), so it never
matches. A present value of another JSON type is a definite mismatch: ``==``
is false, ``!=`` true, and ordering comparisons false.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from embedb.errors import DataError
from embedb.query.filters.bound import PathKey
from embedb.query.filters.kernels import INT64_MAX, INT64_MIN, as_float


class _Missing:
    """The value of a path that does not resolve (or of a null document)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}



_KINDS: dict[type, str] = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "object",
    type(None): "null",
    _Missing: "null",
}


def json_kind(value: object) -> str:
    """The JSON type of a Python value: bool, number, string, array, object or null."""
    # By exact type: json.loads makes only these, and bool must not pass for a number.
    return _KINDS.get(type(value), "object")


def json_equal(left: object, right: object) -> bool:
    """Equality by JSON type (lists and tuples alike); ``1 == 1.0`` but ``1 != true``."""
    if json_kind(left) != json_kind(right):
        return False
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return bool(left == right)


def json_compare(op: str, left: object, right: object) -> bool | None:
    """Compare two JSON values by the module rules; ``None`` when either is missing or null."""
    kind = json_kind(left)
    if kind == "null" or json_kind(right) == "null":
        return None
    if kind != json_kind(right):
        return op == "!="
    if kind in ("number", "string"):
        return ORDERINGS[op](left, right)
    if op == "==":
        return json_equal(left, right)
    if op == "!=":
        return not json_equal(left, right)
    return False


def walk(document: object, path: Sequence[PathKey]) -> object:
    """Follow ``path`` (object keys and array positions) into ``document``; ``MISSING`` if it breaks."""
    value = document
    for key in path:
        if isinstance(key, str):
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        else:
            if not isinstance(value, list) or not 0 <= key < len(value):
                return MISSING
            value = value[key]
    return value


def comparison_with(op: str, constant: object) -> Callable[[object], bool | None]:
    """``lambda v: json_compare(op, v, constant)``, quicker for a number or string constant."""
    kind = json_kind(constant)
    if kind not in ("number", "string"):
        return lambda value: json_compare(op, value, constant)
    same_kind = {int, float} if kind == "number" else {str}
    test = ORDERINGS[op]
    other_kind = op == "!="

    def compare(value: object) -> bool | None:
        if type(value) in same_kind:
            return test(value, constant)
        return None if value is None or value is MISSING else other_kind

    return compare


def membership_in(items: Sequence[object]) -> Callable[[object], bool | None]:
    """Whether a value equals one of ``items`` by JSON rules; None for missing or null values."""
    numbers = {item for item in items if type(item) in (int, float)}
    strings = {item for item in items if type(item) is str}
    flags = {item for item in items if type(item) is bool}
    others = [item for item in items if json_kind(item) in ("array", "object")]

    def contains(value: object) -> bool | None:
        kind = type(value)
        if kind is str:
            return value in strings
        if kind is int or kind is float:
            return value in numbers
        if kind is bool:
            return value in flags
        if value is None or value is MISSING:
            return None
        return any(json_equal(value, other) for other in others)

    return contains


_DECODER = json.JSONDecoder()


def _parse_document(text: str, column: str) -> object:
    # raw_decode skips json.loads's whitespace handling, a third of its time on small documents.
    try:
        document, end = _DECODER.raw_decode(text)
        if end == len(text):
            return document
    except ValueError:
        pass
    try:
        return json.loads(text)  # leading or trailing whitespace, or the real error message
    except ValueError:
        raise DataError(f"column {column!r} holds text that is not JSON: {text[:80]!r}") from None


@dataclass(frozen=True)
class JsonDocuments:
    """The distinct documents of one JSON column; the last one is ``MISSING`` (for null rows)."""

    documents: list[object]
    indices: pa.Array  # int32 without nulls: row -> position in documents

    @classmethod
    def parse(cls, texts: pa.Array, *, column: str) -> JsonDocuments:
        """Parse each distinct text of ``texts`` once; raise ``DataError`` for invalid JSON."""
        encoded = pc.dictionary_encode(texts)
        documents = [_parse_document(text, column) for text in encoded.dictionary.to_pylist()]
        documents.append(MISSING)
        indices = encoded.indices.fill_null(len(documents) - 1)
        return cls(documents, indices)

    def select(self, path: Sequence[PathKey]) -> JsonColumn:
        return JsonColumn([walk(doc, path) if doc is not MISSING else MISSING for doc in self.documents], self.indices)


@dataclass(frozen=True)
class JsonColumn:
    """One JSON value per row, kept as distinct values plus row indices."""

    values: list[object]
    indices: pa.Array

    def map(self, function: Callable[[object], object], arrow_type: pa.DataType) -> pa.Array:
        """Apply ``function`` to each distinct value and spread the results to the rows."""
        return pa.array([function(value) for value in self.values], type=arrow_type).take(self.indices)

    def row_values(self) -> np.ndarray:
        """The value of every row, as an object array (for row-by-row work)."""
        distinct = np.empty(len(self.values), dtype=object)
        for position, value in enumerate(self.values):  # one by one: numpy would unpack lists
            distinct[position] = value
        return distinct[self.indices.to_numpy(zero_copy_only=False)]

    def project(self, kind: str) -> tuple[pa.Array, pa.Array]:
        """The rows as a typed array of ``kind`` ("number", "string" or "bool"), plus a mismatch mask.

        Values of another JSON type become null in the array and true in the
        mask; missing and null values are null in both.
        """
        kinds = [json_kind(value) for value in self.values]
        typed = [value if k == kind else None for value, k in zip(self.values, kinds, strict=True)]
        mismatch = pa.array([k not in ("null", kind) for k in kinds], type=pa.bool_()).take(self.indices)
        if kind == "string":
            arrow_type = pa.string()
        elif kind == "bool":
            arrow_type = pa.bool_()
        else:
            numbers = [v for v in typed if isinstance(v, int | float)]
            fits_int64 = all(isinstance(v, int) and INT64_MIN <= v <= INT64_MAX for v in numbers)
            arrow_type = pa.int64() if fits_int64 else pa.float64()
            if not fits_int64:
                typed = [as_float(v) if isinstance(v, int | float) else None for v in typed]
        return pa.array(typed, type=arrow_type).take(self.indices), mismatch

