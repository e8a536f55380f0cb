"""Milvus keeps the metric in the index: ``create_index(metric_type=...)`` re-sets an unindexed field's metric."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.errors import DataError, InvalidArgumentError

DIM = 6


def _schema() -> dict[str, object]:
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "vector", "type": "FLOAT_VECTOR", "dim": DIM},
        ]
    }


def _exact(vectors: np.ndarray, query: np.ndarray, metric: str) -> list[int]:
    if metric == "L2":
        return np.argsort(((vectors - query) ** 2).sum(axis=1), kind="stable")[:5].tolist()
    return np.argsort(-(vectors @ query), kind="stable")[:5].tolist()


def test_the_first_index_sets_the_metric_and_it_survives_a_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32) * rng.uniform(0.2, 5, size=(300, 1)).astype(np.float32)
    query = rng.normal(size=DIM).astype(np.float32)
    with embedb.connect(tmp_path / "db") as db:
        db.create_collection("docs", schema=_schema())
        assert db.describe_collection("docs")["fields"][1]["metric_type"] == "COSINE"
        db.insert("docs", {"id": np.arange(300), "vector": vectors})
        db.create_index("docs", field_name="vector", index_type="FLAT", metric_type="L2")
        assert db.describe_collection("docs")["fields"][1]["metric_type"] == "L2"
        assert db.describe_index("docs", "vector")["metric_type"] == "L2"
        hits = db.search("docs", query, limit=5)[0]
        assert [h["id"] for h in hits] == _exact(vectors, query, "L2")
        assert hits[0]["distance"] == pytest.approx(float(((vectors[hits[0]["id"]] - query) ** 2).sum()), rel=1e-4)

        with pytest.raises(InvalidArgumentError, match="drop the index first"):
            db.create_index("docs", field_name="vector", index_type="HNSW", metric_type="IP")
        db.drop_index("docs", "vector")
        db.create_index("docs", field_name="vector", index_type="HNSW", metric_type="IP", params={"M": 8, "efConstruction": 64})
        assert [h["id"] for h in db.search("docs", query, limit=5, search_params={"ef": 300})[0]] == _exact(vectors, query, "IP")
    with embedb.connect(tmp_path / "db") as db:
        assert db.describe_collection("docs")["fields"][1]["metric_type"] == "IP"
        assert db.describe_index("docs", "vector")["metric_type"] == "IP"


def test_cosine_is_refused_while_a_zero_vector_is_stored(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "db") as db:
        db.create_collection("docs", schema=_schema(), index_params=[{"field_name": "vector", "index_type": "FLAT", "metric_type": "L2"}])
        db.insert("docs", [{"id": 1, "vector": [0.5] * DIM}, {"id": 7, "vector": [0.0] * DIM}])
        db.flush("docs")
        db.insert("docs", [{"id": 9, "vector": [0.0] * DIM}])
        db.drop_index("docs", "vector")
        with pytest.raises(DataError, match=r"zero vector \(primary key 7\)"):
            db.create_index("docs", field_name="vector", index_type="FLAT", metric_type="COSINE")
        assert db.describe_collection("docs")["fields"][1]["metric_type"] == "L2"
        assert db.list_indexes("docs") == [], "a refused request defines nothing"
        db.delete("docs", ids=[7, 9])
        db.create_index("docs", field_name="vector", index_type="FLAT", metric_type="COSINE")
        assert db.describe_collection("docs")["fields"][1]["metric_type"] == "COSINE"
        assert [(h["id"], round(h["distance"], 5)) for h in db.search("docs", [1.0] * DIM, limit=3)[0]] == [(1, 1.0)]


def test_bad_index_parameters_leave_the_metric_alone(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "db") as db:
        db.create_collection("docs", schema=_schema())
        with pytest.raises(InvalidArgumentError, match="M=0 is out of range"):
            db.create_index("docs", field_name="vector", index_type="HNSW", metric_type="L2", params={"M": 0})
        assert db.describe_collection("docs")["fields"][1]["metric_type"] == "COSINE"
