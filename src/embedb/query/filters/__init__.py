"""Filters: the Milvus boolean expression language, compiled once and evaluated on Arrow tables.

``compile_filter(text, schema)`` parses the text, checks it against the schema
and returns a ``CompiledFilter``; ``CompiledFilter.evaluate(table)`` gives one
bool per row. All mistakes surface at compile time, before any data is read:

- ``FilterSyntaxError`` when the text does not parse: the message quotes the
  line with a caret under the 0-based position (``details["position"]``) and
  says what was expected there;
- ``FilterError`` for an unknown field (with the dynamic field off), a vector
  field, mismatched types (``name > 3`` on a VARCHAR, ``like`` on an INT64,
  ``array_contains`` on a non-array, arithmetic on strings, a BOOL against a
  number) or a missing ``{param}``; the message names the field and the types.

The language, as in Milvus 2.4/2.5 (grammar in ``parser``):

- ``== != < <= > >=`` between values, ``in`` / ``not in`` a list, ``like``
  with ``%`` and ``_``, ``is null`` / ``is not null``, ``exists``;
- ``and or not`` in any case (also ``&& || !``), parentheses; ``not`` binds
  tighter than ``and``, ``and`` tighter than ``or``, comparisons looser than
  arithmetic ``+ - * / % **`` and unary minus;
- JSON paths ``meta["a"][0]``; with the dynamic field on, an unknown name
  ``color`` means ``$meta["color"]``. JSON values keep JSON types: a string
  never equals a number and a missing key never matches;
- ``array_contains``, ``array_contains_all``, ``array_contains_any``,
  ``array_length`` and ``f[0]`` on ARRAY fields (and on JSON arrays), with the
  ``json_contains*`` spellings too;
- ``{name}`` placeholders filled from ``params`` (Milvus 2.5 templating).

Limits: a chain of ``and`` or of ``or`` may have any number of terms (a
10,000-term ``id == 0 or id == 1 or ...`` works, and ``f == v`` terms on one
field are looked up as one set); nesting is limited to ``MAX_FILTER_DEPTH``
levels (parentheses, ``not``, signs, JSON path keys, calls, lists, arithmetic
operands), and deeper text is a ``FilterSyntaxError`` naming the limit, never a
``RecursionError``. Integer literals hold at most 1024 bits; text may not hold
a lone surrogate (``"\\ud800"``), written out or escaped.

Nulls are unknown: a comparison with null is neither true nor false, ``and``
``or`` ``not`` follow Kleene logic, and a row whose result stays unknown does
not match. Arithmetic follows Python (``/`` is true division, ``%`` takes the
sign of the divisor); dividing by a zero in the data gives null, by a literal
zero a ``FilterError``. A FLOAT field compares with literals rounded to
float32, as Milvus does. Chained comparisons (``1 < x < 5``) are not
supported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from embedb.errors import FilterError
from embedb.query.filters.binder import bind, literal_primary_keys, literal_values
from embedb.query.filters.bound import Predicate
from embedb.query.filters.evaluator import evaluate
from embedb.query.filters.indexable import IndexTerm, SortedColumn, index_terms
from embedb.query.filters.parser import MAX_DEPTH as MAX_FILTER_DEPTH
from embedb.query.filters.parser import parse
from embedb.schema import CollectionSchema, FieldSchema
from embedb.timestamps import UTC_NAME

__all__ = ["MAX_FILTER_DEPTH", "CompiledFilter", "IndexTerm", "SortedColumn", "compile_filter"]


@dataclass(frozen=True)
class CompiledFilter:
    """A filter checked against one schema; evaluate it on any number of tables of that schema.

    ``fields`` are the schema fields the filter reads (``"$meta"`` when it uses
    dynamic keys). ``cache_key`` is equal for two compilations of the same text
    with the same params, so a reader may cache a result per immutable table.
    It holds no data and caches nothing between evaluations.
    """

    expression: str
    fields: frozenset[str]
    _predicate: Predicate | None = field(repr=False)
    _primary_keys: list[Any] | None = field(repr=False)
    cache_key: str = field(default="", repr=False)
    # The top-level terms a scalar index can answer (``compile_filter(indexed=)``).
    index_terms: tuple[IndexTerm, ...] = field(default=(), repr=False)

    def evaluate(self, table: pa.Table) -> np.ndarray:
        """A bool array with one entry per row of ``table``: True where the filter holds.

        ``table`` has a column per scalar field (and ``"$meta"`` with the
        dynamic field), chunked or not. Null and unknown results are False; the
        empty filter is True everywhere. Raises ``DataError`` when a needed
        column is missing or a JSON column holds invalid JSON; it does not
        check the other columns' types.
        """
        return evaluate(self._predicate, table)

    def primary_keys(self) -> list[Any] | None:
        """The literal keys if the whole filter is ``pk == v``, ``pk in [...]`` or an OR of those.

        A fast path for get and delete: the keys come back de-duplicated in the
        order written, typed as the primary key (int or str). Any other filter,
        including one that mixes in another condition, gives None.
        """
        return None if self._primary_keys is None else list(self._primary_keys)

    def values_of(self, field: FieldSchema) -> list[Any] | None:
        """The values the filter allows ``field`` (an INT64 or VARCHAR field): those of its top-level terms that
        are only ``field == v``, ``field in [...]`` or an OR of those (all of them hold: their common values);
        None when no term says. How a cluster asks only the shards that hold a partition key's rows."""
        return literal_values(self._predicate, field)


def compile_filter(
    expression: str,
    schema: CollectionSchema,
    *,
    params: Mapping[str, object] | None = None,
    indexed: frozenset[str] = frozenset(),
    timezone: str = UTC_NAME,
) -> CompiledFilter:
    """Parse and bind ``expression`` for ``schema``; empty or blank text matches every row.

    ``indexed`` are the fields with a scalar index: top-level comparisons of
    them with constants become ``index_terms`` (see ``indexable``). ``ISO '...'``
    instants without an offset are read in ``timezone`` (the collection's).

    Raises ``FilterSyntaxError`` for text that does not parse and
    ``FilterError`` for unknown fields, mismatched types and missing params.
    """
    if not isinstance(expression, str):
        raise FilterError(f"a filter must be a string, got {type(expression).__name__}")
    bound = bind(parse(expression), schema, params=params, timezone=timezone)
    keys = literal_primary_keys(bound.predicate, schema.primary)
    cache_key = expression if not params else f"{expression}\x00{params_key(params)}"
    if timezone != UTC_NAME:  # the same text names other instants in another zone
        cache_key = f"{cache_key}\x00{timezone}"
    return CompiledFilter(expression, bound.fields, bound.predicate, keys, cache_key, index_terms(bound.predicate, indexed))


def params_key(params: Mapping[str, object]) -> str:
    """Text equal for two ``params`` exactly when their values are: NumPy arrays by their bytes (an array's repr
    elides the middle of a long one, so two arrays sharing their ends would share a key and a remembered mask)."""
    return repr(sorted((str(name), _exact(value)) for name, value in params.items()))


def _exact(value: object) -> object:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("object array", value.shape, _exact(value.tolist()))
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return ("array", value.dtype.str, value.shape, digest)
    if isinstance(value, Mapping):
        return ("map", sorted((str(key), _exact(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_exact(item) for item in value])
    return (type(value).__name__, repr(value))
