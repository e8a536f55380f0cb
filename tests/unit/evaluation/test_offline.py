"""Offline evaluation with fake seams: BEIR readers, metrics per version, the paired comparison and the gate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedb.errors import InvalidArgumentError
from embedb.evaluation.offline import evaluate_versions, exact_recall, parse_metric, read_qrels, read_queries

QUERIES = {f"q{i}": f"text {i}" for i in range(60)}
QRELS = {f"q{i}": {f"d{i}": 1.0} for i in range(60)}


def seams(hit_rate: dict[str, float]) -> tuple[Any, Any]:
    """``good`` ranks the relevant document first for most queries, ``bad`` for few."""

    def embed(version: str, texts: list[str]) -> np.ndarray:
        return np.array([[float(text.split()[1])] for text in texts])

    def search(version: str, vectors: np.ndarray, depth: int) -> list[list[Any]]:
        ranked = []
        for (number,) in vectors.tolist():
            hit = (int(number) * 7919 % 100) / 100 < hit_rate[version]
            ranked.append(([f"d{int(number)}"] if hit else []) + [f"x{j}" for j in range(depth - 1)])
        return ranked

    return embed, search


def test_readers_take_beir_files(tmp_path: Path) -> None:
    queries = tmp_path / "queries.jsonl"
    queries.write_text('{"_id": "q1", "text": "a bill"}\n\n{"id": "q2", "text": "a song"}\n')
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t2\n")
    assert read_queries(queries) == {"q1": "a bill", "q2": "a song"}
    assert read_qrels(qrels) == {"q1": {"d1": 1.0, "d2": 2.0}}
    queries.write_text('{"text": "no id"}\n')
    with pytest.raises(InvalidArgumentError, match="line 1"):
        read_queries(queries)
    qrels.write_text("q1\td1\tvery\n")
    with pytest.raises(InvalidArgumentError, match="not a number"):
        read_qrels(qrels)
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        read_queries(tmp_path / "missing.jsonl")


def test_metric_names() -> None:
    assert parse_metric("nDCG@10") == ("ndcg", 10)
    for bad in ("ndcg", "map@10", "recall@0", "mrr@x"):
        with pytest.raises(InvalidArgumentError, match="metric must be one of"):
            parse_metric(bad)


def test_a_better_candidate_passes_and_a_worse_one_fails_the_gate() -> None:
    embed, search = seams({"good": 0.9, "bad": 0.2})
    better = evaluate_versions(
        queries=QUERIES, qrels=QRELS, versions=[], baseline="bad", candidate="good", embed=embed, search=search
    )
    assert better["versions"]["good"]["metrics"]["ndcg@10"] > better["versions"]["bad"]["metrics"]["ndcg@10"]
    assert better["verdict"]["decision"] == "promote" and better["gate"]["passed"]
    worse = evaluate_versions(
        queries=QUERIES, qrels=QRELS, versions=["good", "bad"], embed=embed, search=search, metric="mrr@10"
    )
    assert (worse["baseline"], worse["candidate"]) == ("good", "bad")
    assert worse["verdict"]["decision"] == "keep" and not worse["gate"]["passed"]
    assert "significantly worse" in worse["gate"]["reason"]
    tolerant = evaluate_versions(
        queries=QUERIES, qrels=QRELS, versions=["good", "bad"], embed=embed, search=search, min_delta=0.9
    )
    assert tolerant["gate"]["passed"], "a drop smaller than min_delta does not block"


def test_metrics_cover_recall_at_k_and_the_gate_metric() -> None:
    embed, search = seams({"a": 0.5, "b": 0.5})
    report = evaluate_versions(
        queries=QUERIES, qrels=QRELS, versions=["a", "b"], embed=embed, search=search, k=20, metric="recall@5"
    )
    assert set(report["versions"]["a"]["metrics"]) == {"recall@20", "ndcg@10", "mrr@10", "recall@5"}
    assert report["queries"] == 60 and report["comparisons"]["b"]["metric"] == "recall@5"


def test_bad_input_fails_before_searching() -> None:
    embed, search = seams({"a": 0.5})
    with pytest.raises(InvalidArgumentError, match="have no text"):
        evaluate_versions(queries={}, qrels=QRELS, versions=["a"], embed=embed, search=search)
    with pytest.raises(InvalidArgumentError, match="no query with a relevant"):
        evaluate_versions(queries=QUERIES, qrels={"q1": {"d1": 0.0}}, versions=["a"], embed=embed, search=search)
    with pytest.raises(InvalidArgumentError, match="name the model versions"):
        evaluate_versions(queries=QUERIES, qrels=QRELS, versions=[], embed=embed, search=search)
    with pytest.raises(InvalidArgumentError, match="min_delta"):
        evaluate_versions(queries=QUERIES, qrels=QRELS, versions=["a"], embed=embed, search=search, min_delta=-1)


def test_exact_recall_ignores_padding() -> None:
    ann = np.array([[1, 2, -1], [4, 5, 6]])
    exact = np.array([[1, 3, -1], [4, 5, 6]])
    assert exact_recall(ann, exact, -1) == pytest.approx((0.5 + 1.0) / 2)
