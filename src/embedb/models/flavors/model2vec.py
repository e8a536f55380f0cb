"""The model2vec flavor: static embeddings (a ``StaticModel`` or its saved directory).

The artifact is the directory ``StaticModel.save_pretrained`` writes (token
vectors as safetensors, the tokenizer, ``config.json``). Embedding is a table
lookup and a mean: thousands of texts per second on one CPU core.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models import InputUnit
from embedb.models.flavors import (
    ModelSpec,
    copy_model_directory,
    existing_directory,
    is_instance_by_name,
    refuse_pickle_files,
    use_offline_hub,
)
from embedb.schema import MetricType

NAME = "model2vec"
# model2vec's encode cuts each text to this many tokens unless told otherwise.
DEFAULT_MAX_TOKENS = 512
# Lookups are cheap, so a batch much larger than a transformer's keeps Python overhead low.
_MIN_BATCH = 1024


def is_model2vec_directory(directory: Path) -> bool:
    """Return whether ``directory`` holds a saved model2vec model (``config.json`` says ``model2vec``)."""
    config = directory / "config.json"
    if not config.is_file():
        return False
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("model_type") == "model2vec")
    except (ValueError, OSError, AttributeError):
        return False


def load_static_model(directory: Path) -> Any:
    """Load a model2vec directory offline; raise ``ModelError`` if it fails."""
    use_offline_hub()
    from model2vec import StaticModel

    try:
        return StaticModel.from_pretrained(directory, force_download=False)
    except Exception as error:
        raise ModelError(f"cannot load the model2vec model in {directory}: {error}") from error


class StaticModelEncoder:
    """Calls ``StaticModel.encode`` in one process (no multiprocessing pool) and returns float32."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=max(batch_size, _MIN_BATCH), show_progress_bar=False, use_multiprocessing=False
        )
        return np.asarray(vectors, dtype=np.float32)


def _spec_of(model: Any) -> ModelSpec:
    return ModelSpec(
        dimension=int(model.dim),
        metric=MetricType.COSINE,
        normalize=bool(model.normalize),
        max_input_length=DEFAULT_MAX_TOKENS,
        input_unit=InputUnit.TOKENS,
        params={"base_model_name": getattr(model, "base_model_name", None), "vocabulary_size": len(model.tokens)},
    )


class Model2VecFlavor:
    """Stores a model2vec ``StaticModel``; loads it with ``StaticModel.from_pretrained``."""

    name = NAME

    def detect(self, source: object) -> bool:
        if is_instance_by_name(source, package="model2vec", class_name="StaticModel"):
            return True
        directory = existing_directory(source)
        return directory is not None and is_model2vec_directory(directory)

    def validate(self, source: object) -> None:
        refuse_pickle_files(source)

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        directory = existing_directory(source)
        if directory is not None:
            if not is_model2vec_directory(directory):
                raise InvalidArgumentError(f"{directory} is not a model2vec directory (config.json model_type)")
            copy_model_directory(directory, destination)
            return _spec_of(load_static_model(destination))
        if not is_instance_by_name(source, package="model2vec", class_name="StaticModel"):
            raise InvalidArgumentError("the model2vec flavor stores a StaticModel or its saved directory")
        try:
            source.save_pretrained(destination)  # type: ignore[attr-defined]
        except Exception as error:
            raise ModelError(f"cannot save the StaticModel: {error}") from error
        return _spec_of(source)

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> StaticModelEncoder:
        return StaticModelEncoder(load_static_model(artifact_dir))


FLAVOR = Model2VecFlavor()
