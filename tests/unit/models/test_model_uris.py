"""Model URIs: parsing every accepted form, refusing malformed ones, resolving them in a registry."""

from __future__ import annotations

import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import (
    AliasNotFoundError,
    InvalidArgumentError,
    InvalidNameError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
)
from embedb.models import ModelRef, ModelRegistry, parse_model_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/minilm/3", ModelRef("minilm", version=3)),
        ("models:/minilm@champion", ModelRef("minilm", alias="champion")),
        ("models:/minilm", ModelRef("minilm")),
        ("models:/minilm/latest", ModelRef("minilm")),
        ("minilm/3", ModelRef("minilm", version=3)),
        ("minilm@champion", ModelRef("minilm", alias="champion")),
        ("minilm", ModelRef("minilm")),
    ],
)
def test_parse_every_form(uri: str, expected: ModelRef) -> None:
    assert parse_model_uri(uri) == expected


def test_canonical_uri_round_trips() -> None:
    for uri in ("models:/m/3", "models:/m@challenger", "models:/m"):
        assert parse_model_uri(uri).uri == uri


@pytest.mark.parametrize("uri", ["", "models:/", "m/0", "m/-1", "m/3/4", "m/x", "m/٣"])
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidArgumentError):
        parse_model_uri(uri)


@pytest.mark.parametrize("uri", ["../m/1", "m@", "m@bad-alias", "models:/a b", "1m"])
def test_bad_names_in_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidNameError):
        parse_model_uri(uri)


def test_resolve_every_form(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER, alias="champion")
    fresh_registry.register("toy", TOY_EMBEDDER)

    assert fresh_registry.resolve("models:/toy/1").version == 1
    assert fresh_registry.resolve("toy@champion").version == 1
    assert fresh_registry.resolve("models:/toy").version == 2
    assert fresh_registry.resolve("toy/latest").version == 2
    assert fresh_registry.resolve(ModelRef("toy", version=2)).uri == "models:/toy/2"
    assert fresh_registry.load("models:/toy@champion").version.uri == "models:/toy/1"


def test_latest_skips_versions_that_are_not_ready(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER)
    with pytest.raises(Exception, match="cannot import"):
        fresh_registry.register("toy", "embedb.models.testing:missing")
    assert fresh_registry.resolve("toy").version == 1


def test_resolve_errors(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError):
        fresh_registry.resolve("ghost")
    fresh_registry.register("toy", TOY_EMBEDDER)
    with pytest.raises(AliasNotFoundError, match="champion"):
        fresh_registry.resolve("toy@champion")
    with pytest.raises(ModelVersionNotFoundError):
        fresh_registry.resolve("toy/2")
    fresh_registry.delete_version("toy", 1)
    with pytest.raises(ModelVersionNotFoundError, match="no READY version"):
        fresh_registry.resolve("toy")
