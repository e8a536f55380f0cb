"""The callable flavor: import paths, importable functions, objects with embed(), probing."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models import ModelRegistry
from embedb.models.flavors.python_callable import resolve_import_path
from embedb.models.testing import hash_embed, hash_embed_8


def test_import_path_is_stored_as_a_tiny_json_artifact(fresh_registry: ModelRegistry) -> None:
    version = fresh_registry.register("toy", TOY_EMBEDDER)
    directory = fresh_registry.artifacts.verify(version.artifact_hash or "")
    assert json.loads((directory / "callable.json").read_text()) == {"import_path": TOY_EMBEDDER, "dimension": 16}
    assert version.params["import_path"] == TOY_EMBEDDER


def test_an_importable_function_is_registered_by_its_path(fresh_registry: ModelRegistry) -> None:
    version = fresh_registry.register("toy", hash_embed_8)
    assert version.params["import_path"] == "embedb.models.testing:hash_embed_8" and version.dimension == 8


def test_an_object_with_embed_is_called_in_batches(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", "embedb.models.testing:hashing_embedder_32")
    texts = [f"text number {i}" for i in range(10)]
    vectors = fresh_registry.load("toy").embed(texts, batch_size=3)
    np.testing.assert_array_equal(vectors, hash_embed(texts, dimension=32))


def test_lambdas_and_local_functions_are_refused(fresh_registry: ModelRegistry) -> None:
    def local(texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 2))

    with pytest.raises(InvalidArgumentError):
        fresh_registry.register("toy", local, flavor="callable")
    with pytest.raises(InvalidArgumentError):
        fresh_registry.register("toy", lambda texts: texts)
    assert fresh_registry.list() == []


def test_an_import_path_with_a_trailing_newline_is_not_one(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(InvalidArgumentError, match="import path"):
        resolve_import_path("embedb.models.testing:hash_embed\n")
    assert resolve_import_path("embedb.models.testing:hash_embed") is hash_embed


def test_a_path_to_something_that_is_not_callable_fails(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(ModelError, match="neither callable"):
        fresh_registry.register("toy", "embedb.models.testing:_WORD")


def test_a_version_params_batch_size_sets_the_embedding_batch(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("sized", "embedb.models.testing:hashing_embedder_32", params={"batch_size": 7})
    fresh_registry.register("plain", "embedb.models.testing:hashing_embedder_32")
    sized = fresh_registry.load("sized")
    assert sized.batch_size == 7 and fresh_registry.load("plain").batch_size == 64
    seen: list[int] = []
    encode = sized.encoder.encode

    def counting(texts: list[str], *, batch_size: int) -> Any:
        seen.append(batch_size)
        return encode(texts, batch_size=batch_size)

    sized.encoder.encode = counting  # type: ignore[method-assign]
    sized.embed([f"text {i}" for i in range(20)])
    assert seen and set(seen) == {7}
