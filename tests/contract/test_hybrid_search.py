"""hybrid_search: dense and BM25 searches (each with its own filter) fused by RRF or a weighted sum, as Milvus ranks them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import InvalidArgumentError

TEXTS = [
    "red apple pie",
    "green apple",
    "red car",
    "blue car fast",
    "apple tree",
    "fast red fox",
    "slow blue whale",
    "apple",
]
DIM = 4


def _create(db: Client, name: str) -> np.ndarray:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "text", "type": "VARCHAR", "max_length": 100, "enable_analyzer": True},
                {"name": "dense", "type": "FLOAT_VECTOR", "dim": DIM, "metric_type": "L2"},
                {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"},
            ],
            "functions": [
                {"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}
            ],
        },
    )
    vectors = np.random.default_rng(5).normal(size=(len(TEXTS), DIM)).astype(np.float32)
    db.insert(name, [{"id": i, "text": text, "dense": vectors[i].tolist()} for i, text in enumerate(TEXTS)])
    return vectors


def _requests(vectors: np.ndarray) -> list[dict[str, Any]]:
    return [
        {"data": [vectors[0].tolist()], "anns_field": "dense", "param": {"metric_type": "L2"}, "limit": 5},
        {"data": ["red apple"], "anns_field": "sparse", "param": {"metric_type": "BM25"}, "limit": 5},
    ]


def test_rrf_sums_reciprocal_ranks_of_each_search(db: Client, name: str) -> None:
    vectors = _create(db, name)
    requests = _requests(vectors)
    separate = [
        db.search(name, r["data"], anns_field=r["anns_field"], limit=5, search_params=r["param"])[0] for r in requests
    ]
    expected: dict[int, float] = {}
    for hits in separate:
        for rank, hit in enumerate(hits, start=1):
            expected[hit["id"]] = expected.get(hit["id"], 0.0) + 1 / (60 + rank)
    fused = db.hybrid_search(name, requests, {"strategy": "rrf", "params": {"k": 60}}, limit=4, output_fields=["text"])[
        0
    ]
    assert [hit["distance"] for hit in fused] == pytest.approx(sorted(expected.values(), reverse=True)[:4])
    assert all(
        expected[hit["id"]] == pytest.approx(hit["distance"]) and hit["entity"]["text"] == TEXTS[hit["id"]]
        for hit in fused
    )


def test_weighted_sums_normalised_scores(db: Client, name: str) -> None:
    vectors = _create(db, name)
    requests = _requests(vectors)
    dense = db.search(name, [vectors[0].tolist()], anns_field="dense", limit=5)[0]
    text = db.search(name, ["red apple"], anns_field="sparse", limit=5)[0]
    expected: dict[int, float] = {}
    for hit in dense:
        expected[hit["id"]] = expected.get(hit["id"], 0.0) + 0.7 * (1 - 2 * math.atan(hit["distance"]) / math.pi)
    for hit in text:
        expected[hit["id"]] = expected.get(hit["id"], 0.0) + 0.3 * (0.5 + math.atan(hit["distance"]) / math.pi)
    fused = db.hybrid_search(name, requests, {"strategy": "weighted", "params": {"weights": [0.7, 0.3]}}, limit=8)[0]
    assert {hit["id"]: hit["distance"] for hit in fused} == pytest.approx(expected)


def test_each_request_keeps_its_filter_and_bad_rankers_are_refused(db: Client, name: str) -> None:
    vectors = _create(db, name)
    requests = _requests(vectors)
    requests[1]["expr"] = "id >= 5"
    fused = db.hybrid_search(name, [requests[1]], None, limit=5)[0]
    assert fused and all(hit["id"] >= 5 for hit in fused)
    with pytest.raises(InvalidArgumentError, match="2 weights"):
        db.hybrid_search(name, requests, {"strategy": "weighted", "params": {"weights": [1.0]}})
    with pytest.raises(InvalidArgumentError, match="unknown ranker"):
        db.hybrid_search(name, requests, {"strategy": "borda"})
    with pytest.raises(InvalidArgumentError, match="as many queries"):
        db.hybrid_search(name, [requests[0], {**requests[1], "data": ["a", "b"]}])
    with pytest.raises(InvalidArgumentError, match="anns_field"):
        db.hybrid_search(name, [{"data": [[0.0] * DIM]}])
