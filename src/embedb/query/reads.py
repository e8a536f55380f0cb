"""Reads over a snapshot: row masks, row selection, key lookup and output projection.

Everything here is a pure function of a ``Snapshot`` (pinned segment views),
so a concurrent write, seal or compaction cannot change an answer half-way.
Per segment, a filter becomes a bool mask (AND the live rows, AND the asked
partitions). Searching a snapshot is ``embedb.search``'s; get and query use
these directly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from embedb.errors import FieldNotFoundError, InvalidArgumentError
from embedb.query.exact import NO_ROW
from embedb.query.filters import IndexTerm, SortedColumn
from embedb.schema import DYNAMIC_FIELD_NAME, CollectionSchema, DataType
from embedb.storage import SegmentData, SegmentView, Snapshot
from embedb.storage.binary_vectors import packed
from embedb.timestamps import to_text


class RowFilter(Protocol):
    """What reads need of a compiled filter (see ``embedb.query.filters``)."""

    def evaluate(self, table: pa.Table) -> np.ndarray: ...


def row_mask(view: SegmentView, row_filter: RowFilter | None, partition_ids: Sequence[int] | None) -> np.ndarray:
    """Rows of ``view`` that are live, in the partitions asked for, and match the filter."""
    mask = ~view.deleted
    if partition_ids is not None:
        mask &= np.isin(view.data.partitions, np.asarray(partition_ids, dtype=np.int32))
    if row_filter is not None and mask.any():
        mask &= filter_mask(view.data, row_filter)
    return mask


MASKS_PER_SEGMENT = 8
# Below this many rows a scan is as fast as a binary search: small segments are not indexed.
INDEXED_MIN_ROWS = 1024
# A term selecting more than this share of a segment's rows is scanned: taking the rows costs more.
INDEXED_MAX_FRACTION = 0.125


def filter_mask(data: SegmentData, row_filter: RowFilter) -> np.ndarray:
    """The filter's mask over a segment's rows, remembered per segment (its rows never change).

    Deletion marks are kept apart from the rows, so a remembered mask stays right
    after deletes; a new growing-segment view after an append starts empty.
    """
    key = getattr(row_filter, "cache_key", "")
    if not key:
        return _evaluate(data, row_filter)
    memo = data.memo
    mask = memo.get(("filter", key))
    if mask is None:
        mask = _evaluate(data, row_filter)
        mask.flags.writeable = False
        masks = [k for k in list(memo) if k[0] == "filter"]
        if len(masks) >= MASKS_PER_SEGMENT:  # a bound, not an LRU: workloads repeat a handful of filters
            for old in masks:
                memo.pop(old, None)
        memo[("filter", key)] = mask
    return mask


def _evaluate(data: SegmentData, row_filter: RowFilter) -> np.ndarray:
    """The filter's mask; with index terms on a sealed segment, evaluated only on the most selective term's rows.

    Every row outside that term's rows fails the term, so evaluating the whole
    filter on the candidates alone gives the same mask as a scan.
    """
    terms: tuple[IndexTerm, ...] = getattr(row_filter, "index_terms", ())
    rows = data.num_rows
    if not terms or not data.sorted_by_pk or rows < INDEXED_MIN_ROWS:
        return row_filter.evaluate(data.table)
    columns = {term.field: _sorted_column(data, term.field) for term in terms}
    count, best = min((columns[term.field].count(term), i) for i, term in enumerate(terms))
    if count > rows * INDEXED_MAX_FRACTION:
        return row_filter.evaluate(data.table)
    mask = np.zeros(rows, dtype=bool)
    if count:
        candidates = np.sort(columns[terms[best].field].rows_of(terms[best]))
        needed = [name for name in getattr(row_filter, "fields", data.table.column_names) if name in data.table.column_names]
        mask[candidates] = row_filter.evaluate(data.table.select(needed).take(pa.array(candidates)))
    return mask


def _sorted_column(data: SegmentData, field: str) -> SortedColumn:
    """A field's values in order with their rows, made once per sealed segment (its rows never change)."""
    key = ("sorted", field)
    found = data.memo.get(key)
    if found is None:
        found = data.memo[key] = SortedColumn.build(data.table.column(field))
    return found


@dataclass(frozen=True)
class RowRefs:
    """Rows chosen by a read: (segment position in the snapshot, row number) pairs."""

    segments: np.ndarray
    rows: np.ndarray


def select_rows(
    snapshot: Snapshot, row_filter: RowFilter | None, partition_ids: Sequence[int] | None
) -> tuple[RowRefs, np.ndarray]:
    """Every matching row, ordered by primary key: (refs, their keys)."""
    segments, rows, keys = [], [], []
    for position, view in enumerate(snapshot.segments):
        if view.data.num_rows == 0:
            continue
        chosen = np.nonzero(row_mask(view, row_filter, partition_ids))[0]
        if chosen.size:
            segments.append(np.full(chosen.size, position, dtype=np.int64))
            rows.append(chosen)
            keys.append(view.data.pks[chosen])
    if not rows:
        return RowRefs(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)), np.empty(0)
    all_keys = np.concatenate(keys)
    order = np.argsort(all_keys, kind="stable")
    return RowRefs(np.concatenate(segments)[order], np.concatenate(rows)[order]), all_keys[order]


def locate_keys(snapshot: Snapshot, keys: np.ndarray, partition_ids: Sequence[int] | None) -> RowRefs:
    """Live rows with the given keys, in the order of ``keys`` (missing keys are skipped)."""
    found_segment = np.full(keys.shape[0], NO_ROW, dtype=np.int64)
    found_row = np.full(keys.shape[0], NO_ROW, dtype=np.int64)
    for position, view in enumerate(snapshot.segments):
        positions, rows = view.data.locate(keys)
        if positions.size == 0:
            continue
        live = ~view.deleted[rows]
        if partition_ids is not None:
            live &= np.isin(view.data.partitions[rows], np.asarray(partition_ids, dtype=np.int32))
        found_segment[positions[live]] = position
        found_row[positions[live]] = rows[live]
    hit = found_segment != NO_ROW
    return RowRefs(found_segment[hit], found_row[hit])


