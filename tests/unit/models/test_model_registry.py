"""The registry: versions, aliases and their history, tags, deletion guards, reopening, transactions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.models.conftest import TOY_EMBEDDER, open_registry

from embedb.errors import (
    AliasNotFoundError,
    InUseError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidStateError,
    ModelError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
    ReadOnlyError,
)
from embedb.models import Lineage, ModelRegistry, VersionStatus
from embedb.schema import MetricType
from embedb.storage.catalog import Catalog


def test_register_creates_model_and_numbered_ready_versions(fresh_registry: ModelRegistry) -> None:
    first = fresh_registry.register("toy", TOY_EMBEDDER, description="hashing", tags={"team": "search"})
    second = fresh_registry.register("toy", "embedb.models.testing:hash_embed_8", metrics={"ndcg_at_10": 0.5})

    assert (first.version, second.version) == (1, 2)
    assert first.status is VersionStatus.READY and first.flavor == "callable"
    assert (first.dimension, first.metric, first.normalize) == (16, MetricType.COSINE, False)
    assert first.tags == {"team": "search"} and second.metrics == {"ndcg_at_10": 0.5}
    assert first.uri == "models:/toy/1"
    model = fresh_registry.get("toy")
    assert model.description == "hashing" and model.latest_version == 2 and model.aliases == {}
    assert [v.version for v in fresh_registry.versions("toy")] == [1, 2]
    assert [m.name for m in fresh_registry.list()] == ["toy"]


def test_version_to_dict_is_json_ready(fresh_registry: ModelRegistry) -> None:
    version = fresh_registry.register("toy", TOY_EMBEDDER, alias="champion", lineage={"run_id": "r1"})
    encoded = json.loads(json.dumps(version.to_dict()))
    assert encoded["uri"] == "models:/toy/1" and encoded["status"] == "READY" and encoded["metric"] == "COSINE"
    assert encoded["aliases"] == ["champion"] and encoded["lineage"]["run_id"] == "r1"
    assert json.loads(json.dumps(fresh_registry.get("toy").to_dict()))["aliases"] == {"champion": 1}


def test_bad_names_and_arguments_fail_before_anything_is_written(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(InvalidNameError):
        fresh_registry.register("../escape", TOY_EMBEDDER)
    with pytest.raises(InvalidNameError):
        fresh_registry.register("toy", TOY_EMBEDDER, alias="no-dashes")
    with pytest.raises(InvalidArgumentError, match="tag"):
        fresh_registry.register("toy", TOY_EMBEDDER, tags={"k": 3})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match="metric 'm'"):
        fresh_registry.register("toy", TOY_EMBEDDER, metrics={"m": float("nan")})
    with pytest.raises(InvalidArgumentError, match="flavor"):
        fresh_registry.register("toy", object())
    with pytest.raises(InvalidArgumentError, match="unknown model flavor"):
        fresh_registry.register("toy", TOY_EMBEDDER, flavor="pickle")
    with pytest.raises(InvalidArgumentError, match="does not recognise"):
        fresh_registry.register("toy", TOY_EMBEDDER, flavor="sklearn")
    with pytest.raises(ModelNotFoundError):
        fresh_registry.register("toy", TOY_EMBEDDER, lineage={"parent": "models:/ghost/1"})
    assert fresh_registry.list() == []


def test_failed_registration_leaves_a_failed_version_and_no_alias(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(ModelError, match="cannot import"):
        fresh_registry.register("toy", "embedb.models.testing:no_such_function", alias="champion")

    (failed,) = fresh_registry.versions("toy")
    assert failed.status is VersionStatus.FAILED and "no_such_function" in (failed.status_message or "")
    assert failed.artifact_hash is None and fresh_registry.get("toy").aliases == {}
    with pytest.raises(InvalidStateError):
        fresh_registry.load("toy/1")
    with pytest.raises(InvalidStateError):
        fresh_registry.set_alias("toy", "champion", 1)
    assert fresh_registry.register("toy", TOY_EMBEDDER).version == 2
    fresh_registry.delete_version("toy", 1)


def test_a_claimed_dimension_skips_the_probe_and_is_checked_at_embed_time(fresh_registry: ModelRegistry) -> None:
    version = fresh_registry.register("toy", "embedb.models.testing:hashing_embedder_32", dimension=5)
    assert version.dimension == 5 and version.status is VersionStatus.READY
    with pytest.raises(ModelError, match="dimension 32"):
        fresh_registry.load("toy").embed(["text"])


def test_set_move_delete_alias_records_history(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER, alias="champion", actor="ci")
    fresh_registry.register("toy", TOY_EMBEDDER)
    moved = fresh_registry.set_alias("toy", "champion", 2, actor="ana", reason="won the A/B test")
    fresh_registry.set_alias("toy", "champion", 2, actor="ana")  # no move, no entry
    fresh_registry.set_alias("toy", "challenger", 1)
    fresh_registry.delete_alias("toy", "challenger", actor="bo", reason="experiment over")

    assert moved.version == 2 and moved.aliases == ("champion",)
    history = fresh_registry.alias_history("toy")
    assert [(c.alias, c.from_version, c.to_version) for c in history] == [
        ("champion", None, 1),
        ("champion", 1, 2),
        ("challenger", None, 1),
        ("challenger", 1, None),
    ]
    assert (history[1].actor, history[1].reason) == ("ana", "won the A/B test")
    assert history[0].reason == "registered" and history[0].actor == "ci"
    assert [c.sequence for c in fresh_registry.alias_history("toy", "challenger")] == [3, 4]
    assert fresh_registry.get("toy").aliases == {"champion": 2}


def test_alias_errors(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER)
    with pytest.raises(ModelVersionNotFoundError):
        fresh_registry.set_alias("toy", "champion", 7)
    with pytest.raises(ModelNotFoundError):
        fresh_registry.set_alias("ghost", "champion", 1)
    with pytest.raises(AliasNotFoundError):
        fresh_registry.delete_alias("toy", "champion")
    with pytest.raises(InvalidArgumentError):
        fresh_registry.set_alias("toy", "champion", 0)
    assert fresh_registry.alias_history("toy") == []


def test_tags_on_models_and_versions_are_mutable_the_rest_is_not(fresh_registry: ModelRegistry) -> None:
    before = fresh_registry.register("toy", TOY_EMBEDDER)
    fresh_registry.set_tag("toy", "owner", "search")
    fresh_registry.set_tag("toy", "validated", "yes", version=1)
    fresh_registry.delete_tag("toy", "owner")
    after = fresh_registry.get_version("toy", 1)

    assert fresh_registry.get("toy").tags == {}
    assert after.tags == {"validated": "yes"}
    assert after.to_dict() | {"tags": {}} == before.to_dict()
    with pytest.raises(ModelVersionNotFoundError):
        fresh_registry.set_tag("toy", "k", "v", version=9)


def test_delete_version_is_refused_while_an_alias_or_a_user_holds_it(tmp_path: Path) -> None:
    users = {2: ["collection docs, field text_vec"]}
    fresh_registry = ModelRegistry(
        Catalog(tmp_path / "catalog.sqlite", read_only=False),
        tmp_path / "artifacts",
        version_users=lambda version: users.get(version.version, []),
    )
    fresh_registry.register("toy", TOY_EMBEDDER, alias="champion")
    fresh_registry.register("toy", "embedb.models.testing:hash_embed_8")

    with pytest.raises(InUseError, match="champion"):
        fresh_registry.delete_version("toy", 1)
    with pytest.raises(InUseError, match="collection docs"):
        fresh_registry.delete_version("toy", 2)

    users.clear()
    deleted = fresh_registry.delete_version("toy", 2)
    assert deleted.version == 2 and not fresh_registry.artifacts.exists(deleted.artifact_hash or "")
    with pytest.raises(ModelVersionNotFoundError, match="deleted"):
        fresh_registry.get_version("toy", 2)
    assert [v.status for v in fresh_registry.versions("toy", include_deleted=True)] == [
        VersionStatus.READY,
        VersionStatus.DELETED,
    ]
    assert fresh_registry.register("toy", TOY_EMBEDDER).version == 3  # numbers are never reused


def test_shared_artifact_survives_until_its_last_version_is_deleted(fresh_registry: ModelRegistry) -> None:
    first = fresh_registry.register("toy", TOY_EMBEDDER)
    second = fresh_registry.register("other", TOY_EMBEDDER)
    assert first.artifact_hash == second.artifact_hash

    fresh_registry.delete_version("toy", 1)
    assert fresh_registry.load("other/1").embed(["still loads"]).shape == (1, 16)
    fresh_registry.delete_version("other", 1)
    assert not fresh_registry.artifacts.exists(first.artifact_hash or "")


def test_lineage_parent_is_canonicalised(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("teacher", TOY_EMBEDDER, alias="champion")
    student = fresh_registry.register(
        "student", "embedb.models.testing:hash_embed_8", lineage=Lineage(parent="teacher@champion", run_id="run-7")
    )
    assert student.lineage == Lineage(parent="models:/teacher/1", run_id="run-7")
    with pytest.raises(InvalidArgumentError, match="unknown lineage"):
        fresh_registry.register("student", TOY_EMBEDDER, lineage={"parents": "x"})


def test_everything_survives_reopening(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    registry.register("toy", TOY_EMBEDDER, alias="champion", tags={"a": "b"})
    registry.register("toy", TOY_EMBEDDER)
    registry.set_alias("toy", "champion", 2, reason="newer")
    expected = ([v.to_dict() for v in registry.versions("toy")], registry.alias_history("toy"))
    registry.catalog.close()

    reopened = open_registry(tmp_path)
    assert ([v.to_dict() for v in reopened.versions("toy")], reopened.alias_history("toy")) == expected
    assert reopened.load("toy@champion").version.version == 2
    reopened.catalog.close()


def test_interrupted_registration_is_failed_on_the_next_open(tmp_path: Path) -> None:
    registry = open_registry(tmp_path)
    with registry.catalog.transaction() as cursor:  # what a crash between reserve and publish leaves
        cursor.execute("INSERT INTO registered_models (name, created_at, last_version) VALUES ('toy', 0, 1)")
        cursor.execute(
            "INSERT INTO model_versions (name, version, status, flavor, created_at) VALUES ('toy', 1, 'REGISTERING', 'callable', 0)"
        )
    registry.catalog.close()

    reopened = open_registry(tmp_path)
    assert reopened.get_version("toy", 1).status is VersionStatus.FAILED
    reopened.catalog.close()


def test_read_only_registry_reads_and_refuses_writes(tmp_path: Path) -> None:
    writer = open_registry(tmp_path)
    writer.register("toy", TOY_EMBEDDER, alias="champion")
    reader = open_registry(tmp_path, read_only=True)

    assert reader.resolve("toy@champion").version == 1
    with pytest.raises(ReadOnlyError):
        reader.set_alias("toy", "challenger", 1)
    writer.catalog.close()
    reader.catalog.close()


def test_read_only_registry_over_a_catalog_without_models_is_empty(tmp_path: Path) -> None:
    from embedb.storage.catalog import Catalog

    Catalog(tmp_path / "catalog.sqlite", read_only=False).close()
    reader = open_registry(tmp_path, read_only=True)
    assert reader.list() == []
    with pytest.raises(ModelNotFoundError):
        reader.get("toy")
    reader.catalog.close()


def test_alias_move_joins_the_callers_transaction(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER, alias="champion")
    fresh_registry.register("toy", TOY_EMBEDDER)

    with pytest.raises(RuntimeError), fresh_registry.catalog.transaction() as cursor:
        fresh_registry.set_alias("toy", "champion", 2, cursor=cursor, reason="promotion")
        assert fresh_registry.resolve("toy@champion").version == 2  # visible inside the transaction
        raise RuntimeError("the index switch failed")

    assert fresh_registry.resolve("toy@champion").version == 1
    assert len(fresh_registry.alias_history("toy")) == 1

    with fresh_registry.catalog.transaction() as cursor:
        fresh_registry.set_alias("toy", "champion", 2, cursor=cursor, reason="promotion")
    assert fresh_registry.resolve("toy@champion").version == 2


def test_events_are_recorded_in_the_catalog(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER, alias="champion", actor="ci")
    kinds = [row["kind"] for row in fresh_registry.catalog.query("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["model.version.ready", "model.alias.moved"]
