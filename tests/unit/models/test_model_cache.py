"""The loaded-model LRU: eviction order, one load per key under concurrency, failed loads not cached."""

from __future__ import annotations

import threading
import time

import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import InvalidArgumentError
from embedb.models import ModelRegistry
from embedb.models.cache import LoadedModelCache


def test_least_recently_used_is_evicted() -> None:
    cache: LoadedModelCache[str, int] = LoadedModelCache(capacity=2)
    cache.get_or_load("a", lambda: 1)
    cache.get_or_load("b", lambda: 2)
    cache.get_or_load("a", lambda: -1)
    cache.get_or_load("c", lambda: 3)
    assert cache.cached_keys() == ["a", "c"]


def test_concurrent_requests_load_once() -> None:
    cache: LoadedModelCache[str, int] = LoadedModelCache(capacity=2)
    calls = []

    def slow_load() -> int:
        calls.append(1)
        time.sleep(0.05)
        return 7

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load("k", slow_load))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [7] * 8 and len(calls) == 1


def test_failed_load_caches_nothing() -> None:
    cache: LoadedModelCache[str, int] = LoadedModelCache(capacity=2)

    def failing() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.get_or_load("k", failing)
    assert cache.get_or_load("k", lambda: 5) == 5


def test_capacity_is_checked() -> None:
    with pytest.raises(InvalidArgumentError):
        LoadedModelCache(capacity=0)


def test_registry_loads_each_version_once_and_forgets_deleted_ones(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER, alias="champion")
    assert fresh_registry.load("toy@champion") is fresh_registry.load("models:/toy/1")
    fresh_registry.delete_alias("toy", "champion")
    fresh_registry.delete_version("toy", 1)
    assert fresh_registry.cached_versions() == []
