"""model2vec: distillation from the registered MiniLM, offline, with lineage to its teacher."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import InvalidArgumentError, InvalidStateError
from embedb.models import LoadedModel, ModelRegistry, distill_from

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def distilled(minilm_registry: ModelRegistry, minilm: LoadedModel) -> LoadedModel:
    """MiniLM distilled once into a 128-d static model registered as ``minilm_static``."""
    distill_from(minilm_registry, "minilm@champion", name="minilm_static", pca_dims=128, alias="champion")
    return minilm_registry.load("minilm_static@champion")


def test_distilled_version_records_its_teacher(distilled: LoadedModel, minilm: LoadedModel) -> None:
    version = distilled.version
    assert (version.flavor, version.dimension, version.normalize) == ("model2vec", 128, True)
    assert version.lineage.parent == minilm.version.uri == "models:/minilm/1"
    assert version.params["distilled_from"] == "models:/minilm/1" and version.metrics["distill_seconds"] > 0


def test_distillation_leaves_the_teacher_artifact_intact(
    minilm_registry: ModelRegistry, distilled: LoadedModel
) -> None:
    minilm_registry.artifacts.verify(minilm_registry.resolve("minilm@champion").artifact_hash or "")


def test_static_embeddings_keep_related_texts_closer(distilled: LoadedModel) -> None:
    vectors = distilled.embed(["a small cat", "a little kitten", "income tax return"])
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_saved_static_model_directory_registers_as_model2vec(
    fresh_registry: ModelRegistry, distilled: LoadedModel, tmp_path: object
) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path)) / "static"
    distilled.encoder.model.save_pretrained(directory)  # type: ignore[attr-defined]
    version = fresh_registry.register("static", directory)
    assert version.flavor == "model2vec" and version.dimension == 128


def test_distill_needs_a_ready_sentence_transformers_teacher(minilm_registry: ModelRegistry) -> None:
    minilm_registry.register("toy_teacher", TOY_EMBEDDER)
    with pytest.raises(InvalidStateError, match="sentence-transformers"):
        distill_from(minilm_registry, "toy_teacher", name="nope")
    with pytest.raises(InvalidArgumentError, match="pca_dims"):
        distill_from(minilm_registry, "minilm", name="nope", pca_dims=1000)
