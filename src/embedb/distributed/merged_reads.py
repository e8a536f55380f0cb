"""``MergedReads``: the router's reads that every shard answers and the router merges into one answer.

A mixin of ``RayBackend``: each method is one operation routed ``EVERY``
(``embedb.distributed.routes``), asked of one replica of every shard through
``_every`` / ``_read_all`` and merged with ``embedb.distributed.routing``.
"""

from __future__ import annotations

import time
from typing import Any

from embedb.distributed.router_base import RouterBase
from embedb.distributed.routing import merge_job, merge_stats
from embedb.errors import UnavailableError

# How long a wait without a timeout waits for a shard that is restarting before it gives up.
RESTART_WAIT_S = 300.0


class MergedReads(RouterBase):
    """Describe, stats, jobs, flush and compact over every shard."""

    def _describe_collection(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The first shard's description, with each embedding version's rows counted over every shard and the
        number of shards that hold its rows."""
        answers = self._every("describe_collection", arguments)
        merged = dict(answers[0])
        merged["num_shards"] = len(self._holders(arguments["collection_name"]))
        merged["embedding_versions"] = {
            field: [
                {**version, "rows": sum(int(answer["embedding_versions"][field][i]["rows"]) for answer in answers)}
                for i, version in enumerate(versions)
            ]
            for field, versions in answers[0].get("embedding_versions", {}).items()
        }
        return merged

    def _describe_index(self, arguments: dict[str, Any]) -> dict[str, Any]:
        answers = self._every("describe_index", arguments)
        merged = dict(answers[0])
        for name in ("total_rows", "indexed_rows", "pending_index_rows", "exact_rows", "index_bytes"):
            merged[name] = sum(int(answer[name]) for answer in answers)
        merged["segments"] = {
            state: sum(int(answer["segments"].get(state, 0)) for answer in answers) for state in answers[0]["segments"]
        }
        merged["failures"] = [failure for answer in answers for failure in answer["failures"]]
        states = {answer["state"] for answer in answers}
        merged["state"] = (
            "Failed" if "Failed" in states else "InProgress" if "InProgress" in states else answers[0]["state"]
        )
        return merged

    def _list_jobs(self, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        answers = self._every("list_jobs", arguments)
        by_job: dict[int, list[dict[str, Any]]] = {}
        for jobs in answers:
            for job in jobs:
                by_job.setdefault(int(job["job_id"]), []).append(job)
        return [merge_job(jobs) for _, jobs in sorted(by_job.items())]

    def _get_job(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return merge_job(self._every("get_job", arguments))

    def _wait_job(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Wait on every shard's part of a job; a shard that restarts meanwhile is waited for (its part resumes).

        Not under the router's lock: a decision must not wait for a backfill that waits for it.
        """
        timeout = arguments.get("timeout")
        deadline = time.monotonic() + (RESTART_WAIT_S if timeout is None else float(timeout))
        while True:
            try:
                outcomes = self._read_all(lambda shard: shard.call.remote("wait_job", arguments))
                return merge_job([self._answer(outcome) for outcome in outcomes])
            except UnavailableError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _get_collection_stats(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return merge_stats(self._every("get_collection_stats", arguments))

    def _flush(self, arguments: dict[str, Any]) -> None:
        self._every("flush", arguments)

    def _compact(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"merged_segments": sum(int(answer["merged_segments"]) for answer in self._every("compact", arguments))}
