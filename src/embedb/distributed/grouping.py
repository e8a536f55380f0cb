"""``search`` with ``group_by_field`` on a cluster: two passes, so each group is the whole collection's.

Pass one asks every shard for its best ``offset + limit`` groups; a group in
the collection's best is among the best of the shard holding its best hit, so
the union ranked by best hit (``best_groups``) names the right groups. But a
shard lists a group's members only if that group is among its own best, so
pass two asks every shard, per query, for the members of exactly those groups
(``group_field in {values}``, the request's filter kept), and ``merged_groups``
keeps each group's nearest ``group_size`` over every shard. The answer has one
node's shape: hits group after group (groups by their best hit), ``offset``
counted in groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Hit = dict[str, Any]
# The filter parameter pass two names its group values with (kept apart from the request's own parameters).
GROUPS_PARAMETER = "embedb_cluster_groups"


def group_of(hit: Hit, field: str, primary: str) -> Any:
    """A hit's group value (its key when grouping by the primary key; None for a null, a group of its own)."""
    return hit["id"] if field == primary else hit["entity"].get(field)


def best_groups(
    answers: list[list[Hit]], field: str, count: int, *, smaller_is_closer: bool, primary: str
) -> list[Any]:
    """The ``count`` group values whose best hit over every shard's answer (one query) is nearest, nearest first."""
    best: dict[Any, float] = {}
    for hit in (hit for hits in answers for hit in hits):
        value, distance = group_of(hit, field, primary), float(hit["distance"])
        if value not in best or (distance < best[value] if smaller_is_closer else distance > best[value]):
            best[value] = distance
    return sorted(best, key=lambda value: best[value], reverse=not smaller_is_closer)[:count]


def merged_groups(
    answers: list[list[Hit]],
    field: str,
    groups: list[Any],
    *,
    group_size: int,
    offset: int,
    smaller_is_closer: bool,
    primary: str,
) -> list[Hit]:
    """Hits of ``groups`` (in that order, ``offset`` groups skipped), each group's nearest ``group_size`` over every shard."""
    members: dict[Any, list[Hit]] = {value: [] for value in groups}
    for hit in (hit for hits in answers for hit in hits):
        value = group_of(hit, field, primary)
        if value in members:
            members[value].append(hit)
    out: list[Hit] = []
    for value in groups[offset:]:
        ranked = sorted(members[value], key=lambda hit: float(hit["distance"]), reverse=not smaller_is_closer)
        out.extend(ranked[:group_size])
    return out


def one_query(data: Any, position: int) -> Any:
    """The ``position``-th query of a search's ``data``, as a search of one query takes it."""
    if isinstance(data, str):
        return data
    if isinstance(data, np.ndarray):
        return data[position : position + 1]
    return [data[position]]


def group_filter(field: str, user_filter: str | None, groups: list[Any]) -> str:
    """Pass two's filter: the request's, and the group field among the chosen values (nulls a group too)."""
    chosen = f"{field} in {{{GROUPS_PARAMETER}}}"
    if None in groups:
        chosen = f"({chosen} or {field} is null)" if len(groups) > 1 else f"{field} is null"
    return f"({user_filter}) and {chosen}" if user_filter and user_filter.strip() else chosen


def group_values(groups: list[Any]) -> list[Any]:
    """The chosen groups as the filter parameter holds them (a null group is matched by ``is null``)."""
    return [value for value in groups if value is not None]
