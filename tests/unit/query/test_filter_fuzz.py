"""Thousands of mutated filters: each compiles and evaluates, or raises the typed filter error — nothing else."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from tests.support.filter_mutations import SCHEMA, VALID_FILTERS, mutate, rows

from embedb.errors import FilterError
from embedb.query.filters import compile_filter
from embedb.storage.ingest import prepare_batch

PARAMS: list[object] = [1, "x", [1, 2], 10**30, None, {"a": 1}, 1e308, True, 2**2_000, [[[]]]]


@pytest.fixture(scope="module")
def table() -> pa.Table:
    """``rows(12)`` as storage holds them (JSON as text, ``$meta`` for dynamic keys)."""
    batch = prepare_batch(rows(12), SCHEMA, partition_id=0, vector_keys={"vector": "vector"})
    return batch.table


@pytest.mark.parametrize("seed", range(2))
def test_mutated_filters_work_or_raise_filter_errors(seed: int, table: pa.Table) -> None:
    rng = random.Random(seed)
    outcomes = {"worked": 0, "refused": 0}
    for _ in range(1_000):
        expression = mutate(rng, rng.choice(VALID_FILTERS))
        params = {"p": rng.choice(PARAMS), "q": rng.choice(PARAMS)} if rng.random() < 0.5 else None
        try:
            mask = compile_filter(expression, SCHEMA, params=params).evaluate(table)
        except FilterError:
            outcomes["refused"] += 1
            continue
        assert mask.dtype == bool and len(mask) == table.num_rows, expression
        outcomes["worked"] += 1
    assert outcomes["worked"] > 50 and outcomes["refused"] > 50, outcomes