# ------------------------------------------------------------------ output


@dataclass(frozen=True)
class OutputPlan:
    """Which fields a read returns, resolved against the schema."""

    scalars: tuple[str, ...]
    vectors: tuple[tuple[str, str], ...]  # (field name, storage column key)
    dynamic_keys: tuple[str, ...]
    all_dynamic: bool
    constants: tuple[tuple[str, Any], ...] = ()  # (output name, value) added to every row

    @property
    def wants_dynamic(self) -> bool:
        return self.all_dynamic or bool(self.dynamic_keys)


def plan_output(
    schema: CollectionSchema,
    output_fields: Sequence[str] | None,
    vector_keys: Mapping[str, str],
    *,
    include_primary: bool,
) -> OutputPlan:
    """Resolve ``output_fields`` (names, ``*``, dynamic keys); raise ``FieldNotFoundError`` for unknown names."""
    if output_fields is not None and (isinstance(output_fields, str) or not all(isinstance(f, str) for f in output_fields)):
        raise InvalidArgumentError(f"output_fields must be a list of field names, got {output_fields!r}")
    requested = list(output_fields or [])
    primary = schema.primary.name
    scalars: list[str] = [primary] if include_primary else []
    vectors: list[tuple[str, str]] = []
    dynamic_keys: list[str] = []
    all_dynamic = False
    for name in requested:
        if name == "*":
            scalars.extend(f.name for f in schema.scalar_fields if f.name not in scalars)
            vectors.extend((f.name, vector_keys[f.name]) for f in schema.vector_fields if (f.name, vector_keys[f.name]) not in vectors)
            all_dynamic = schema.enable_dynamic_field
        elif schema.has_field(name):
            field_ = schema.field(name)
            if field_.dtype.is_vector:
                if (name, vector_keys[name]) not in vectors:
                    vectors.append((name, vector_keys[name]))
            elif name not in scalars:
                scalars.append(name)
        elif name == DYNAMIC_FIELD_NAME and schema.enable_dynamic_field:
            all_dynamic = True
        elif schema.enable_dynamic_field:
            dynamic_keys.append(name)
        else:
            known = ", ".join(f.name for f in schema.fields)
            raise FieldNotFoundError(f"output field {name!r} is not in the schema; fields: {known}", field=name)
    return OutputPlan(tuple(scalars), tuple(vectors), tuple(dynamic_keys), all_dynamic)


def project(snapshot: Snapshot, refs: RowRefs, plan: OutputPlan, schema: CollectionSchema) -> list[dict[str, Any]]:
    """The chosen rows as dicts in ``refs`` order, with the planned fields (dynamic keys at top level)."""
    count = refs.rows.size
    out: list[dict[str, Any]] = [{} for _ in range(count)]
    if count == 0:
        return out
    json_fields = {f.name for f in schema.scalar_fields if f.dtype is DataType.JSON}
    binary_fields = {f.name for f in schema.vector_fields if f.dtype is DataType.BINARY_VECTOR}
    instant_fields = {f.name for f in schema.scalar_fields if f.dtype is DataType.TIMESTAMPTZ}
    sparse_fields = {f.name for f in schema.scalar_fields if f.dtype.is_sparse}
    columns = list(plan.scalars) + ([DYNAMIC_FIELD_NAME] if plan.wants_dynamic else [])
    for position in np.unique(refs.segments):
        where = np.nonzero(refs.segments == position)[0]
        view = snapshot.segments[int(position)]
        rows = refs.rows[where]
        taken = view.data.table.select(columns).take(pa.array(rows, type=pa.int64())) if columns else None
        if taken is not None:
            values = {name: taken.column(name).to_pylist() for name in columns}
            for name in plan.scalars:
                column = values[name]
                if name in json_fields:
                    column = [None if v is None else json.loads(v) for v in column]
                elif name in instant_fields:  # microseconds since the epoch, returned as ISO 8601 text (UTC)
                    column = [None if v is None else to_text(v) for v in column]
                elif name in sparse_fields:  # Arrow map rows: (dimension, weight) pairs
                    column = [None if v is None else {int(d): float(w) for d, w in v} for v in column]
                for slot, value in zip(where.tolist(), column, strict=True):
                    out[slot][name] = value
            if plan.wants_dynamic:
                for slot, text in zip(where.tolist(), values[DYNAMIC_FIELD_NAME], strict=True):
                    extra = json.loads(text) if text else {}
                    if plan.all_dynamic:
                        out[slot].update(extra)
                    else:
                        out[slot].update({k: extra[k] for k in plan.dynamic_keys if k in extra})
        for name, key in plan.vectors:
            column = view.data.vectors.get(key)
            if column is None:  # this segment holds no vectors of that model version (yet)
                for slot in where.tolist():
                    out[slot][name] = None
                continue
            matrix = np.asarray(column[rows])
            vectors: list[Any] = packed(matrix) if name in binary_fields else matrix.tolist()
            if schema.has_field(name) and schema.field(name).nullable:  # a null vector is stored as NaN
                vectors = [None if null else vector for vector, null in zip(vectors, np.isnan(matrix[:, 0]).tolist(), strict=True)]
            for slot, vector in zip(where.tolist(), vectors, strict=True):
                out[slot][name] = vector
    for name, value in plan.constants:
        for row in out:
            row[name] = value
    return out
