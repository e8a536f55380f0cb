"""Edges an outside attack found in sparse, BM25, hybrid, TEXT_MATCH and TIMESTAMPTZ handling (each a regression test)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from embedb.client import Client
from embedb.errors import DataError, FilterError, InvalidArgumentError

SPARSE = {
    "fields": [{"name": "id", "type": "INT64", "is_primary": True}, {"name": "sp", "type": "SPARSE_FLOAT_VECTOR"}]
}


def test_an_overflowing_score_keeps_every_hit_with_its_own_id(db: Client, name: str) -> None:
    db.create_collection(name, schema=SPARSE)
    db.insert(name, [{"id": 1, "sp": {1: 1.0}}, {"id": 2, "sp": {1: 2.0}}, {"id": 3, "sp": {1: 3e38}}])
    hits = db.search(name, [{1: 10.0}], limit=10)[0]
    assert [hit["id"] for hit in hits] == [3, 2, 1]
    assert [hit["distance"] for hit in hits[1:]] == [20.0, 10.0]


def test_the_same_holds_for_dense_inner_products(db: Client, name: str) -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "v", "type": "FLOAT_VECTOR", "dim": 2, "metric_type": "IP"},
            ]
        },
        index_params=[{"field_name": "v", "index_type": "FLAT", "metric_type": "IP"}],
    )
    db.insert(name, [{"id": 1, "v": [1.0, 0.0]}, {"id": 2, "v": [2.0, 0.0]}, {"id": 3, "v": [3e38, 0.0]}])
    assert [hit["id"] for hit in db.search(name, [[10.0, 0.0]], limit=10)[0]] == [3, 2, 1]


@pytest.mark.parametrize("row", [{1: 10**400}, {"²": 1.0}, {1: 1e300}, {1: -1e39}])
def test_sparse_weights_and_keys_that_float32_cannot_hold_are_refused(
    db: Client, name: str, row: dict[object, float]
) -> None:
    db.create_collection(name, schema=SPARSE)
    with pytest.raises(DataError, match="sparse"):
        db.insert(name, [{"id": 1, "sp": row}])
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 0}]


def test_scipy_sparse_arrays_work_like_matrices(embedded_db: Client, name: str) -> None:
    embedded_db.create_collection(name, schema=SPARSE)
    embedded_db.insert(name, {"id": [5, 6], "sp": sp.csr_array(np.array([[0, 1.0], [2.0, 0]]))})
    hits = embedded_db.search(name, sp.csr_array(np.array([[0, 1.0]])), limit=5)[0]
    assert [(hit["id"], hit["distance"]) for hit in hits] == [(5, 1.0)]


def test_instants_outside_years_1_to_9999_in_utc_are_refused(db: Client, name: str) -> None:
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "ts", "type": "TIMESTAMPTZ"},
            {"name": "v", "type": "FLOAT_VECTOR", "dim": 2},
        ]
    }
    db.create_collection(name, schema=schema)
    for bad in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(DataError, match="outside years"):
            db.insert(name, [{"id": 1, "ts": bad, "v": [1.0, 0.0]}])
    db.insert(name, [{"id": 1, "ts": "2025-01-01T00:00:00Z", "v": [1.0, 0.0]}])
    for interval in ("P999999999W", "PT99999999999999999999S"):
        with pytest.raises(FilterError, match="longer than"):
            db.query(name, f"ts + INTERVAL '{interval}' > ISO '2025-01-01T00:00:00Z'")


def test_hybrid_requests_are_checked_before_any_search(db: Client, name: str) -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "v", "type": "FLOAT_VECTOR", "dim": 2},
            ]
        },
    )
    db.insert(name, [{"id": i, "v": [float(i), 1.0]} for i in range(5)])
    for request in (
        {"data": None, "anns_field": "v"},
        {"data": [[0.0, 1.0]], "anns_field": "v", "limit": "3"},
        {"data": [[0.0, 1.0]], "anns_field": "v", "limit": 0},
        {"data": [[0.0, 1.0]], "anns_field": "v", "limit": True},
    ):
        with pytest.raises(InvalidArgumentError, match="reqs"):
            db.hybrid_search(name, [request])
    with pytest.raises(InvalidArgumentError, match="ranker params"):
        db.hybrid_search(name, [{"data": [[0.0, 1.0]], "anns_field": "v"}], {"strategy": "rrf", "params": [1]})


def test_not_text_match_leaves_null_texts_out_like_any_comparison(db: Client, name: str) -> None:
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {
                "name": "text",
                "type": "VARCHAR",
                "max_length": 50,
                "nullable": True,
                "enable_analyzer": True,
                "enable_match": True,
            },
            {"name": "v", "type": "FLOAT_VECTOR", "dim": 2},
        ]
    }
    db.create_collection(name, schema=schema)
    db.insert(
        name,
        [
            {"id": 1, "text": "fox", "v": [1.0, 0.0]},
            {"id": 2, "text": None, "v": [1.0, 0.0]},
            {"id": 3, "text": "cat", "v": [1.0, 0.0]},
        ],
    )
    assert [row["id"] for row in db.query(name, "not TEXT_MATCH(text, 'fox')")] == [3]
    assert [row["id"] for row in db.query(name, "not PHRASE_MATCH(text, 'fox')")] == [3]


def test_a_sparse_index_describes_its_metric_and_params(db: Client, name: str) -> None:
    db.create_collection(
        name,
        schema=SPARSE,
        index_params=[
            {
                "field_name": "sp",
                "index_type": "SPARSE_INVERTED_INDEX",
                "metric_type": "IP",
                "params": {"drop_ratio_build": 0.2},
            }
        ],
    )
    described = db.describe_index(name, db.list_indexes(name)[0])
    assert described["metric_type"] == "IP" and described["params"] == {"drop_ratio_build": 0.2}


def test_query_vectors_that_are_not_lists_of_numbers_are_refused(db: Client, name: str) -> None:
    db.create_collection(name, dimension=4, metric_type="L2")  # L2: a too-long query would make every distance inf
    for data in (5, [b"abcd"], [{1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}], ["abcd"], np.zeros((0, 4), dtype=np.float32)):
        with pytest.raises(InvalidArgumentError):  # DataError, or "text needs a model" for ["abcd"]
            db.search(name, data, limit=1)
    with pytest.raises(DataError, match="too long"):
        db.search(name, [[1e20, 0.0, 0.0, 0.0]], limit=1)
    with pytest.raises(DataError):
        db.insert(name, [{"id": 1, "vector": {1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0}}])
    with pytest.raises(DataError):
        db.hybrid_search(name, [{"data": 5, "anns_field": "vector"}])


def test_weighted_ranker_weights_lie_in_0_to_1_and_analyzers_refuse_unknown_keys(db: Client, name: str) -> None:
    db.create_collection(name, dimension=2)
    db.insert(name, [{"id": 1, "vector": [1.0, 0.5]}])
    request = {"data": [[1.0, 0.5]], "anns_field": "vector"}
    with pytest.raises(InvalidArgumentError, match=r"\[0, 1\]"):
        db.hybrid_search(name, [request, request], {"strategy": "weighted", "params": {"weights": [5, 0.5]}})
    for params in (
        {"tokenizer": {"type": "standard", "extra": 1}},
        {"filter": [{"type": "lowercase", "x": 1}]},
        {"filter": [{"type": "stemmer", "language": "english\x00"}]},
    ):
        with pytest.raises(InvalidArgumentError, match="analyzer_params"):
            db.run_analyzer("text", params)
