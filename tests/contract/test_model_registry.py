"""The model registry: versions, URIs, aliases and their history, tags, deletion — the same both ways, errors too."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.support.bound_collections import FIELD, HASH_8, HASH_16, bound_schema, raises_exactly, unique_model

from embedb.client import Client
from embedb.errors import (
    AliasNotFoundError,
    InUseError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidStateError,
    ModelError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
)

MISSING_EMBEDDER = "tests.support.toy_embedders:no_such_embedder"


@pytest.fixture
def model() -> str:
    return unique_model()


def test_a_registered_version_says_what_it_is(db: Client, model: str) -> None:
    version = db.register_model(
        model,
        HASH_16,
        alias="champion",
        tags={"team": "search"},
        description="hashed words",
        params={"buckets": 16},
        metrics={"ndcg@10": 0.5},
        lineage={"training_data": "none", "run_id": "r1"},
        actor="ci",
    )
    assert {k: version[k] for k in ("name", "version", "uri", "status", "flavor", "dimension", "metric")} == {
        "name": model,
        "version": 1,
        "uri": f"models:/{model}/1",
        "status": "READY",
        "flavor": "callable",
        "dimension": 16,
        "metric": "COSINE",
    }
    assert version["params"] == {"import_path": HASH_16, "buckets": 16}
    assert (version["metrics"], version["tags"], version["aliases"]) == (
        {"ndcg@10": 0.5},
        {"team": "search"},
        ["champion"],
    )
    assert version["lineage"] == {"training_data": "none", "parent": None, "run_id": "r1", "source": None}
    assert (version["description"], version["status_message"], version["normalize"]) == ("hashed words", None, False)
    assert isinstance(version["artifact_hash"], str) and len(version["artifact_hash"]) == 64
    assert db.describe_model_version(f"{model}/1") == version

    second = db.register_model(model, HASH_8, lineage={"parent": f"models:/{model}/1"})
    assert (second["version"], second["dimension"], second["aliases"]) == (2, 8, [])
    assert second["lineage"]["parent"] == f"models:/{model}/1"
    described = db.describe_model(model)
    assert described == {
        "name": model,
        "uri": f"models:/{model}",
        "description": "hashed words",
        "tags": {},
        "created_at": described["created_at"],
        "latest_version": 2,
        "aliases": {"champion": 1},
    }
    assert described in db.list_models()
    assert [v["version"] for v in db.list_model_versions(model)] == [1, 2]


def test_registration_errors(db: Client, model: str) -> None:
    db.register_model(model, HASH_16)
    with raises_exactly(InvalidNameError, match="invalid model name"):
        db.register_model("not a name", HASH_16)
    with raises_exactly(InvalidArgumentError, match="cannot tell which flavor"):
        db.register_model(model, "not an import path")
    with raises_exactly(ModelNotFoundError):
        db.register_model(model, HASH_16, lineage={"parent": f"models:/{model}_missing/1"})
    with raises_exactly(InvalidArgumentError, match="unknown lineage fields"):
        db.register_model(model, HASH_16, lineage={"author": "me"})
    with raises_exactly(InvalidArgumentError, match="ndcg@10"):  # over HTTP the request model says it first
        db.register_model(model, HASH_16, metrics={"ndcg@10": "high"})  # type: ignore[dict-item]
    assert [v["version"] for v in db.list_model_versions(model)] == [1], "checked before anything is written"

    with raises_exactly(ModelError, match="cannot import the embedder"):
        db.register_model(model, MISSING_EMBEDDER, alias="champion")
    failed = db.describe_model_version(f"{model}/2")
    assert failed["status"] == "FAILED" and "cannot import the embedder" in (failed["status_message"] or "")
    assert failed["aliases"] == [], "a failed registration points no alias"
    assert db.describe_model(model)["latest_version"] == 1, "the latest version is the newest READY one"
    with raises_exactly(InvalidStateError, match="only at a READY version"):
        db.set_model_alias(model, "champion", 2)
    assert db.delete_model_version(model, 2)["status"] == "FAILED", "a failed version can be deleted"
    assert db.register_model(model, HASH_8)["version"] == 3, "version numbers are never reused"


def test_uri_forms_name_versions(db: Client, model: str) -> None:
    db.register_model(model, HASH_16, alias="champion")
    db.register_model(model, HASH_8)
    for uri, version in [
        (f"models:/{model}/1", 1),
        (f"{model}/1", 1),
        (f"models:/{model}@champion", 1),
        (f"{model}@champion", 1),
        (f"models:/{model}", 2),
        (model, 2),
        (f"{model}/latest", 2),
    ]:
        assert db.describe_model_version(uri)["version"] == version, uri
    with raises_exactly(AliasNotFoundError, match="has no alias 'staging'"):
        db.describe_model_version(f"{model}@staging")
    with raises_exactly(ModelVersionNotFoundError, match="does not exist"):
        db.describe_model_version(f"{model}/99")
    with raises_exactly(ModelNotFoundError, match="is not registered"):
        db.describe_model_version(f"{model}_missing")
    with raises_exactly(ModelNotFoundError):
        db.describe_model(f"{model}_missing")
    with raises_exactly(ModelNotFoundError):
        db.list_model_versions(f"{model}_missing")
    with raises_exactly(InvalidArgumentError, match="names no model"):
        db.describe_model_version("models:/")
    with raises_exactly(InvalidArgumentError, match="positive integer"):
        db.describe_model_version(f"{model}/0")
    with raises_exactly(InvalidNameError):
        db.describe_model_version(f"{model}@")


def test_aliases_move_and_every_move_is_recorded(
    db: Client, model: str, recorded_actor: Callable[[str | None], str | None]
) -> None:
    db.register_model(model, HASH_16, alias="champion")
    db.register_model(model, HASH_8)
    moved = db.set_model_alias(model, "challenger", 2, actor="alice", reason="try it")
    assert (moved["version"], moved["aliases"]) == (2, ["challenger"])
    db.set_model_alias(model, "challenger", 2, actor="alice", reason="again")  # already there: no history entry
    db.set_model_alias(model, "champion", 2, actor="bob", reason="won")
    assert sorted(db.describe_model_version(f"{model}/2")["aliases"]) == ["challenger", "champion"]
    assert db.describe_model(model)["aliases"] == {"champion": 2, "challenger": 2}
    db.delete_model_alias(model, "challenger", actor="alice", reason="done")
    assert db.describe_model(model)["aliases"] == {"champion": 2}

    every = db.model_alias_history(model)
    assert [(h["alias"], h["from_version"], h["to_version"], h["actor"], h["reason"]) for h in every] == [
        ("champion", None, 1, recorded_actor(None), "registered"),
        ("challenger", None, 2, recorded_actor("alice"), "try it"),
        ("champion", 1, 2, recorded_actor("bob"), "won"),
        ("challenger", 2, None, recorded_actor("alice"), "done"),
    ]
    assert all(h["name"] == model for h in every)
    assert [h["sequence"] for h in every] == sorted(h["sequence"] for h in every)
    assert [h["to_version"] for h in db.model_alias_history(model, "challenger")] == [2, None]

    with raises_exactly(AliasNotFoundError):
        db.delete_model_alias(model, "challenger")
    with raises_exactly(ModelVersionNotFoundError):
        db.set_model_alias(model, "champion", 9)
    with raises_exactly(ModelNotFoundError):
        db.set_model_alias(f"{model}_missing", "champion", 1)
    with raises_exactly(InvalidNameError):
        db.set_model_alias(model, "not an alias", 1)
    with raises_exactly(ModelNotFoundError):
        db.model_alias_history(f"{model}_missing")
    assert len(db.model_alias_history(model)) == len(every), "refused moves record nothing"


def test_tags_on_a_model_and_on_a_version(db: Client, model: str) -> None:
    db.register_model(model, HASH_16, tags={"team": "search"})
    assert db.set_model_tag(model, "owner", "ranking") is None
    db.set_model_tag(model, "stage", "prod", version=1)
    db.set_model_tag(model, "team", "infra", version=1)
    assert db.describe_model(model)["tags"] == {"owner": "ranking"}
    assert db.describe_model_version(f"{model}/1")["tags"] == {"team": "infra", "stage": "prod"}
    with raises_exactly(ModelVersionNotFoundError):
        db.set_model_tag(model, "stage", "prod", version=7)
    with raises_exactly(ModelNotFoundError):
        db.set_model_tag(f"{model}_missing", "stage", "prod")


def test_a_version_in_use_cannot_be_deleted(db: Client, name: str, model: str) -> None:
    db.register_model(model, HASH_16, alias="champion")
    db.register_model(model, HASH_8)
    db.create_collection(name, schema=bound_schema(model))
    with raises_exactly(InUseError, match="alias"):
        db.delete_model_version(model, 1)
    db.set_model_alias(model, "champion", 2)  # the collection's vectors are still version 1's
    with raises_exactly(InUseError, match=f"collection '{name}' field '{FIELD}'"):
        db.delete_model_version(model, 1)
    db.drop_collection(name)
    deleted = db.delete_model_version(model, 1)
    assert (deleted["version"], deleted["status"]) == (1, "READY"), "returns the version as it was"
    with raises_exactly(ModelVersionNotFoundError, match="was deleted"):
        db.describe_model_version(f"{model}/1")
    with raises_exactly(ModelVersionNotFoundError, match="was deleted"):
        db.delete_model_version(model, 1)
    assert [v["version"] for v in db.list_model_versions(model)] == [2]
