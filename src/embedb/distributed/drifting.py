"""``drift`` on a cluster: samples drawn over every shard, nearest neighbours searched over the cluster, statistics at the router.

One node's ``DriftOperation`` runs here in its parts:

- the request is checked by the first shard (``DriftOperation.plan``: the same errors as one node);
- a sample of query texts, vectors or a logged window of query texts is the same on
  every shard (the search monitor's minutes are replicated): one shard draws it, and
  embeds texts once;
- a sample of stored rows (``{"filter": ...}``) is one seeded draw over the whole
  collection: every shard draws up to ``max_rows`` of its own matching rows and says
  how many matched; the router splits ``max_rows`` among the shards by a
  multivariate hypergeometric draw over those counts and keeps that many of each
  shard's rows, drawn at random (a random part of a uniform sample is uniform) —
  so every matching row of the collection is equally likely to be in the sample;
- the ``ood`` test's nearest stored rows come from a search of the whole cluster
  with the sample's vectors, pinned to the plan's version;
- the statistics (``embedb.evaluation.drift``) run at the router on the merged samples.

With a seed, a cluster's answer is reproducible, but its samples are drawn per
shard, so they are not the ones one node would draw on the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedb.contract.results import DriftReport
from embedb.distributed.routing import merge_hits
from embedb.distributed.searching import ClusterSearch
from embedb.engine.drift import NEIGHBOURS, DriftPlan, drift_report, nearest_distances, sample_kind

ROLES = ("reference", "current")


class ClusterDrift(ClusterSearch):
    """The ``drift`` operation over every shard."""

    def _drift(self, arguments: dict[str, Any]) -> DriftReport:
        # Each step takes the router's lock on its own (a decision waits for a step, not for the whole test);
        # every step reads the plan's version, pinned.
        with self.lock.reading():
            plan: DriftPlan = self._answer(self._read_with(0, lambda shard: shard.drift_plan.remote(arguments)))
        samples = {role: self._drift_sample(arguments, plan, role, number) for number, role in enumerate(ROLES)}
        distances = {}
        if "ood" in plan.tests:
            distances = {role: self._nearest(plan, *sample) for role, sample in samples.items()}
        return drift_report(
            plan,
            samples,
            distances,
            alpha=arguments["alpha"],
            permutations=arguments["permutations"],
            seed=arguments["seed"],
        )

    def _drift_sample(
        self, arguments: dict[str, Any], plan: DriftPlan, role: str, number: int
    ) -> tuple[np.ndarray, list[Any] | None]:
        """One role's sample: (vectors, their keys when they are stored rows)."""
        seed = [int(arguments["seed"]), number]
        kind, _ = sample_kind(arguments[role], role)
        pinned = {**arguments, "embedding_version": plan.version.uri if plan.version is not None else None}
        if kind != "filter":  # the same on every shard: one of them draws it (and embeds texts once)
            with self.lock.reading():
                vectors, _, _ = self._answer(self.shards.read_any(_sampler(pinned, role, seed)))
            return vectors, None
        return self._whole_sample(lambda shard_seed: _sampler(pinned, role, shard_seed), seed, plan.max_rows)

    def _nearest(self, plan: DriftPlan, vectors: np.ndarray, keys: list[Any] | None) -> np.ndarray:
        """Each sample item's distance to its nearest stored row other than itself, over every shard."""
        if not len(vectors):
            return np.empty(0)
        assert plan.field.metric_type is not None
        search = {
            "collection_name": plan.info.name,
            "data": np.ascontiguousarray(vectors, dtype=np.float32),
            "anns_field": plan.field.name,
            "limit": NEIGHBOURS,
            "offset": 0,
            "filter": "",
            "output_fields": [],
            "embedding_version": plan.version.uri if plan.version is not None else None,
        }
        answers, _ = self._fanned_search(search)
        hits = merge_hits(
            answers, smaller_is_closer=plan.field.metric_type.smaller_is_closer, limit=NEIGHBOURS, offset=0
        )
        return nearest_distances(hits, vectors, keys, plan.field.metric_type, plan.info.name)


def _sampler(arguments: dict[str, Any], role: str, seed: list[int]) -> Callable[[Any], Any]:
    return lambda shard: shard.drift_sample.remote(arguments, role, seed)
