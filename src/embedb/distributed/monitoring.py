"""Monitoring on a cluster: the router counts what the whole cluster answered, and every shard stores the minutes.

On one node the search operation counts each search of a model-bound field
(``embedb.monitoring.SearchMonitor``). A shard sees only its own best hits and
its own latency, so on a cluster the shards count nothing
(``SearchMonitor.recording`` is off) and say only which (collection, field,
version) a search would count under (``ShardServer.search_monitored``); the
router counts the merged answer — queries, empty answers, top-1 similarity,
its own latency, sampled query texts — per minute in ``ClusterMonitor``, and
writes the minutes every few seconds as one catalog record (``MONITOR_MINUTES``)
that every shard merges into its monitor tables. ``monitor`` and ``decay`` then
read any shard alike (the first answers), after the router wrote what it holds.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from embedb.monitoring import Minute
from embedb.monitoring.monitor import FLUSH_S, MINUTE_S

log = logging.getLogger(__name__)

# A catalog record that is not a contract operation: monitoring minutes every shard stores.
MONITOR_MINUTES = "cluster.monitor_minutes"
# Operations that read the minutes: the router writes what it holds first.
READS_THE_MINUTES = frozenset({"monitor", "decay", "drift"})  # drift reads logged query texts

MonitorKey = tuple[int, str, str]  # (collection id, field, version URI)


def minute_rows(pending: dict[tuple[int, str, str, int], Minute]) -> list[dict[str, Any]]:
    """Counted minutes as catalog-record rows (``SearchMonitor.merge_minutes`` reads them)."""
    return [
        {
            "key": list(key),
            "queries": counts.queries,
            "empty": counts.empty,
            "latency": counts.latency,
            "scores": counts.scores,
            "texts": [[when, text] for when, text in counts.texts],
            "texts_seen": counts.texts_seen,
        }
        for key, counts in pending.items()
    ]


class ClusterMonitor:
    """The router's per-minute counts of searches, written through ``write`` (a catalog record) in the background."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], None]) -> None:
        self._write = write
        self._pending: dict[tuple[int, str, str, int], Minute] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()

    def record(
        self,
        key: MonitorKey,
        *,
        queries: int,
        empty: int,
        top_scores: Sequence[float | None],
        latency_ms: float,
        texts: Sequence[str],
    ) -> None:
        """Count one search of the whole cluster; never blocks on I/O."""
        if queries <= 0:
            return
        now = time.time()
        with self._lock:
            minute = self._pending.setdefault((*key, int(now // MINUTE_S)), Minute())
            minute.add(queries=queries, empty=empty, top_scores=top_scores, latency_ms=latency_ms)
            minute.keep_texts(texts, now, self._rng)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="embedb-cluster-monitor", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        """Write the counted minutes now (kept for the next attempt if the write fails)."""
        with self._flushing:
            with self._lock:
                pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                self._write(minute_rows(pending))
            except Exception as error:  # the cluster may be restarting a shard: keep the counts for the next attempt
                log.warning("could not write %d monitoring minutes: %s", len(pending), error)
                with self._lock:
                    for key, counts in pending.items():
                        self._pending.setdefault(key, Minute()).merge(counts)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            self.flush()
