"""A cluster's sample of stored rows (drift, index tuning): one uniform draw over every shard's rows, from each shard's own draw."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from embedb.distributed.routing import uniform_sample


def _shard(first_key: int, matched: int, drawn: int) -> tuple[np.ndarray, list[Any], int]:
    """A shard's own draw: ``drawn`` of its ``matched`` rows (vector = (key, key))."""
    keys = list(range(first_key, first_key + drawn))
    return np.array([[key, key] for key in keys], dtype=np.float64).reshape(drawn, 2), keys, matched


def test_the_shares_follow_how_many_rows_each_shard_matched() -> None:
    # shard 0 matched 900 rows, shard 1 100, shard 2 none: over many seeds, about 9 of 10 rows come from shard 0
    shards = [_shard(0, 900, 10), _shard(1000, 100, 10), _shard(2000, 0, 0)]
    taken: Counter[int] = Counter()
    for seed in range(300):
        vectors, keys = uniform_sample(shards, 10, np.random.default_rng(seed))
        assert len(keys) == 10 and vectors.shape == (10, 2)
        assert [vector[0] for vector in vectors] == keys  # each vector stays with its key
        taken.update(key // 1000 for key in keys)
    assert taken[2] == 0
    assert taken[0] / 3000 == pytest.approx(0.9, abs=0.02)


def test_fewer_matching_rows_than_asked_are_all_taken() -> None:
    shards = [_shard(0, 3, 3), _shard(1000, 2, 2)]
    vectors, keys = uniform_sample(shards, 10, np.random.default_rng(0))
    assert sorted(keys) == [0, 1, 2, 1000, 1001]
    assert vectors.shape == (5, 2)


def test_no_matching_row_is_an_empty_sample_of_the_fields_dimension() -> None:
    vectors, keys = uniform_sample([_shard(0, 0, 0), _shard(1000, 0, 0)], 10, np.random.default_rng(0))
    assert keys == [] and vectors.shape == (0, 2)
