"""Policies on a cluster: the loop runs at the router over the cluster's operations; its state is in the catalog.

``set_policy`` is a decision every shard applies (each keeps the policy in its
engine's catalog, as one node does). ``run_policy`` runs the engine's own loop
(``embedb.engine.policy_loop``) here, at the router: its steps — fine-tune,
backfill, experiment, promote, roll back — are this router's operations, so each
is carried out cluster-wide. What the loop reads of its state comes from a shard
(``policy_read``); each step it takes is logged as one catalog record
(``POLICY_STEP``) that every shard writes with its engine's ``write_step``, only
over the state the step started from — so two routers running one policy never
both take a step, and every shard keeps the same history.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from embedb.distributed.log import OperationLog
from embedb.distributed.router_base import RouterBase
from embedb.distributed.shard_reads import POLICY_STEP
from embedb.engine.policy_loop import Collection, PolicyLoop, Step


@dataclass(frozen=True)
class NamedCollection:
    """A collection as the loop knows it on a cluster: by the name a shard resolved."""

    name: str


class RouterPolicyLoop(PolicyLoop):
    """The policy loop of a router: the state read from a shard, each step a catalog decision."""

    def __init__(self, router: ClusterPolicies, decide: Callable[[str, dict[str, Any]], Any]) -> None:
        super().__init__(lambda name: getattr(router, name))
        self.router = router
        self.decide = decide

    def _info(self, collection_name: str) -> Collection:
        self.router._caught_up()  # the state as every router's steps left it, not as this router last saw it
        return NamedCollection(self.router._policy_read("name", collection_name, None))

    def _serving(self, info: Collection, field: str) -> str:
        return str(self.router._policy_read("serving", info.name, field))

    def _row(self, info: Collection, field: str) -> Mapping[str, Any]:
        row: Mapping[str, Any] = self.router._policy_read("row", info.name, field)
        return row

    def _write_step(self, info: Collection, step: Step, now: float) -> tuple[str, dict[str, Any]]:
        detail = json.loads(json.dumps(step.detail, default=str))  # as one node stores it, and the log carries it
        logged = {**dataclasses.asdict(step), "seen": list(step.seen), "detail": detail}
        kept_state, kept_detail = self.decide(POLICY_STEP, {"collection_name": info.name, "step": logged, "now": now})
        return str(kept_state), dict(kept_detail)


class ClusterPolicies(RouterBase):
    """``run_policy`` of the router."""

    _policies: RouterPolicyLoop
    catalog: OperationLog

    def _run_policy(self, arguments: dict[str, Any], progress: Callable[[str, int, int], None] | None) -> Any:
        return self._policies.run_policy(
            arguments["collection_name"],
            arguments["field_name"],
            approve=arguments["approve"],
            actor=arguments["actor"],
            progress=progress,
        )

    def _caught_up(self) -> None:
        """Every shard applies the catalog log to its end: what other routers decided is in what it answers."""
        last = self.catalog.last_seq()
        if last:
            with self.lock.writing():
                self.shards.apply_catalog(last)  # its outcome is the last decision's, answered to its router
                self._cache.clear()

    def _policy_read(self, what: str, collection_name: str, field: str | None) -> Any:
        """What a shard knows of a policy (``ShardReads.policy_read``), under the router's shared lock."""
        with self.lock.reading():
            return self._answer(
                self._read_with(0, lambda shard: shard.policy_read.remote(what, collection_name, field))
            )
