"""``order_by`` for reads: rows ordered by scalar fields (``"price:desc"``), as Milvus's ``order_by_fields``.

``parse_order_by`` checks the request against the schema (a BOOL, integer,
float or VARCHAR field; ``asc`` or ``desc``); ``order_refs`` puts chosen rows
in that order. Ties keep the order the rows came in (primary key for a
query, distance for a search); nulls come last in either direction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from embedb.errors import InvalidArgumentError
from embedb.query.reads import RowRefs
from embedb.schema import CollectionSchema, DataType
from embedb.storage import Snapshot
from embedb.timestamps import to_micros

_SORTABLE = frozenset(
    {
        DataType.BOOL,
        DataType.INT8,
        DataType.INT16,
        DataType.INT32,
        DataType.INT64,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.VARCHAR,
        DataType.TIMESTAMPTZ,
    }
)

OrderBy = tuple[tuple[str, bool], ...]  # (field, descending)
RowT = TypeVar("RowT")


def parse_order_by(order_by: Sequence[str] | str | None, schema: CollectionSchema) -> OrderBy:
    """``["price:desc", "year"]`` (or one comma-separated text) as (field, descending) pairs; raises ``InvalidArgumentError``."""
    if order_by is None:
        return ()
    items = order_by.split(",") if isinstance(order_by, str) else list(order_by)
    parsed = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidArgumentError(f"order_by takes 'field', 'field:asc' or 'field:desc', got {item!r}", argument="order_by")
        name, _, direction = item.strip().partition(":")
        direction = direction.strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            raise InvalidArgumentError(f"order_by {item!r}: the direction is asc or desc", argument="order_by")
        if not schema.has_field(name) or schema.field(name).dtype not in _SORTABLE:
            sortable = [f.name for f in schema.fields if f.dtype in _SORTABLE]
            raise InvalidArgumentError(f"order_by {name!r}: not a sortable scalar field; sortable: {sortable}", argument="order_by")
        parsed.append((name, direction == "desc"))
    return tuple(parsed)


def _ranks(values: list[object], descending: bool) -> np.ndarray:
    """An integer per value that sorts as the values do (reversed for ``descending``), nulls after everything."""
    present = [v for v in values if v is not None]
    ranks = np.full(len(values), np.iinfo(np.int64).max, dtype=np.int64)
    if present:
        _, inverse = np.unique(np.asarray(present, dtype=object if isinstance(present[0], str) else None), return_inverse=True)
        order = -inverse if descending else inverse
        ranks[[i for i, v in enumerate(values) if v is not None]] = order
    return ranks


def order_refs(snapshot: Snapshot, refs: RowRefs, order_by: OrderBy) -> RowRefs:
    """``refs`` sorted by the fields of ``order_by``, stable."""
    count = refs.rows.size
    if not order_by or count < 2:
        return refs
    columns: dict[str, list[object]] = {name: [None] * count for name, _ in order_by}
    for position in np.unique(refs.segments):
        where = np.nonzero(refs.segments == position)[0]
        table = snapshot.segments[int(position)].data.table
        taken = table.select(list(columns)).take(pa.array(refs.rows[where], type=pa.int64()))
        for name, column in columns.items():
            for slot, value in zip(where.tolist(), taken.column(name).to_pylist(), strict=True):
                column[slot] = value
    keys = [_ranks(columns[name], descending) for name, descending in reversed(order_by)]
    order = np.lexsort(keys)
    return RowRefs(refs.segments[order], refs.rows[order])


def order_rows(
    rows: list[RowT], order_by: OrderBy, schema: CollectionSchema, *, fields_of: Callable[[RowT], Mapping[str, Any]]
) -> list[RowT]:
    """Rows already read sorted by ``order_by``, stable, nulls last; ``fields_of`` gives a row's fields (a hit's entity)."""
    for name, descending in reversed(order_by):
        instant = schema.field(name).dtype is DataType.TIMESTAMPTZ  # text: sort by the instant (12:00:00.5Z after 12:00:00Z)

        def key(row: RowT, name: str = name, instant: bool = instant) -> Any:
            value = fields_of(row)[name]
            return to_micros(value) if instant else value

        present = [row for row in rows if fields_of(row).get(name) is not None]
        present.sort(key=key, reverse=descending)
        rows = present + [row for row in rows if fields_of(row).get(name) is None]
    return rows


def with_order_fields(asked: Sequence[str] | None, order_by: OrderBy) -> tuple[list[str], list[str]]:
    """The output fields a read needs to be ordered afterwards, and those to strip again (not asked for)."""
    wanted = [name for name, _ in order_by]
    added = [name for name in wanted if not asked or name not in asked]
    strip = [] if asked is not None and "*" in asked else added
    return [*(asked or []), *added], strip
