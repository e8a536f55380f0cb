"""``RouterBase``: what every part of the router shares — the shard set, the lock, the cache, and how to ask shards.

``RayBackend`` is assembled from parts that each carry some operations
(``ClusterSearch``, ``ClusterAnalyses``, ``MergedReads``); they all read the
shards through the helpers here: ``_read`` / ``_read_with`` one shard (its
live replica), ``_read_all`` every shard, ``_every`` an operation on every
shard under the router's shared lock, ``_cached`` what the first shard said
since the router's last decision, and ``_answer`` an outcome (raising a
shard's deliberate error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedb.distributed.experiments import ClusterExperiments
from embedb.distributed.monitoring import ClusterMonitor
from embedb.distributed.routing import holding, uniform_sample
from embedb.distributed.shard_base import CollectionView, Failed, ReadWriteLock
from embedb.distributed.shard_set import ShardSet
from embedb.schema import MetricType

_MISSING = object()


class RouterBase:
    """The router's shared state and its ways of asking shards."""

    shards: ShardSet
    lock: ReadWriteLock
    _cache: dict[tuple[str, ...], Any]
    _experiments: ClusterExperiments
    _monitor: ClusterMonitor

    def _every(self, name: str, arguments: dict[str, Any], shards: list[int] | None = None) -> list[Any]:
        """``name`` asked of every shard (or of ``shards``), under the router's shared lock; their answers."""
        with self.lock.reading():
            outcomes = self._read_all(lambda shard: shard.call.remote(name, arguments), shards)
        return [self._answer(outcome) for outcome in outcomes]

    # ------------------------------------------------------------ helpers

    def _cached(self, key: tuple[str, ...], read: Callable[[], Any]) -> Any:
        """What the first shard said of ``key`` since this router's last decision (read once; threads may race to it)."""
        found = self._cache.get(key, _MISSING)
        if found is _MISSING:
            found = read()
            self._cache[key] = found
        return found

    def _primary(self, collection_name: str) -> str:
        description = self._cached(
            ("primary", collection_name),
            lambda: self._answer(self._read(0, "describe_collection", {"collection_name": collection_name})),
        )
        return str(description["primary_field"])

    def _view(self, collection: str) -> CollectionView:
        """The collection as the first shard has it since the router's last decision (one call per decision);
        raises the shard's error for a collection it does not have."""
        view: CollectionView = self._cached(
            ("view", collection),
            lambda: self._answer(self._read_with(0, lambda shard: shard.collection_view.remote(collection))),
        )
        return view

    def _holders(self, collection: str) -> list[int]:
        """The shards that hold a collection's rows (``routing.holding``)."""
        view = self._view(collection)
        return holding(view.collection_id, view.num_shards, len(self.shards.replicas))

    def _closer_first(self, collection_name: str, anns_field: str | None) -> bool:
        return MetricType(self._metric(collection_name, anns_field)).smaller_is_closer

    def _metric(self, collection_name: str, anns_field: str | None) -> str:
        """The metric a search of this field ranks by, asked of the first shard once per decision (searches ask often)."""
        return str(
            self._cached(
                ("metric", collection_name, anns_field or ""),
                lambda: self._answer(
                    self._read_with(0, lambda shard: shard.metric.remote(collection_name, anns_field))
                ),
            )
        )

    def _whole_sample(
        self, sampler: Callable[[list[int]], Callable[[Any], Any]], seed: list[int], max_rows: int
    ) -> tuple[np.ndarray, list[Any]]:
        """One seeded uniform sample of a collection's rows: each shard draws its own (``sampler(seed + [shard])``
        gives the call: its vectors, keys and row count), and ``uniform_sample`` draws the collection's from them."""
        calls = {index: sampler([*seed, index]) for index in range(len(self.shards.replicas))}
        with self.lock.reading():
            answers = self.shards.read_each(calls)
        parts = [self._answer(answers[index]) for index in sorted(answers)]
        return uniform_sample(parts, max_rows, np.random.default_rng(seed))

    def _read(self, index: int, name: str, arguments: dict[str, Any]) -> Any:
        return self._read_with(index, lambda shard: shard.call.remote(name, arguments))

    def _read_with(self, index: int, call: Callable[[Any], Any]) -> Any:
        return self.shards.read(index, call)

    def _read_all(self, call: Callable[[Any], Any], shards: list[int] | None = None) -> list[Any]:
        return self.shards.read_all(call, shards=shards)

    @staticmethod
    def _answer(outcome: Any) -> Any:
        if isinstance(outcome, Failed):
            raise outcome.error
        return outcome
