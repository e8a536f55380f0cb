"""Placing rows on shards and merging shard answers: the router's pure half, checked against one node's answer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedb.contract import OPERATIONS
from embedb.distributed.grouping import GROUPS_PARAMETER, best_groups, group_filter, group_values, merged_groups
from embedb.distributed.routes import ROUTES
from embedb.distributed.routing import (
    holding,
    in_batch,
    merge_hits,
    merge_job,
    merge_rows_in_key_order,
    merge_stats,
    owners,
    shard_of,
    split_rows,
    with_keys,
)
from embedb.distributed.shard_base import Failed
from embedb.errors import DataError


def test_every_operation_has_exactly_one_route() -> None:
    assert set(ROUTES) == set(OPERATIONS)


def test_a_key_has_one_owner_the_same_in_every_process() -> None:
    # Fixed values: the hash must not depend on Python's per-process string hashing.
    assert [shard_of(key, 4) for key in (0, 1, 2, 3, 2**62, -5)] == [
        shard_of(key, 4) for key in (0, 1, 2, 3, 2**62, -5)
    ]
    assert shard_of("doc-1", 7) == shard_of("doc-1", 7)
    assert shard_of(np.int64(12345), 5) == shard_of(12345, 5)


def test_consecutive_and_generated_keys_spread_over_every_shard() -> None:
    generated = [(1_796_589_000_000 << 20) + i for i in range(4000)]  # what an auto_id insert makes
    for keys in (list(range(4000)), generated, [f"doc-{i}" for i in range(4000)]):
        counts = np.bincount([shard_of(key, 4) for key in keys], minlength=4)
        assert counts.min() > 800, counts


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=50), st.integers(1, 6))
def test_owners_place_every_row_once(keys: list[int], shards: int) -> None:
    placed = owners(keys, shards)
    positions = sorted(p for group in placed.values() for p in group)
    assert positions == list(range(len(keys)))
    assert all(shard_of(keys[p], shards) == shard for shard, group in placed.items() for p in group)


@given(st.integers(1, 10_000), st.integers(1, 12), st.integers(1, 12))
def test_a_collection_is_held_by_num_shards_distinct_shards(collection_id: int, asked: int, shard_count: int) -> None:
    held = holding(collection_id, asked, shard_count)
    assert len(held) == min(asked, shard_count) == len(set(held))
    assert all(0 <= shard < shard_count for shard in held) and held == sorted(held)
    placed = owners(list(range(40)), held)
    assert set(placed) <= set(held) and sorted(p for group in placed.values() for p in group) == list(range(40))


def test_collections_of_one_shard_spread_and_older_ones_use_every_shard() -> None:
    assert [holding(collection_id, 1, 4) for collection_id in (1, 2, 3, 4)] == [[1], [2], [3], [0]]
    assert holding(7, None, 3) == holding(7, 3, 3) == holding(7, 9, 3) == [0, 1, 2]
    assert owners([5, 6, 7], list(range(3))) == owners([5, 6, 7], 3), "every shard: placed as before num_shards"


def test_split_rows_keeps_each_input_shape_readable() -> None:
    rows = [{"id": i, "v": [float(i)]} for i in range(5)]
    assert split_rows(rows, [4, 1], columnar=False) == [rows[4], rows[1]]
    columns = {"id": [0, 1, 2], "v": np.arange(6, dtype=np.float32).reshape(3, 2)}
    part = split_rows(columns, [2, 0], columnar=True)
    assert part["id"] == [2, 0]
    assert part["v"].tolist() == [[4.0, 5.0], [0.0, 1.0]]
    table = pa.table({"id": [0, 1, 2], "tag": ["a", "b", "c"]})
    assert split_rows(table, [1], columnar=True) == [{"id": 1, "tag": "b"}]
    one_row = {"id": 9, "v": [1.0, 2.0]}
    assert split_rows(one_row, [0], columnar=False) == one_row


def test_generated_keys_join_rows_and_columns() -> None:
    assert with_keys([{"v": 1}, {"v": 2}], "id", [7, 8]) == [{"v": 1, "id": 7}, {"v": 2, "id": 8}]
    assert with_keys({"v": [1, 2]}, "id", [7, 8]) == {"v": [1, 2], "id": [7, 8]}


def _hits(pairs: list[tuple[int, float]]) -> list[dict[str, object]]:
    return [{"id": key, "distance": distance, "entity": {}} for key, distance in pairs]


@pytest.mark.parametrize("smaller_is_closer", [True, False])
def test_merged_hits_are_the_top_k_of_the_union(smaller_is_closer: bool) -> None:
    rng = np.random.default_rng(3)
    everything = [(key, float(distance)) for key, distance in enumerate(rng.random(60))]
    shards = [[pair for pair in everything if pair[0] % 3 == shard] for shard in range(3)]
    ordered = sorted(everything, key=lambda pair: pair[1], reverse=not smaller_is_closer)
    # each shard answers its own top (limit + offset), as the router asks
    answers = [[_hits(sorted(part, key=lambda pair: pair[1], reverse=not smaller_is_closer)[:9])] for part in shards]
    merged = merge_hits(answers, smaller_is_closer=smaller_is_closer, limit=5, offset=4)
    assert [hit["id"] for hit in merged[0]] == [key for key, _ in ordered[4:9]]


def test_get_rows_come_back_in_the_order_asked_each_once() -> None:
    answers = [[{"id": 1, "x": "a"}], [{"id": 5, "x": "b"}, {"id": 3, "x": "c"}]]
    assert [row["id"] for row in merge_rows_in_key_order(answers, [5, 9, 1, 5, np.int64(3)], "id")] == [5, 1, 3]


def test_stats_sum_rows_and_keep_the_highest_log_position() -> None:
    first = {
        "row_count": 3,
        "deleted_rows": 1,
        "growing_rows": 3,
        "sealed_segments": 0,
        "wal_bytes": 10,
        "last_lsn": 4,
        "checkpoint_lsn": 2,
    }
    second = {**first, "row_count": 5, "last_lsn": 9}
    merged = merge_stats([first, second])
    assert merged["row_count"] == 8 and merged["last_lsn"] == 9 and merged["deleted_rows"] == 2


def _job(state: str, done: int, total: int, finished: float | None) -> dict[str, object]:
    return {
        "job_id": 1, "kind": "backfill", "collection_name": "c", "field": "f", "model_version": "m/1", "state": state,
        "rows_total": total, "rows_done": done, "rows_without_source": 0, "segments_done": 1,
        "progress": done / total if total else 1.0, "rows_per_second": 10.0, "eta_seconds": None, "error": None,
        "created_at": 1.0, "finished_at": finished,
    }  # fmt: skip


def test_a_job_is_done_only_when_every_shard_is_done() -> None:
    merged = merge_job([_job("DONE", 10, 10, 5.0), _job("RUNNING", 5, 20, None)])
    assert merged["state"] == "RUNNING"
    assert merged["rows_done"] == 15 and merged["rows_total"] == 30
    assert merged["progress"] == pytest.approx(0.5)
    assert merged["finished_at"] is None
    assert merge_job([_job("DONE", 10, 10, 5.0), _job("DONE", 20, 20, 7.0)])["finished_at"] == 7.0


@pytest.mark.parametrize(
    ("parts", "merged"),
    [
        (["FAILED", "RUNNING", "DONE"], "RUNNING"),  # a waiter keeps waiting while a part still embeds
        (["FAILED", "PAUSED"], "PAUSED"),
        (["FAILED", "DONE", "DONE"], "FAILED"),
        (["CANCELLED", "DONE"], "CANCELLED"),
        (["PENDING", "DONE"], "PENDING"),
        (["DONE", "DONE"], "DONE"),
    ],
)
def test_a_job_is_running_while_any_part_runs(parts: list[str], merged: str) -> None:
    assert merge_job([_job(state, 1, 1, None) for state in parts])["state"] == merged


def test_equal_distances_are_ordered_by_primary_key_as_one_node_orders_them() -> None:
    answers = [[_hits([(9, 0.0), (6, 0.0)])], [_hits([(3, 0.0), (0, 0.0)])]]
    assert [hit["id"] for hit in merge_hits(answers, smaller_is_closer=True, limit=3, offset=0)[0]] == [0, 3, 6]


def test_a_shards_row_error_names_the_row_of_the_whole_batch() -> None:
    failed = Failed(DataError("row 1: field 'v' expects dimension 2, got 3", row=1, field="v"))
    renumbered = in_batch(failed, [4, 7, 9])
    assert isinstance(renumbered, Failed)
    assert renumbered.error.message == "row 7: field 'v' expects dimension 2, got 3"
    assert renumbered.error.details == {"row": 7, "field": "v"}
    assert in_batch("fine", [4]) == "fine"


def test_groups_by_best_hit_with_keys_and_nulls() -> None:
    first = [
        [{"id": 1, "distance": 0.1, "entity": {"g": "a"}}, {"id": 2, "distance": 0.5, "entity": {"g": None}}],
        [{"id": 3, "distance": 0.2, "entity": {"g": None}}, {"id": 4, "distance": 0.3, "entity": {"g": "b"}}],
    ]
    assert best_groups(first, "g", 2, smaller_is_closer=True, primary="id") == ["a", None]
    assert best_groups(first, "id", 2, smaller_is_closer=True, primary="id") == [1, 3]
    members = merged_groups(first, "g", ["a", None], group_size=1, offset=1, smaller_is_closer=True, primary="id")
    assert [hit["id"] for hit in members] == [3]
    assert group_filter("g", "x > 1", ["a", None]) == f"(x > 1) and (g in {{{GROUPS_PARAMETER}}} or g is null)"
    assert group_filter("g", "", [None]) == "g is null"
    assert group_values(["a", None]) == ["a"]
