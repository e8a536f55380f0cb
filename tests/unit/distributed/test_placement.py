"""Where a cluster's shard actors start: a shard's replicas on different nodes, primaries spread."""

from __future__ import annotations

from collections import Counter

import pytest

from embedb.distributed.shard_set import _placement

NODES = [letter * 56 for letter in "abc"]  # Ray node ids are 28 bytes in hex


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_a_shards_replicas_start_on_different_nodes(replicas: int) -> None:
    for shard in range(7):
        nodes = {_placement(NODES, shard, replica).node_id for replica in range(replicas)}
        assert len(nodes) == replicas


def test_primaries_spread_over_the_nodes_and_the_affinity_is_soft() -> None:
    primaries = [_placement(NODES, shard, 0) for shard in range(6)]
    assert Counter(strategy.node_id for strategy in primaries) == dict.fromkeys(NODES, 2)
    # soft: an actor whose node is gone restarts elsewhere instead of waiting for the node forever
    assert all(strategy.soft for strategy in primaries)


def test_more_replicas_than_nodes_share_nodes_rather_than_fail() -> None:
    nodes = {_placement(NODES[:1], 0, replica).node_id for replica in range(2)}
    assert nodes == {NODES[0]}
