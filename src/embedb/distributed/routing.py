"""How the router places rows on shards and merges what shards answer — pure functions, no Ray.

- ``shard_of`` / ``owners``: a row lives on the shard its primary key hashes to
  (a stable hash, the same in every process: integers mixed with SplitMix64's
  finalizer, text with CRC-32 of its UTF-8), among the shards that ``holding``
  gives its collection (``num_shards``).
- ``split_rows``: one write's data cut into one part per shard, in the shapes
  ``insert`` takes (rows, a dict of columns, an Arrow table, a DataFrame).
- ``merge_hits`` / ``merge_rows`` / ``merge_stats`` / ``merge_job``: per-shard
  answers made into the one answer a single node gives on the same rows —
  top-k of the shards' top-k (``offset`` applied after the merge), rows in the
  order asked, counts summed, a job's progress over every shard.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embedb.errors import DataError, EmbedbError

_MASK = (1 << 64) - 1


def shard_of(key: Any, shards: int) -> int:
    """The shard that owns primary key ``key``."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        mixed = int(key) & _MASK
        mixed = ((mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        mixed = ((mixed ^ (mixed >> 27)) * 0x94D049BB133111EB) & _MASK
        return (mixed ^ (mixed >> 31)) % shards
    return zlib.crc32(str(key).encode("utf-8", "surrogatepass")) % shards


def owners(keys: Sequence[Any], shards: int | Sequence[int]) -> dict[int, list[int]]:
    """Row positions by owning shard (shards that own none are left out), among ``shards`` (a count: 0 to n - 1)."""
    among = range(shards) if isinstance(shards, int) else shards
    placed: dict[int, list[int]] = {}
    for position, key in enumerate(keys):
        placed.setdefault(among[shard_of(key, len(among))], []).append(position)
    return placed


def holding(collection_id: int, num_shards: int | None, shard_count: int) -> list[int]:
    """The shards that hold a collection's rows: every shard, or ``num_shards`` of them, consecutive from
    ``collection_id`` (modulo the count), so that collections of a few shards each spread over the cluster."""
    if num_shards is None or num_shards >= shard_count:
        return list(range(shard_count))
    return sorted((collection_id + step) % shard_count for step in range(num_shards))


def split_rows(data: Any, positions: list[int], *, columnar: bool) -> Any:
    """The rows of ``data`` at ``positions``, in a shape ``insert`` takes (Arrow tables and DataFrames become rows)."""
    if hasattr(data, "take") and hasattr(data, "to_pylist"):  # a pyarrow Table or RecordBatch: its rows
        return data.take(positions).to_pylist()
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        return [{str(name): value for name, value in row.items()} for row in data.iloc[positions].to_dict("records")]
    if isinstance(data, Mapping):
        if not columnar:
            return dict(data)
        return {name: _take(column, positions, name) for name, column in data.items()}
    if isinstance(data, (list, tuple)):
        return [data[position] for position in positions]
    raise DataError(f"cannot split a {type(data).__name__} among shards")


def _take(column: Any, positions: list[int], name: str) -> Any:
    if isinstance(column, np.ndarray) or hasattr(column, "tocsr"):
        return column[positions]
    if hasattr(column, "take") and hasattr(column, "to_pylist"):  # a pyarrow Array
        return column.take(positions).to_pylist()
    if hasattr(column, "to_numpy") and hasattr(column, "iloc"):  # a pandas Series
        return column.to_numpy()[positions]
    if isinstance(column, (list, tuple, range)):
        return [column[position] for position in positions]
    raise DataError(f"column {name!r}: cannot split a {type(column).__name__} among shards")


def with_keys(part: Any, primary: str, keys: list[Any]) -> Any:
    """A part of a write with its generated primary keys added (an auto_id insert's keys come from the router)."""
    if (
        isinstance(part, Mapping)
        and all(isinstance(column, (list, tuple, np.ndarray)) for column in part.values())
        and part
    ):
        return {**part, primary: keys}
    if isinstance(part, Mapping):
        return {**part, primary: keys[0]}
    return [{**row, primary: key} for row, key in zip(part, keys, strict=True)]


def merge_hits(
    answers: list[list[list[dict[str, Any]]]], *, smaller_is_closer: bool, limit: int, offset: int
) -> list[list[dict[str, Any]]]:
    """Each query's hits over every shard, closest first, then ``offset`` and ``limit`` applied."""
    if not answers:
        return []
    merged = []
    for per_query in zip(*answers, strict=True):
        hits = [hit for shard_hits in per_query for hit in shard_hits]
        hits.sort(key=lambda hit: hit["id"])  # ties by primary key, as one node breaks them (the sort is stable)
        hits.sort(key=lambda hit: hit["distance"], reverse=not smaller_is_closer)
        merged.append(hits[offset : offset + limit])
    return merged


def merge_rows_in_key_order(
    answers: list[list[dict[str, Any]]], keys: Sequence[Any], primary: str
) -> list[dict[str, Any]]:
    """``get``'s rows from every shard, in the order the keys were asked (each key once)."""
    by_key = {row[primary]: row for rows in answers for row in rows}
    seen: set[Any] = set()
    ordered = []
    for key in keys:
        normalized = key.item() if isinstance(key, np.generic) else key
        if normalized in by_key and normalized not in seen:
            seen.add(normalized)
            ordered.append(by_key[normalized])
    return ordered


def merge_stats(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Collection statistics over every shard: row counts summed, log positions the highest."""
    merged = dict(answers[0])
    for name, value in merged.items():
        if isinstance(value, int) and not isinstance(value, bool):
            values = [int(answer[name]) for answer in answers]
            merged[name] = max(values) if name.endswith("_lsn") else sum(values)
    return merged


# The merged state of a job is its parts' first state in this order: a job is running while any part runs
# (a caller waiting for it must not stop at a part that failed while others still embed), then paused
# while any part is paused, then failed or cancelled, and done when every part is.
_STATE_RANK = {"RUNNING": 0, "PENDING": 1, "PAUSED": 2, "FAILED": 3, "CANCELLED": 4, "DONE": 5}


def merge_job(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """One job over every shard: rows and segments summed, the state by ``_STATE_RANK``, the latest finish."""
    merged = dict(answers[0])
    for name in ("rows_total", "rows_done", "rows_without_source", "segments_done"):
        merged[name] = sum(int(answer[name]) for answer in answers)
    merged["state"] = min((answer["state"] for answer in answers), key=lambda state: _STATE_RANK.get(state, 0))
    merged["progress"] = (
        merged["rows_done"] / merged["rows_total"]
        if merged["rows_total"]
        else min(float(answer["progress"]) for answer in answers)
    )
    rates = [answer["rows_per_second"] for answer in answers if answer["rows_per_second"] is not None]
    merged["rows_per_second"] = sum(rates) if rates else None
    etas = [answer["eta_seconds"] for answer in answers if answer["eta_seconds"] is not None]
    merged["eta_seconds"] = max(etas) if etas else None
    errors = [answer["error"] for answer in answers if answer["error"]]
    merged["error"] = errors[0] if errors else None
    finished = [answer["finished_at"] for answer in answers]
    merged["finished_at"] = None if any(value is None for value in finished) else max(finished)
    return merged


def in_batch(outcome: Any, positions: list[int]) -> Any:
    """A shard's outcome for its part of a write, with a row error renumbered as the row of the whole batch."""
    error: Any = getattr(outcome, "error", None)
    if not isinstance(error, EmbedbError):
        return outcome
    row = error.details.get("row")
    if not isinstance(row, int) or not 0 <= row < len(positions):
        return outcome
    message = error.message.replace(f"row {row}", f"row {positions[row]}", 1)
    return type(outcome)(type(error)(message, **{**error.details, "row": positions[row]}))


def uniform_sample(
    parts: list[tuple[np.ndarray, list[Any], int]], max_rows: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[Any]]:
    """One uniform sample of at most ``max_rows`` of a collection's rows, from every shard's own seeded sample.

    Each part is a shard's (vectors, keys, rows it holds), its vectors a uniform sample of its rows. How many of
    the sample each shard gives is a multivariate hypergeometric draw over the rows they hold, and that many are
    drawn at random from its part (a random part of a uniform sample is uniform): every row of the collection is
    equally likely to be in the sample.
    """
    matched = [count for _, _, count in parts]
    wanted = min(sum(matched), max_rows)
    shares = rng.multivariate_hypergeometric(matched, wanted) if wanted else [0] * len(parts)
    vectors: list[np.ndarray] = []
    keys: list[Any] = []
    for (shard_vectors, shard_keys, _), share in zip(parts, shares, strict=True):
        if not share:
            continue
        picked = np.sort(rng.choice(len(shard_keys), int(share), replace=False))
        vectors.append(shard_vectors[picked])
        keys.extend(shard_keys[i] for i in picked)
    dimension = parts[0][0].shape[1] if parts and parts[0][0].ndim == 2 else 0
    return (np.vstack(vectors) if vectors else np.empty((0, dimension))), keys
