"""The MLflow bridge: never guessed, and a clear error when MLflow is not installed."""

from __future__ import annotations

import importlib.util

import pytest

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models import ModelRegistry


def test_mlflow_uris_need_an_explicit_flavor(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(InvalidArgumentError, match="flavor='mlflow'"):
        fresh_registry.register("imported", "models:/upstream/1")


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is not None, reason="MLflow is installed")
def test_missing_mlflow_gives_a_clear_model_error(fresh_registry: ModelRegistry) -> None:
    with pytest.raises(ModelError, match="pip install mlflow"):
        fresh_registry.register("imported", "models:/upstream/1", flavor="mlflow")
