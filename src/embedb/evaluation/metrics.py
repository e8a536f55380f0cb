"""Ranking quality at a cutoff k: recall, precision, nDCG and MRR, per query and averaged.

The inputs follow the BEIR layout:

- a *run* ``{query_id: [doc_id, ...]}``, each list ranked best first
  (:func:`rank_by_score` turns BEIR's ``{query_id: {doc_id: score}}`` into this);
- *qrels* ``{query_id: {doc_id: grade}}``; a grade > 0 is relevant, larger is better,
  and a grade <= 0 (some collections judge with -1 or 0) counts as not relevant.

Conventions, chosen so that a worse run can never score higher by accident:

- Only judged queries with at least one relevant document are evaluated. The others
  are skipped and listed in ``skipped_no_relevant``: recall and nDCG are undefined there.
- A judged query that the run lacks scores 0 on every metric and is listed in
  ``missing_from_run``; a model that answers nothing is not excused. Queries of the run
  that qrels do not judge are ignored and listed in ``unjudged``.
  Two runs evaluated on the same qrels therefore score the same queries in the same
  order, which is what the paired tests in :mod:`embedb.evaluation.stats` need.
- A document repeated in one ranking earns credit only at its first rank; later copies
  still take up their rank (the user saw a wasted slot) but earn nothing.
- A ranking shorter than k counts as padded with non-relevant documents, so
  precision@k still divides by k.
- recall@k = relevant documents in the top k / all relevant documents (BEIR's
  definition, not capped at k).
- nDCG@k uses linear gain (the grade, as trec_eval and BEIR do) and the discount
  1 / log2(rank + 1); the ideal DCG ranks the query's own judged grades, so relevant
  documents the run never retrieved count against it.
- MRR@k averages 1 / rank of the first relevant document in the top k (0 if none).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import numpy as np
import numpy.typing as npt

from embedb.errors import InvalidArgumentError

METRICS: tuple[str, ...] = ("recall", "precision", "ndcg", "mrr")
"""Metric names that :class:`RankingEvaluation` reports, each suffixed with ``@k``."""

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class RankingEvaluation:
    """Per-query values of every metric in :data:`METRICS` at one cutoff ``k``.

    ``per_query[name]`` is aligned with ``query_ids`` (sorted); names are ``"ndcg@10"``
    and so on. The queries left out are listed with the reason they were left out.
    """

    k: int
    query_ids: tuple[str, ...]
    per_query: Mapping[str, npt.NDArray[np.float64]]
    skipped_no_relevant: tuple[str, ...]
    missing_from_run: tuple[str, ...]
    unjudged: tuple[str, ...]

    def values(self, metric: str) -> npt.NDArray[np.float64]:
        """Return the per-query values of ``metric`` (``"ndcg"`` or ``"ndcg@10"``).

        Raises:
            InvalidArgumentError: the metric is unknown or asks for another k.
        """
        name = metric if "@" in metric else f"{metric}@{self.k}"
        if name not in self.per_query:
            raise InvalidArgumentError(
                f"unknown metric {metric!r}; this evaluation has {sorted(self.per_query)}", metric=metric
            )
        return self.per_query[name]

    def mean(self, metric: str) -> float:
        """Return the mean of ``metric`` over the evaluated queries (NaN when there are none).

        Raises:
            InvalidArgumentError: the metric is unknown or asks for another k.
        """
        values = self.values(metric)
        return float(values.mean()) if values.size else math.nan

    def means(self) -> dict[str, float]:
        """Return ``{"recall@k": mean, ...}`` for every metric."""
        return {name: self.mean(name) for name in self.per_query}


def evaluate_run(run: Run, qrels: Qrels, *, k: int = 10) -> RankingEvaluation:
    """Score every judged query of ``run`` against ``qrels`` at cutoff ``k``.

    Returns:
        A :class:`RankingEvaluation` over the judged queries that have a relevant document.

    Raises:
        InvalidArgumentError: ``k`` is not a positive integer, a ranking is a bare string,
            or a grade is not a finite number.
    """
    _check_k(k)
    query_ids: list[str] = []
    skipped: list[str] = []
    missing: list[str] = []
    for query_id in sorted(qrels):
        if _count_relevant(query_id, qrels[query_id]) == 0:
            skipped.append(query_id)
            continue
        query_ids.append(query_id)
        if query_id not in run:
            missing.append(query_id)
    unjudged = sorted(query_id for query_id in run if query_id not in qrels)
    rankings = [run.get(query_id, ()) for query_id in query_ids]
    per_query = _metric_matrix(rankings, [qrels[query_id] for query_id in query_ids], k=k, query_ids=query_ids)
    return RankingEvaluation(
        k=k,
        query_ids=tuple(query_ids),
        per_query=per_query,
        skipped_no_relevant=tuple(skipped),
        missing_from_run=tuple(missing),
        unjudged=tuple(unjudged),
    )


def recall_at_k(ranking: Sequence[str], grades: Mapping[str, float], *, k: int) -> float:
    """Return the share of the query's relevant documents found in the top ``k``.

    Raises:
        InvalidArgumentError: bad ``k`` or grades, or the query has no relevant document.
    """
    return _one_query(ranking, grades, k=k, metric="recall")


def precision_at_k(ranking: Sequence[str], grades: Mapping[str, float], *, k: int) -> float:
    """Return the share of the top ``k`` ranks that hold a relevant document.

    Raises:
        InvalidArgumentError: bad ``k`` or grades, or the query has no relevant document.
    """
    return _one_query(ranking, grades, k=k, metric="precision")


def ndcg_at_k(ranking: Sequence[str], grades: Mapping[str, float], *, k: int) -> float:
    """Return the normalised discounted cumulative gain of the top ``k`` (graded relevance).

    Raises:
        InvalidArgumentError: bad ``k`` or grades, or the query has no relevant document.
    """
    return _one_query(ranking, grades, k=k, metric="ndcg")


def reciprocal_rank_at_k(ranking: Sequence[str], grades: Mapping[str, float], *, k: int) -> float:
    """Return 1 / rank of the first relevant document in the top ``k``, or 0.

    Raises:
        InvalidArgumentError: bad ``k`` or grades, or the query has no relevant document.
    """
    return _one_query(ranking, grades, k=k, metric="mrr")


def overlap_at_k(ranking_a: Sequence[str], ranking_b: Sequence[str], *, k: int) -> float:
    """Return the share of ``k`` slots whose document is in both top-``k`` lists (shadow mode).

    Returns:
        ``|top_k(a) ∩ top_k(b)| / k``; 1.0 means the same documents, in any order.

    Raises:
        InvalidArgumentError: ``k`` is not a positive integer or a ranking is a bare string.
    """
    _check_k(k)
    top_a = set(islice(_check_ranking("ranking_a", ranking_a), k))
    top_b = set(islice(_check_ranking("ranking_b", ranking_b), k))
    return len(top_a & top_b) / k


def rank_by_score(results: Mapping[str, Mapping[str, float]]) -> dict[str, list[str]]:
    """Turn BEIR results ``{query_id: {doc_id: score}}`` into ranked lists, best first.

    Equal scores are ordered by document id, so the ranking is deterministic.

    Returns:
        ``{query_id: [doc_id, ...]}``.
    """
    return {
        query_id: [doc_id for doc_id, _ in sorted(scores.items(), key=lambda item: (-item[1], item[0]))]
        for query_id, scores in results.items()
    }


def _one_query(ranking: Sequence[str], grades: Mapping[str, float], *, k: int, metric: str) -> float:
    _check_k(k)
    if _count_relevant("<query>", grades) == 0:
        raise InvalidArgumentError(
            "the query has no relevant document (grade > 0); evaluate_run skips such queries", metric=metric
        )
    values = _metric_matrix([ranking], [grades], k=k, query_ids=["<query>"])
    return float(values[f"{metric}@{k}"][0])


def _metric_matrix(
    rankings: Sequence[Sequence[str]], judgements: Sequence[Mapping[str, float]], *, k: int, query_ids: Sequence[str]
) -> dict[str, npt.NDArray[np.float64]]:
    # Row q, column r holds the gain earned at rank r + 1; every metric is then a row reduction.
    gains = np.zeros((len(rankings), k))
    ideal = np.zeros((len(rankings), k))
    n_relevant = np.zeros(len(rankings))
    for row, (ranking, grades) in enumerate(zip(rankings, judgements, strict=True)):
        seen: set[str] = set()
        for rank, doc_id in enumerate(islice(_check_ranking(query_ids[row], ranking), k)):
            if doc_id not in seen:
                seen.add(doc_id)
                gains[row, rank] = max(float(grades.get(doc_id, 0.0)), 0.0)
        positive = sorted((float(grade) for grade in grades.values() if grade > 0), reverse=True)
        n_relevant[row] = len(positive)
        ideal[row, : min(k, len(positive))] = positive[:k]
    hits = gains > 0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    first_hit = np.argmax(hits, axis=1)
    # Callers drop queries without a relevant document, so no denominator below is zero.
    return {
        f"recall@{k}": hits.sum(axis=1) / n_relevant,
        f"precision@{k}": hits.sum(axis=1) / k,
        f"ndcg@{k}": (gains @ discounts) / (ideal @ discounts),
        f"mrr@{k}": np.where(hits.any(axis=1), 1.0 / (first_hit + 1), 0.0),
    }


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k must be a positive integer, got {k!r}", k=k)


def _check_ranking(query_id: str, ranking: Sequence[str]) -> Sequence[str]:
    if isinstance(ranking, str | bytes):
        raise InvalidArgumentError(
            f"the ranking of query {query_id!r} is a string, not a list of document ids", query_id=query_id
        )
    return ranking


def check_qrels(qrels: Mapping[str, Any]) -> None:
    """Raise ``InvalidArgumentError`` unless ``qrels`` is ``{query_id: {doc_id: grade}}`` with finite grades."""
    for query_id, grades in qrels.items():
        if not isinstance(grades, Mapping):
            raise InvalidArgumentError(
                f"the judgements of query {query_id!r} must map document ids to grades, got {type(grades).__name__}",
                query_id=query_id,
            )
        _count_relevant(query_id, grades)


def _count_relevant(query_id: str, grades: Mapping[str, float]) -> int:
    count = 0
    for doc_id, grade in grades.items():
        if isinstance(grade, bool) or not isinstance(grade, numbers.Real) or not math.isfinite(grade):
            raise InvalidArgumentError(
                f"grade of document {doc_id!r} for query {query_id!r} must be a finite number, got {grade!r}",
                query_id=query_id,
                doc_id=doc_id,
            )
        count += grade > 0
    return count
