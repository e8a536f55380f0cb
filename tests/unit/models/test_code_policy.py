"""Code-bearing model versions: which import paths a registry registers and loads under its policy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import InvalidArgumentError, ModelError, PermissionDeniedError
from embedb.models import CodeModelPolicy, ModelRegistry
from embedb.models.testing import hash_embed_8
from embedb.storage.catalog import Catalog

UNIMPORTED_MODULE = "tests.unit.models.never_imported_embedder"


def restricted_registry(directory: Path, prefixes: tuple[str, ...]) -> ModelRegistry:
    return ModelRegistry(
        Catalog(directory / "catalog.sqlite", read_only=False),
        directory / "artifacts",
        code_models=CodeModelPolicy(prefixes),
    )


@pytest.mark.parametrize(
    ("import_path", "allowed"),
    [
        ("mypkg:embed", True),
        ("mypkg.sub.deeper:embed", True),
        ("mypkgevil.x:embed", False),
        ("mypkgevil:embed", False),
        ("other.mypkg:embed", False),
        ("subprocess:getoutput", False),
    ],
)
def test_a_prefix_matches_on_module_path_boundaries(import_path: str, allowed: bool) -> None:
    assert CodeModelPolicy(["mypkg"]).allows(import_path) is allowed
    assert CodeModelPolicy().allows(import_path), "no policy given: every module (embedded)"


def test_no_prefix_allows_nothing_and_the_refusal_names_the_flag() -> None:
    policy = CodeModelPolicy([])
    with pytest.raises(PermissionDeniedError, match="--allow-code-models PREFIX") as refused:
        policy.check("subprocess:getoutput", subject="registering model 'shell'")
    assert "'subprocess:getoutput'" in refused.value.message and "allowed: none" in refused.value.message
    assert refused.value.http_status == 403


@pytest.mark.parametrize("bad", ["", "my-pkg", "mypkg.", ".mypkg", "mypkg:embed", "my pkg"])
def test_a_prefix_must_be_a_module_path(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not a module prefix"):
        CodeModelPolicy([bad])
    with pytest.raises(InvalidArgumentError, match="list of module paths"):
        CodeModelPolicy("mypkg")


def test_restrict_narrows_and_never_widens() -> None:
    policy = CodeModelPolicy()
    policy.restrict(["a", "b.c"])
    assert policy.prefixes == ("a", "b.c")
    policy.restrict(["a.x", "b", "z"])
    assert policy.prefixes == ("a.x", "b.c"), "each prefix kept lies under one of the other set"
    policy.restrict([])
    assert policy.prefixes == () and not policy.allows("a.x:f")


def test_a_refused_callable_is_neither_imported_nor_recorded(tmp_path: Path) -> None:
    registry = restricted_registry(tmp_path, ("embedb.models.testing",))
    try:
        with pytest.raises(PermissionDeniedError, match=UNIMPORTED_MODULE):
            registry.register("evil", f"{UNIMPORTED_MODULE}:embed", dimension=4)
        assert UNIMPORTED_MODULE not in sys.modules
        with pytest.raises(PermissionDeniedError):
            registry.register("evil", "embedb.models.testingevil:embed", dimension=4)
        assert registry.list() == [], "nothing was written: not even a FAILED version"
        assert registry.register("toy", TOY_EMBEDDER).version == 1
        assert registry.register("toy", hash_embed_8).version == 2, "a function object is checked by its path"
        assert registry.load("toy/1").dimension == 16
    finally:
        registry.catalog.close()


def test_a_version_registered_without_a_policy_is_refused_at_load_and_bind(tmp_path: Path) -> None:
    open_registry = ModelRegistry(Catalog(tmp_path / "catalog.sqlite", read_only=False), tmp_path / "artifacts")
    version = open_registry.register("toy", TOY_EMBEDDER)
    loaded = open_registry.load("toy")
    open_registry.code_models.restrict(["mypkg"])  # a server now serves this registry
    with pytest.raises(PermissionDeniedError, match="loading models:/toy/1"):
        open_registry.load("toy")
    with pytest.raises(PermissionDeniedError, match="using models:/toy/1"):
        open_registry.check_code_allowed(version)
    assert loaded.dimension == 16, "a model loaded before keeps working for whoever holds it"
    open_registry.catalog.close()

    reopened = restricted_registry(tmp_path, ())
    try:
        with pytest.raises(PermissionDeniedError):
            reopened.load("toy")
        with pytest.raises(PermissionDeniedError):
            reopened.check_code_allowed(version)
        assert reopened.get_version("toy", 1).params["import_path"] == TOY_EMBEDDER, "reads still work"
    finally:
        reopened.catalog.close()


def test_the_artifact_not_the_params_says_what_a_load_imports(tmp_path: Path) -> None:
    registry = restricted_registry(tmp_path, ("embedb.models.testing",))
    try:
        registry.register("toy", TOY_EMBEDDER, params={"import_path": "subprocess:getoutput"})
        assert registry.load("toy").dimension == 16
    finally:
        registry.catalog.close()


def test_a_sentence_transformers_directory_cannot_name_a_class_to_import(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    module = [{"idx": 0, "name": "0", "path": "", "type": f"{UNIMPORTED_MODULE}.Module"}]
    (model_dir / "modules.json").write_text(json.dumps(module))
    registry = ModelRegistry(Catalog(tmp_path / "catalog.sqlite", read_only=False), tmp_path / "artifacts")
    try:
        with pytest.raises(ModelError, match="trust_remote_code"):
            registry.register("custom", model_dir, flavor="sentence_transformers")
        assert UNIMPORTED_MODULE not in sys.modules
    finally:
        registry.catalog.close()
