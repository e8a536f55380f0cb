"""Offline evaluation on a cluster: the router scores rankings of the whole collection; each shard measures its own index.

``evaluate_search`` needs no seam of its own: ``embedb.evaluation.evaluate_configs``
runs at the router with each configuration run over the whole cluster
(``embedb.distributed.configured.run_config``).

``evaluate`` on one node embeds the labelled queries with each version, searches,
scores and gates (``embedb.evaluation.evaluate_versions``). On a cluster the same
function runs at the router with two seams: the search of a version is a search of
the whole cluster with that ``embedding_version`` (the shards embed the query text),
and the ANN check asks every shard to measure its own index on those queries against
exact search; ``merged_ann`` reports them as one: recall the mean of the shards'
(each a third of the rows, say, measured on its own top k), segments summed, latency
the slowest shard's (a search waits for it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from embedb.distributed.configured import run_config
from embedb.distributed.searching import ClusterSearch
from embedb.evaluation import Progress, evaluate_configs, evaluate_versions

SearchIds = Callable[[str, list[str], int], list[list[Any]]]
ShardAnn = Callable[[str, list[str], int], list[dict[str, Any]]]


def merged_ann(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """One ANN check from every shard's."""
    merged = dict(answers[0])
    merged["recall_at_k"] = float(np.mean([answer["recall_at_k"] for answer in answers]))
    for name in ("p50_ms", "p99_ms"):
        merged[name] = max(float(answer[name]) for answer in answers)
    for name in ("indexed_segments", "sealed_segments"):
        merged[name] = sum(int(answer[name]) for answer in answers)
    merged["shards"] = len(answers)
    return merged


def evaluate_on_cluster(
    *,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    versions: Sequence[str],
    search: SearchIds,
    shard_ann: ShardAnn | None,
    k: int,
    baseline: str | None,
    candidate: str | None,
    metric: str,
    min_delta: float,
    progress: Progress | None,
) -> dict[str, Any]:
    """``evaluate_versions`` with the cluster's search and its shards' ANN checks (queries travel as text)."""

    def search_texts(ref: str, texts: np.ndarray, depth: int) -> list[list[Any]]:
        return search(ref, [str(text) for text in texts], depth)

    def check(ref: str, texts: np.ndarray, depth: int) -> dict[str, Any]:
        assert shard_ann is not None
        return merged_ann(shard_ann(ref, [str(text) for text in texts], depth))

    return evaluate_versions(
        queries=queries,
        qrels=qrels,
        versions=versions,
        embed=_as_texts,
        search=search_texts,
        k=k,
        baseline=baseline,
        candidate=candidate,
        metric=metric,
        min_delta=min_delta,
        ann_check=check if shard_ann is not None else None,
        progress=progress,
    )


def _as_texts(_: str, texts: list[str]) -> np.ndarray:
    return np.asarray(texts, dtype=object)  # the shards embed the query text with each version


class ClusterAnalyses(ClusterSearch):
    """evaluate and evaluate_search at the router."""

    def _evaluate(self, arguments: dict[str, Any], progress: Any) -> dict[str, Any]:
        """Offline evaluation: rankings scored here over the whole collection, indexes measured by each shard."""
        collection, field = arguments["collection_name"], arguments["field_name"]
        name = self._answer(self._read(0, "describe_collection", {"collection_name": collection}))["collection_name"]

        def search(ref: str, texts: list[str], depth: int) -> list[list[Any]]:
            hits = self._search(
                {"collection_name": collection, "data": texts, "anns_field": field, "limit": depth, "offset": 0,
                 "filter": "", "output_fields": [], "embedding_version": ref}
            )  # fmt: skip
            return [[hit["id"] for hit in query_hits] for query_hits in hits]

        def shard_ann(ref: str, texts: list[str], depth: int) -> list[dict[str, Any]]:
            outcomes = self._read_all(lambda shard: shard.measure_ann.remote(collection, field, ref, texts, depth))
            return [self._answer(outcome) for outcome in outcomes]

        report = evaluate_on_cluster(
            queries=arguments["queries"],
            qrels=arguments["qrels"],
            versions=arguments.get("versions") or [],
            search=search,
            shard_ann=shard_ann if arguments.get("ann_check", True) else None,
            progress=progress,
            **_scoring(arguments),
        )
        for ref, entry in report["versions"].items():
            entry["model_version"] = self._version_uri(collection, field, ref)
        return {"collection_name": name, "field": field, **report}

    def _version_uri(self, collection_name: str, field_name: str, ref: str) -> str:
        return str(
            self._answer(self._read_with(0, lambda shard: shard.version_uri.remote(collection_name, field_name, ref)))
        )

    def _evaluate_search(self, arguments: dict[str, Any], progress: Any) -> dict[str, Any]:
        """Search configurations scored at the router, each run over the whole cluster."""
        collection = arguments["collection_name"]
        name = self._answer(self._read(0, "describe_collection", {"collection_name": collection}))["collection_name"]

        def resolve(ref: str) -> tuple[str, dict[str, Any]]:
            uri, config = self._answer(self._read_with(0, lambda shard: shard.registered_config.remote(ref)))
            return str(uri), dict(config)

        def run(config: dict[str, Any], texts: list[str], depth: int) -> list[list[Any]]:
            hits = run_config(
                config, texts, {"collection_name": collection, "output_fields": []}, limit=depth, offset=0,
                search=self._search, hybrid_search=self._hybrid_search,
            )  # fmt: skip
            return [[hit["id"] for hit in query_hits] for query_hits in hits]

        report = evaluate_configs(
            queries=arguments["queries"],
            qrels=arguments["qrels"],
            configs=arguments["configs"],
            resolve=resolve,
            run=run,
            progress=progress,
            **_scoring(arguments),
        )
        return {"collection_name": name, "field": "", **report}


def _scoring(arguments: dict[str, Any]) -> dict[str, Any]:
    """How an evaluation scores and gates, from its arguments (the contract's defaults where not given)."""
    return {
        "k": arguments.get("k", 10),
        "baseline": arguments.get("baseline"),
        "candidate": arguments.get("candidate"),
        "metric": arguments.get("metric", "ndcg@10"),
        "min_delta": arguments.get("min_delta", 0.0),
    }
