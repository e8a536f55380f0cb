"""Serving versions of a bound field: promote, roll back, history, drop — the same both ways, errors included."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.support.bound_collections import (
    FIELD,
    HASH_8,
    HASH_16,
    bound_collection,
    raises_exactly,
    unique_model,
)

from embedb.client import Client
from embedb.errors import (
    CollectionNotFoundError,
    FailedPreconditionError,
    InUseError,
    NotFoundError,
)


@pytest.fixture
def model() -> str:
    return unique_model()


def versions_of(db: Client, name: str) -> dict[str, dict[str, object]]:
    return {v["model_version"]: v for v in db.describe_collection(name)["embedding_versions"][FIELD]}


def test_promote_and_rollback_move_serving_version_alias_and_history(
    db: Client, name: str, model: str, recorded_actor: Callable[[str | None], str | None]
) -> None:
    bound_collection(db, name, model)
    v1, v2 = f"models:/{model}/1", f"models:/{model}/2"
    with raises_exactly(FailedPreconditionError, match="no previous version"):
        db.rollback(name, FIELD)
    assert db.serving_history(name) == []

    moved = db.promote(name, FIELD, f"{model}@challenger", reason="better recall", actor="ci")
    assert {k: v for k, v in moved.items() if k != "elapsed_ms"} == {
        "action": "promote",
        "collection_name": name,
        "field": FIELD,
        "from_version": v1,
        "to_version": v2,
        "alias": f"{model}@champion",
    }
    assert moved["elapsed_ms"] >= 0
    assert db.describe_model_version(f"{model}@champion")["version"] == 2, "the field's alias moved with it"
    assert {uri: v["serving"] for uri, v in versions_of(db, name).items()} == {v1: False, v2: True}
    assert len(db.get(name, [0], output_fields=[FIELD])[0][FIELD]) == 8, "reads return the serving version"
    assert db.search(name, "stock market crash", limit=1)[0][0]["id"] == 2

    back = db.rollback(name, FIELD, reason="latency", actor="oncall")
    assert (back["action"], back["from_version"], back["to_version"]) == ("rollback", v2, v1)
    assert back["alias"] == f"{model}@champion"
    assert db.describe_model_version(f"{model}@champion")["version"] == 1
    assert len(db.get(name, [0], output_fields=[FIELD])[0][FIELD]) == 16

    history = db.serving_history(name, FIELD)
    assert [
        (h["action"], h["field"], h["from_version"], h["to_version"], h["alias"], h["reason"], h["actor"])
        for h in history
    ] == [
        ("promote", FIELD, v1, v2, f"{model}@champion", "better recall", recorded_actor("ci")),
        ("rollback", FIELD, v2, v1, f"{model}@champion", "latency", recorded_actor("oncall")),
    ]
    assert history[0]["time"] <= history[1]["time"]
    assert db.serving_history(name) == history, "without a field: every field's history"
    assert db.serving_history(name, "other_field") == []
    alias_moves = db.model_alias_history(model, "champion")
    assert [(a["from_version"], a["to_version"], a["reason"], a["actor"]) for a in alias_moves] == [
        (None, 1, "registered", recorded_actor(None)),
        (1, 2, "better recall", recorded_actor("ci")),
        (2, 1, "latency", recorded_actor("oncall")),
    ]


def test_promotion_is_refused_unless_the_version_can_serve(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model)
    with raises_exactly(FailedPreconditionError, match="already serves"):
        db.promote(name, FIELD, f"{model}@champion")
    db.register_model(model, HASH_16)  # version 3: registered, but the field holds no vectors of it
    with raises_exactly(NotFoundError, match="holds no vectors"):
        db.promote(name, FIELD, f"{model}/3")
    other = unique_model()
    db.register_model(other, HASH_8)
    assert db.add_embedding_version(name, FIELD, other, wait=True, timeout=60)["state"] == "DONE"
    with raises_exactly(FailedPreconditionError, match=f"only versions of '{model}'"):
        db.promote(name, FIELD, other)
    with raises_exactly(CollectionNotFoundError):
        db.promote(f"{name}_missing", FIELD, f"{model}@challenger")
    with raises_exactly(CollectionNotFoundError):
        db.serving_history(f"{name}_missing")
    assert db.serving_history(name) == [], "a refused promotion records nothing"
    assert db.describe_model_version(f"{model}@champion")["version"] == 1


def test_a_version_in_use_cannot_be_dropped(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model)
    db.register_model(model, HASH_8)  # version 3, no alias
    db.add_embedding_version(name, FIELD, f"{model}/3", wait=True, timeout=60)
    with raises_exactly(InUseError, match="it serves the field") as serving:
        db.drop_embedding_version(name, FIELD, f"{model}/1")
    assert f"model alias {model}@champion" in str(serving.value)
    with raises_exactly(InUseError, match=f"model alias {model}@challenger"):
        db.drop_embedding_version(name, FIELD, f"{model}/2")

    experiment = db.start_experiment(name, FIELD, champion=f"{model}@champion", challenger=f"{model}/3", mode="shadow")
    with raises_exactly(InUseError, match=f"running experiment {experiment['experiment_id']}"):
        db.drop_embedding_version(name, FIELD, f"{model}/3")
    db.stop_experiment(experiment["experiment_id"])

    db.delete_model_alias(model, "challenger")
    db.promote(name, FIELD, f"{model}/2")  # version 1 is now the rollback target, and has no alias left
    with raises_exactly(InUseError, match="rollback target"):
        db.drop_embedding_version(name, FIELD, f"{model}/1")
    assert versions_of(db, name)[f"models:/{model}/1"]["state"] == "READY", "a refused drop changes nothing"


def test_a_dropped_version_is_retired_and_its_model_version_freed(db: Client, name: str, model: str) -> None:
    bound_collection(db, name, model)
    v2 = f"models:/{model}/2"
    db.delete_model_alias(model, "challenger")
    with raises_exactly(InUseError, match=f"collection '{name}' field '{FIELD}'"):
        db.delete_model_version(model, 2)
    dropped = db.drop_embedding_version(name, FIELD, f"{model}/2")
    assert dropped == {"collection_name": name, "field": FIELD, "dropped_version": v2, "segments": 1}
    assert (versions_of(db, name)[v2]["state"], versions_of(db, name)[v2]["rows"]) == ("RETIRED", 0)
    with raises_exactly(NotFoundError, match="holds no vectors"):
        db.search(name, "whale", limit=1, embedding_version=f"{model}/2")
    with raises_exactly(NotFoundError, match="holds no vectors"):
        db.drop_embedding_version(name, FIELD, f"{model}/2")
    db.insert(name, [{"id": 100, "text": "new row after the drop"}])
    assert db.search(name, "new row after the drop", limit=1)[0][0]["id"] == 100, "writes go on without it"
    assert db.delete_model_version(model, 2)["version"] == 2, "no collection holds its vectors any more"
