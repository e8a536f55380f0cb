"""A small thread-safe LRU of loaded models, keyed by model version."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from embedb.errors import InvalidArgumentError

Key = TypeVar("Key")
Value = TypeVar("Value")


class LoadedModelCache(Generic[Key, Value]):
    """Keeps the ``capacity`` most recently used values; loads each key at most once at a time.

    Two threads asking for the same missing key wait for one load instead of
    loading twice; loads of different keys run in parallel. A failed load caches
    nothing.
    """

    def __init__(self, *, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise InvalidArgumentError(f"the model cache capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._entries: OrderedDict[Key, Value] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}

    def get_or_load(self, key: Key, load: Callable[[], Value]) -> Value:
        """Return the cached value for ``key``, calling ``load()`` once if it is missing."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            try:
                value = load()
                with self._lock:
                    self._entries[key] = value
                    self._entries.move_to_end(key)
                    while len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
                return value
            finally:
                with self._lock:
                    self._loading.pop(key, None)

    def discard(self, key: Key) -> None:
        """Forget ``key`` if it is cached."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every cached value."""
        with self._lock:
            self._entries.clear()

    def cached_keys(self) -> list[Key]:
        """Return the cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)
