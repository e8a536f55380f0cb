"""The model registry and the embedding lifecycle behave the same embedded and over HTTP."""

from __future__ import annotations

import uuid

import pytest

from embedb.client import Client
from embedb.errors import (
    AlreadyExistsError,
    DataError,
    FailedPreconditionError,
    InUseError,
    InvalidStateError,
    JobNotFoundError,
    ModelNotFoundError,
)
from embedb.models.testing import hash_embed

TEXTS = ["red apple pie", "green apple tart", "stock market crash", "market prices fall", "blue whale song"]


@pytest.fixture
def model() -> str:
    """A model name no other test uses (the registry is shared by a backend's collections)."""
    return f"m_{uuid.uuid4().hex[:10]}"


def bound_schema(model: str) -> dict[str, object]:
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 100},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
        ]
    }


def test_registry_round_trip(db: Client, model: str) -> None:
    first = db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion", tags={"team": "search"})
    assert first["uri"] == f"models:/{model}/1" and first["dimension"] == 16 and first["aliases"] == ["champion"]
    second = db.register_model(model, "embedb.models.testing:hash_embed_8", description="smaller")
    assert second["version"] == 2 and second["status"] == "READY"
    assert db.describe_model_version(f"{model}@champion")["version"] == 1
    assert db.describe_model_version(f"models:/{model}")["version"] == 2, "the bare name means the latest version"
    moved = db.set_model_alias(model, "champion", 2, actor="ci", reason="smaller is enough")
    assert moved["aliases"] == ["champion"]
    history = db.model_alias_history(model, "champion")
    assert [(h["from_version"], h["to_version"], h["reason"]) for h in history] == [
        (None, 1, "registered"),
        (1, 2, "smaller is enough"),
    ]
    db.set_model_tag(model, "stage", "prod", version=2)
    assert db.describe_model_version(f"{model}/2")["tags"] == {"stage": "prod"}
    assert [v["version"] for v in db.list_model_versions(model)] == [1, 2]
    assert model in [m["name"] for m in db.list_models()]
    assert db.describe_model(model)["aliases"] == {"champion": 2}
    with pytest.raises(InUseError, match="champion"):
        db.delete_model_version(model, 2)
    assert db.delete_model_version(model, 1)["version"] == 1
    db.delete_model_alias(model, "champion", reason="retired")
    with pytest.raises(ModelNotFoundError):
        db.describe_model(f"{model}_missing")


def test_embedding_lifecycle(db: Client, name: str, model: str) -> None:
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model(model, "embedb.models.testing:hash_embed_8", alias="challenger")
    db.create_collection(name, schema=bound_schema(model))
    db.insert(name, [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    assert db.search(name, "apple pie", limit=1)[0][0]["id"] == 0
    with pytest.raises(DataError, match="must say which model version made them"):
        db.insert(name, [{"id": 10, "text": "x", "embedding": [1.0] * 16}])
    db.insert(
        name,
        [{"id": 10, "text": "zebra", "embedding": hash_embed(["zebra"], dimension=16)[0].tolist()}],
        embedding_versions={"embedding": f"{model}/1"},
    )

    job = db.add_embedding_version(name, "embedding", f"{model}@challenger", wait=True, timeout=60)
    assert job["state"] == "DONE" and job["rows_done"] == 6 and job["collection_name"] == name
    assert db.get_job(job["job_id"])["state"] == "DONE"
    assert job["job_id"] in [j["job_id"] for j in db.list_jobs(name)]
    with pytest.raises(AlreadyExistsError):
        db.add_embedding_version(name, "embedding", f"{model}/2")
    with pytest.raises(InvalidStateError):
        db.pause_job(job["job_id"])
    with pytest.raises(JobNotFoundError):
        db.get_job(987654)
    by_v2 = db.search(name, "stock market crash", limit=1, embedding_version=f"{model}/2")
    assert by_v2[0][0]["id"] == 2

    moved = db.promote(name, "embedding", f"{model}@challenger", reason="better", actor="tester")
    assert (moved["from_version"], moved["to_version"]) == (f"models:/{model}/1", f"models:/{model}/2")
    assert db.describe_model_version(f"{model}@champion")["version"] == 2
    assert len(db.get(name, [0], output_fields=["embedding"])[0]["embedding"]) == 8
    with pytest.raises(FailedPreconditionError, match="already serves"):
        db.promote(name, "embedding", f"{model}/2")
    with pytest.raises(InUseError, match="rollback target"):
        db.drop_embedding_version(name, "embedding", f"{model}/1")
    back = db.rollback(name, "embedding", reason="oops")
    assert back["to_version"] == f"models:/{model}/1"
    history = db.serving_history(name, "embedding")
    assert [(h["action"], h["reason"]) for h in history] == [("promote", "better"), ("rollback", "oops")]
    versions = {v["model_version"]: v for v in db.describe_collection(name)["embedding_versions"]["embedding"]}
    assert versions[f"models:/{model}/1"]["serving"] and versions[f"models:/{model}/2"]["rows"] == 6


def test_collection_handle_passes_embedding_versions(db: Client, name: str, model: str) -> None:
    """Vectors brought through the ``Collection`` handle keep the model version they name."""
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    db.create_collection(name, schema=bound_schema(model))
    docs = db.collection(name)
    zebra = hash_embed(["zebra"], dimension=16)[0].tolist()
    whale = hash_embed(["whale"], dimension=16)[0].tolist()
    inserted = docs.insert([{"id": 1, "text": "zebra", "embedding": zebra}], embedding_versions={"embedding": f"{model}/1"})
    assert inserted["insert_count"] == 1
    upserted = docs.upsert([{"id": 1, "text": "whale", "embedding": whale}], embedding_versions={"embedding": f"{model}/1"})
    assert upserted["upsert_count"] == 1
    stored = docs.get([1], output_fields=["text", "embedding"])[0]
    assert stored["text"] == "whale"
    assert stored["embedding"] == pytest.approx(whale, abs=1e-6)
    with pytest.raises(DataError, match="must say which model version made them"):
        docs.upsert([{"id": 2, "text": "x", "embedding": whale}])
