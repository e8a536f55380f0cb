"""Experiments on a cluster: the router chooses each query's arm once and logs it where every shard sees it.

On one node the search operation routes a text query inside a running
experiment (``embedb.experiments.routing``). On a cluster each shard would
route on its own — different query ids, different arms — so the router does
it once: ``ClusterExperiments.search`` runs the same ``route`` with each arm's
search being a search of the whole cluster with that arm's ``embedding_version``
(which shards answer without routing), and logs the queries into a buffer.
The buffer is written, in batches, as one catalog record (``EXPERIMENT_LOG``)
that every shard applies in log order: every shard holds the same query log,
so reports, feedback, verdicts and ``promote_experiment`` agree everywhere
and survive a shard's restart. The router flushes the buffer before anything
that reads the log (feedback, reports, ending an experiment).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from embedb.experiments import Arm, ExperimentRecord, QueryLog, QueryLogEntry, RouteContext, route

# A catalog record that is not a contract operation: experiment query log entries every shard stores.
EXPERIMENT_LOG = "cluster.experiment_log"
# Operations that read or end an experiment's log: the router's buffer is written first.
READS_THE_LOG = frozenset(
    {
        "feedback", "experiment_report", "experiment_trajectory", "get_experiment", "list_experiments",
        "stop_experiment", "promote_experiment", "promote", "rollback", "fine_tune",
    }
)  # fmt: skip
MAX_SHADOW_BACKLOG = 64


def entries_as_arguments(entries: list[QueryLogEntry]) -> dict[str, Any]:
    return {"entries": [dataclasses.asdict(entry) for entry in entries]}


def entries_from_arguments(arguments: dict[str, Any]) -> list[QueryLogEntry]:
    return [QueryLogEntry(**{**entry, "arm": Arm(entry["arm"])}) for entry in arguments["entries"]]


class ClusterExperiments:
    """The router's half of experiments: routing searches, buffering their log, running shadow searches."""

    def __init__(self, write_log: Callable[[list[QueryLogEntry]], None]) -> None:
        self.log: QueryLog[QueryLogEntry] = QueryLog(lambda batch: write_log(list(batch)))
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedb-shadow")
        self._pending: set[concurrent.futures.Future[None]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def search(
        self,
        record: ExperimentRecord,
        texts: list[str],
        *,
        search_arm: Callable[[list[str], str, int, int], list[list[dict[str, Any]]]],
        indexes: dict[str, str],
        limit: int,
        offset: int,
        user_key: str | None,
    ) -> list[list[dict[str, Any]]]:
        """Answer ``texts`` as the experiment says (see ``embedb.experiments.routing``), logging each query."""
        context = RouteContext(record, search_arm, self.log.append, self._submit, indexes)
        return route(context, texts, limit=limit, offset=offset, user_key=user_key)

    def _submit(self, task: Callable[[], None]) -> bool:
        with self._lock:
            if self._closed or len(self._pending) >= MAX_SHADOW_BACKLOG:
                return False
            future = self._executor.submit(task)
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return True

    def flush(self) -> None:
        """Wait for the shadow searches in flight, then write every buffered entry."""
        with self._lock:
            pending = list(self._pending)
        concurrent.futures.wait(pending, timeout=60)
        self.log.flush(timeout=60)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True)
        self.log.close()
