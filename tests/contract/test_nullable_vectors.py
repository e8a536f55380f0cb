"""Nullable vector fields: a row may hold no vector; reads return None and no search returns the row."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import DataError, SchemaError

DIM = 8


def _create(db: Client, name: str, index_type: str = "HNSW", metric: str = "COSINE") -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "v", "type": "FLOAT_VECTOR", "dim": DIM, "nullable": True, "metric_type": metric},
            ]
        },
        index_params=[{"field_name": "v", "index_type": index_type, "metric_type": metric}],
    )


@pytest.mark.parametrize(("index_type", "metric"), [("HNSW", "COSINE"), ("IVF_FLAT", "L2"), ("FLAT", "IP")])
def test_null_vectors_are_read_back_as_none_and_never_searched(
    db: Client, name: str, index_type: str, metric: str
) -> None:
    _create(db, name, index_type, metric)
    vectors = np.random.default_rng(21).normal(size=(120, DIM)).astype(np.float32)
    null = {i for i in range(120) if i % 3 == 0}
    db.insert(name, [{"id": i, "v": None if i in null else vectors[i].tolist()} for i in range(60)])
    db.flush(name)  # sealed and indexed (nulls indexed as zeros, masked out) ...
    db.insert(
        name, [{"id": i} if i in null else {"id": i, "v": vectors[i].tolist()} for i in range(60, 120)]
    )  # ... and growing
    rows = {row["id"]: row["v"] for row in db.get(name, list(range(120)), output_fields=["v"])}
    assert {i for i, v in rows.items() if v is None} == null
    assert np.allclose(rows[1], vectors[1])
    hits = db.search(name, [vectors[1].tolist()], limit=120, search_params={"params": {"ef": 200, "nprobe": 64}})[0]
    assert {hit["id"] for hit in hits} == set(range(120)) - null
    assert db.search(name, [vectors[1].tolist()], limit=5, filter="id < 10")[0][0]["id"] == 1
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 120}]


def test_upsert_turns_a_null_vector_into_a_vector_and_back(db: Client, name: str) -> None:
    _create(db, name, "FLAT", "L2")
    db.insert(name, [{"id": 1, "v": None}, {"id": 2, "v": [1.0] * DIM}])
    db.upsert(name, [{"id": 1, "v": [2.0] * DIM}, {"id": 2, "v": None}])
    assert [hit["id"] for hit in db.search(name, [[2.0] * DIM], limit=5)[0]] == [1]
    assert db.get(name, [2], output_fields=["v"]) == [{"id": 2, "v": None}]


def test_bad_rows_beside_nulls_are_named_by_their_own_row_number(db: Client, name: str) -> None:
    _create(db, name)
    with pytest.raises(DataError, match="row 2"):
        db.insert(name, [{"id": 0, "v": None}, {"id": 1, "v": [1.0] * DIM}, {"id": 2, "v": [0.0] * DIM}])
    with pytest.raises(DataError, match="dimension"):
        db.insert(name, [{"id": 0, "v": None}, {"id": 1, "v": [1.0] * 3}])
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 0}]


def test_a_model_bound_field_is_not_nullable(db: Client, name: str) -> None:
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 64},
            {"name": "v", "type": "FLOAT_VECTOR", "nullable": True, "source": "text", "model": "m"},
        ]
    }
    with pytest.raises(SchemaError, match="cannot be nullable"):
        db.create_collection(name, schema=schema)
