"""Ranking metrics against hand-computed values, and the conventions for awkward input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedb.errors import InvalidArgumentError
from embedb.evaluation.metrics import (
    evaluate_run,
    ndcg_at_k,
    overlap_at_k,
    precision_at_k,
    rank_by_score,
    recall_at_k,
    reciprocal_rank_at_k,
)

LOG2_3 = math.log2(3)


def test_binary_relevance_by_hand() -> None:
    # Relevant: d1, d3, d9 (never retrieved). Ranking hits at ranks 2 and 3.
    grades = {"d1": 1, "d3": 1, "d9": 1}
    ranking = ["d2", "d1", "d3", "d4"]
    assert recall_at_k(ranking, grades, k=3) == pytest.approx(2 / 3)
    assert precision_at_k(ranking, grades, k=3) == pytest.approx(2 / 3)
    assert reciprocal_rank_at_k(ranking, grades, k=3) == pytest.approx(1 / 2)
    dcg = 1 / LOG2_3 + 1 / 2  # ranks 2 and 3
    ideal = 1 + 1 / LOG2_3 + 1 / 2  # three relevant documents fill ranks 1..3
    assert ndcg_at_k(ranking, grades, k=3) == pytest.approx(dcg / ideal)
    assert reciprocal_rank_at_k(ranking, grades, k=1) == 0.0


def test_graded_ndcg_by_hand() -> None:
    grades = {"a": 3, "b": 2, "c": 1, "z": 0}
    ranking = ["c", "z", "a", "b"]
    dcg = 1 / 1 + 0 + 3 / 2 + 2 / math.log2(5)
    ideal = 3 / 1 + 2 / LOG2_3 + 1 / 2 + 0
    assert ndcg_at_k(ranking, grades, k=4) == pytest.approx(dcg / ideal)
    # At k = 2 the ideal only counts the two best grades.
    assert ndcg_at_k(ranking, grades, k=2) == pytest.approx((1 / 1) / (3 + 2 / LOG2_3))
    assert ndcg_at_k(["a", "b", "c"], grades, k=3) == pytest.approx(1.0)


def test_duplicates_earn_once_but_take_their_rank() -> None:
    grades = {"a": 1, "b": 1}
    ranking = ["a", "a", "b"]
    assert precision_at_k(ranking, grades, k=3) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, grades, k=2) == pytest.approx(1 / 2)
    assert ndcg_at_k(ranking, grades, k=3) == pytest.approx((1 + 1 / 2) / (1 + 1 / LOG2_3))
    assert ndcg_at_k(["a", "a", "a"], {"a": 2}, k=3) == pytest.approx(1.0)


def test_k_larger_than_the_ranking_pads_with_non_relevant() -> None:
    grades = {"a": 1, "b": 1}
    assert precision_at_k(["a"], grades, k=10) == pytest.approx(1 / 10)
    assert recall_at_k(["a"], grades, k=10) == pytest.approx(1 / 2)
    assert ndcg_at_k([], grades, k=10) == 0.0
    assert reciprocal_rank_at_k([], grades, k=10) == 0.0


def test_evaluate_run_skips_and_counts_awkward_queries() -> None:
    qrels = {
        "q1": {"d1": 2, "d2": 1},
        "q2": {"d5": 0, "d6": -1},  # judged, nothing relevant: skipped
        "q3": {"d7": 1},  # the run lacks it: scores zero
    }
    run = {"q1": ["d2", "d1"], "q2": ["d5"], "q4": ["d1"]}
    evaluation = evaluate_run(run, qrels, k=2)
    assert evaluation.query_ids == ("q1", "q3")
    assert evaluation.skipped_no_relevant == ("q2",)
    assert evaluation.missing_from_run == ("q3",)
    assert evaluation.unjudged == ("q4",)
    np.testing.assert_allclose(evaluation.values("recall"), [1.0, 0.0])
    np.testing.assert_allclose(evaluation.values("mrr@2"), [1.0, 0.0])
    ndcg_q1 = (1 + 2 / LOG2_3) / (2 + 1 / LOG2_3)
    assert evaluation.mean("ndcg") == pytest.approx(ndcg_q1 / 2)
    assert set(evaluation.means()) == {"recall@2", "precision@2", "ndcg@2", "mrr@2"}


def test_evaluate_run_matches_the_per_query_functions() -> None:
    rng = np.random.default_rng(3)
    docs = [f"d{i}" for i in range(30)]
    qrels = {f"q{i}": {str(d): int(rng.integers(0, 4)) for d in rng.choice(docs, 8, replace=False)} for i in range(40)}
    run = {q: [str(d) for d in rng.choice(docs, 15, replace=False)] for q in qrels}
    evaluation = evaluate_run(run, qrels, k=10)
    for metric, function in (
        ("recall", recall_at_k),
        ("precision", precision_at_k),
        ("ndcg", ndcg_at_k),
        ("mrr", reciprocal_rank_at_k),
    ):
        expected = [function(run[q], qrels[q], k=10) for q in evaluation.query_ids]
        np.testing.assert_allclose(evaluation.values(metric), expected)


def test_two_runs_on_the_same_qrels_are_paired() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}
    first = evaluate_run({"q1": ["a"], "q3": ["x"]}, qrels, k=5)
    second = evaluate_run({"q2": ["b"], "q3": ["c"], "q9": ["a"]}, qrels, k=5)
    assert first.query_ids == second.query_ids == ("q1", "q2", "q3")


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="k must be a positive integer"):
        evaluate_run({}, {}, k=0)
    with pytest.raises(InvalidArgumentError, match="is a string"):
        evaluate_run({"q": "d1"}, {"q": {"d1": 1}}, k=3)  # a str is a Sequence[str]: refused at run time
    with pytest.raises(InvalidArgumentError, match="finite number"):
        evaluate_run({}, {"q": {"d1": math.nan}})
    with pytest.raises(InvalidArgumentError, match="no relevant document"):
        ndcg_at_k(["a"], {"a": 0}, k=1)
    with pytest.raises(InvalidArgumentError, match="unknown metric"):
        evaluate_run({}, {"q": {"a": 1}}, k=3).values("map")


def test_rank_by_score_and_overlap() -> None:
    ranked = rank_by_score({"q": {"b": 0.5, "a": 0.5, "c": 0.9}})
    assert ranked == {"q": ["c", "a", "b"]}
    assert overlap_at_k(["a", "b", "c"], ["c", "a", "x"], k=3) == pytest.approx(2 / 3)
    assert overlap_at_k(["a"], ["a"], k=2) == pytest.approx(1 / 2)


grades_strategy = st.dictionaries(st.sampled_from("abcdefgh"), st.integers(-1, 3), min_size=1).filter(
    lambda grades: any(grade > 0 for grade in grades.values())
)
ranking_strategy = st.lists(st.sampled_from("abcdefghij"), max_size=12)


@settings(max_examples=100, deadline=None)
@given(ranking=ranking_strategy, grades=grades_strategy, k=st.integers(1, 12))
def test_metrics_stay_in_range_and_ideal_ranking_is_perfect(ranking: list[str], grades: dict[str, int], k: int) -> None:
    for function in (recall_at_k, precision_at_k, ndcg_at_k, reciprocal_rank_at_k):
        assert 0.0 <= function(ranking, grades, k=k) <= 1.0 + 1e-12
    ideal = sorted((doc for doc, grade in grades.items() if grade > 0), key=lambda doc: -grades[doc])
    assert ndcg_at_k(ideal, grades, k=k) == pytest.approx(1.0)
    assert reciprocal_rank_at_k(ideal, grades, k=k) == 1.0
    # Repeating documents can never raise a score.
    doubled = [doc for doc in ranking for _ in range(2)]
    for function in (recall_at_k, precision_at_k, ndcg_at_k, reciprocal_rank_at_k):
        assert function(doubled, grades, k=k) <= function(ranking, grades, k=k) + 1e-12
