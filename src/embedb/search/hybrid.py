"""Hybrid search: several searches of one collection (dense and sparse fields, each with its own filter) fused into one ranking.

Milvus's two rankers:

- ``{"strategy": "rrf", "params": {"k": 60}}``: reciprocal rank fusion, a hit
  scores ``sum 1 / (k + rank)`` over the searches that found it (rank from 1);
- ``{"strategy": "weighted", "params": {"weights": [w1, w2, ...], "norm_score": true}}``:
  ``sum w_i * s_i``, each search's distance first mapped to [0, 1] so that
  larger is closer, as Milvus does (IP and BM25: ``0.5 + atan(d) / pi``;
  COSINE: ``(1 + d) / 2``; L2, HAMMING, JACCARD: ``1 - 2 atan(d) / pi``);
  without ``norm_score`` the raw distances are summed.

Each hit keeps the entity its searches returned; the fused score is its ``distance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from embedb.errors import InvalidArgumentError
from embedb.schema import MetricType

RRF_DEFAULT_K = 60
REQUEST_KEYS = frozenset({"data", "anns_field", "param", "limit", "expr", "filter", "expr_params", "filter_params"})


def checked_requests(reqs: Any) -> list[dict[str, Any]]:
    """The sub-searches of a hybrid search as dicts; ``InvalidArgumentError`` names a bad one."""
    if not isinstance(reqs, Sequence) or isinstance(reqs, (str, bytes)) or not reqs:
        raise InvalidArgumentError("hybrid_search needs a non-empty list of search requests", argument="reqs")
    checked = []
    for index, request in enumerate(reqs):
        if not isinstance(request, Mapping):
            raise InvalidArgumentError(
                f"reqs[{index}] must be a dict (data, anns_field, param, limit, expr)", argument="reqs"
            )
        unknown = sorted(set(request) - REQUEST_KEYS)
        if unknown or "data" not in request or not isinstance(request.get("anns_field"), str):
            raise InvalidArgumentError(
                f"reqs[{index}] needs data and anns_field (and may give param, limit, expr, expr_params), not {unknown or sorted(request)}",
                argument="reqs",
            )
        limit = request.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidArgumentError(
                f"reqs[{index}]: limit must be a whole number >= 1, got {limit!r}", argument="reqs"
            )
        if request["data"] is None:
            raise InvalidArgumentError(f"reqs[{index}]: data holds no query (vectors or text)", argument="reqs")
        checked.append(dict(request))
    return checked


def normalized(distance: float, metric: MetricType) -> float:
    """A distance as a closeness in [0, 1] (Milvus's normalisation for the weighted ranker)."""
    if metric is MetricType.COSINE:
        return (1.0 + distance) / 2.0
    if metric.smaller_is_closer:
        return 1.0 - 2.0 * math.atan(distance) / math.pi
    return 0.5 + math.atan(distance) / math.pi


def fuse(
    results: Sequence[Sequence[Sequence[Mapping[str, Any]]]],
    metrics: Sequence[MetricType],
    ranker: Mapping[str, Any] | None,
    top: int,
) -> list[list[dict[str, Any]]]:
    """Per query, the ``top`` hits of all searches ranked by the fused score (ties: the first search's order)."""
    strategy, params = checked_ranker(ranker, len(results))
    fused: list[list[dict[str, Any]]] = []
    for query in range(len(results[0])):
        scores: dict[Any, float] = {}
        entities: dict[Any, dict[str, Any]] = {}
        for search, (hits, metric) in enumerate(zip((r[query] for r in results), metrics, strict=True)):
            for rank, hit in enumerate(hits, start=1):
                key = hit["id"]
                if strategy == "rrf":
                    score = 1.0 / (params["k"] + rank)
                else:
                    distance = float(hit["distance"])
                    score = params["weights"][search] * (
                        normalized(distance, metric) if params["norm_score"] else distance
                    )
                scores[key] = scores.get(key, 0.0) + score
                entities.setdefault(key, dict(hit.get("entity") or {}))
        order = sorted(scores, key=lambda key: -scores[key])[:top]
        fused.append([{"id": key, "distance": scores[key], "entity": entities[key]} for key in order])
    return fused


def checked_ranker(ranker: Mapping[str, Any] | None, searches: int) -> tuple[str, dict[str, Any]]:
    if ranker is None:
        return "rrf", {"k": RRF_DEFAULT_K}
    if not isinstance(ranker, Mapping):
        raise InvalidArgumentError(
            "ranker must be {'strategy': 'rrf' | 'weighted', 'params': {...}}", argument="ranker"
        )
    strategy = str(ranker.get("strategy", "")).lower()
    params = ranker.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(f"ranker params must be a dict, got {params!r}", argument="ranker")
    if strategy == "rrf":
        k = params.get("k", RRF_DEFAULT_K)
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < 16384:
            raise InvalidArgumentError(f"RRF k={k!r} is out of range: use a number in (0, 16384)", argument="ranker")
        return "rrf", {"k": float(k)}
    if strategy == "weighted":
        weights = params.get("weights")
        if (
            not isinstance(weights, list)
            or len(weights) != searches
            or not all(
                isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and 0 <= w <= 1
                for w in weights
            )
        ):
            raise InvalidArgumentError(
                f"the weighted ranker needs {searches} weights in [0, 1], one per search, got {weights!r}",
                argument="ranker",
            )
        return "weighted", {"weights": [float(w) for w in weights], "norm_score": bool(params.get("norm_score", True))}
    raise InvalidArgumentError(
        f"unknown ranker strategy {ranker.get('strategy')!r}; use rrf or weighted", argument="ranker"
    )


__all__ = ["RRF_DEFAULT_K", "checked_requests", "fuse", "normalized"]
