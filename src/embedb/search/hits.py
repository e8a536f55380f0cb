"""Hits in Milvus's shape, built from the (scores, segments, rows) arrays a search produces.

``assemble_hits`` turns the arrays into one list of ``{"id", "distance",
"entity"}`` per query, projecting the requested fields in one pass; a short path
serves the common case (one segment, keys and distances only). ``check_paging``
checks ``limit`` and ``offset`` for searches and queries alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedb.contract.results import SearchHits
from embedb.errors import InvalidArgumentError
from embedb.query import NO_ROW, OutputPlan, RowRefs, distances_for_output, project
from embedb.schema import CollectionSchema
from embedb.storage import Snapshot

native_hits: Callable[[list[Any], Any, int], Any] | None
try:
    from embedb._native import hits as native_hits
except ImportError:  # built without a C compiler: the comprehension below
    native_hits = None


def check_paging(limit: int | None, offset: int, *, maximum: int | None) -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InvalidArgumentError(f"limit must be a positive integer, got {limit!r}")
    if maximum is not None and limit is not None and limit + offset > maximum:
        raise InvalidArgumentError(f"limit + offset must be at most {maximum}, got {limit + offset}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidArgumentError(f"offset must be a non-negative integer, got {offset!r}")


def assemble_hits(
    snapshot: Snapshot,
    scores: np.ndarray,
    segments: np.ndarray,
    rows: np.ndarray,
    plan: OutputPlan,
    schema: CollectionSchema,
    metric: Any,
) -> SearchHits:
    """Search results in Milvus's shape: per query a list of ``{"id", "distance", "entity"}``."""
    primary = schema.primary.name
    if (
        len(snapshot.segments) == 1
        and plan.scalars == (primary,)
        and not plan.vectors
        and not plan.constants
        and not plan.wants_dynamic
        and rows.size
        and rows.min() >= 0
    ):
        # The common search, kept short: one segment, every slot found, keys and distances only.
        return plain_hits(snapshot.segments[0].data.pks, rows, scores, metric)
    found = rows != NO_ROW
    flat_segments = segments[found]
    flat_rows = rows[found]
    extra = OutputPlan(
        tuple(name for name in plan.scalars if name != primary),
        plan.vectors,
        plan.dynamic_keys,
        plan.all_dynamic,
        plan.constants,
    )
    wanted = extra.scalars or extra.vectors or extra.constants or extra.wants_dynamic
    entities = project(snapshot, RowRefs(flat_segments, flat_rows), extra, schema) if wanted else None
    keys = keys_at(snapshot, flat_segments, flat_rows)
    # Found hits are a prefix of each row (searches pad with NO_ROW at the end).
    distances = distances_for_output(scores, metric).tolist()
    hits: SearchHits = []
    cursor = 0
    for query_distances, count in zip(distances, found.sum(axis=1).tolist(), strict=True):
        stop = cursor + count
        if entities is None:
            hits.append(
                [
                    {"id": key, "distance": value, "entity": {}}
                    for key, value in zip(keys[cursor:stop], query_distances, strict=False)
                ]
            )
        else:
            hits.append(
                [
                    {"id": key, "distance": value, "entity": entity}
                    for key, value, entity in zip(
                        keys[cursor:stop], query_distances, entities[cursor:stop], strict=False
                    )
                ]
            )
        cursor = stop
    return hits


def plain_hits(pks: np.ndarray, rows: np.ndarray, scores: np.ndarray, metric: Any) -> SearchHits:
    """Hits with ids and distances only, every slot found, rows of one segment."""
    if native_hits is not None:
        built: SearchHits = native_hits(pks[rows.ravel()].tolist(), distances_for_output(scores, metric), rows.shape[1])
        return built
    keys = pks[rows].tolist()
    distances = distances_for_output(scores, metric).tolist()
    return [
        [{"id": key, "distance": value, "entity": {}} for key, value in zip(key_row, distance_row, strict=True)]
        for key_row, distance_row in zip(keys, distances, strict=True)
    ]


def keys_at(snapshot: Snapshot, segments: np.ndarray, rows: np.ndarray) -> list[Any]:
    if len(snapshot.segments) == 1:
        return list(snapshot.segments[0].data.pks[rows].tolist())
    keys: list[Any] = [None] * rows.size
    for position in np.unique(segments):
        where = np.nonzero(segments == position)[0]
        values = snapshot.segments[int(position)].data.pks[rows[where]].tolist()
        for slot, value in zip(where.tolist(), values, strict=True):
            keys[slot] = value
    return keys
