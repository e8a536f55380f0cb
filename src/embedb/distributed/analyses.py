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

from embedb.evaluation import Progress, evaluate_versions

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
