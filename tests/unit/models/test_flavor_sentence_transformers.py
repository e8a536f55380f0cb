"""The sentence-transformers flavor with the real all-MiniLM-L6-v2, offline, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedb.errors import InvalidArgumentError
from embedb.models import InputUnit, LoadedModel, ModelRegistry
from embedb.models.flavors.sentence_transformers import SentenceTransformerEncoder
from embedb.schema import MetricType

pytestmark = pytest.mark.model

PARAPHRASES = [
    ("A man is playing a guitar.", "Someone is strumming a guitar."),
    ("The cat sits on the mat.", "A cat is sitting on a rug."),
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
]
UNRELATED = [
    ("A man is playing a guitar.", "The stock market fell sharply today."),
    ("The cat sits on the mat.", "How do I reset my password?"),
    ("Quantum computers use qubits.", "She baked a chocolate cake."),
]


def _cosines(model: LoadedModel, pairs: list[tuple[str, str]]) -> np.ndarray:
    left = model.embed([a for a, _ in pairs])
    right = model.embed([b for _, b in pairs])
    return np.sum(left * right, axis=1)


def test_minilm_version_records_what_the_model_is(minilm: LoadedModel) -> None:
    version = minilm.version
    assert (version.flavor, version.dimension, version.metric, version.normalize) == (
        "sentence_transformers",
        384,
        MetricType.COSINE,
        True,
    )
    assert (version.max_input_length, version.input_unit) == (256, InputUnit.TOKENS)
    assert "Normalize" in version.params["modules"]


def test_paraphrases_are_closer_than_unrelated_pairs(minilm: LoadedModel) -> None:
    paraphrase = _cosines(minilm, PARAPHRASES)
    unrelated = _cosines(minilm, UNRELATED)
    assert paraphrase.min() > unrelated.max() + 0.2, (paraphrase, unrelated)
    assert paraphrase.min() > 0.5


def test_embeddings_equal_calling_encode_directly(minilm: LoadedModel) -> None:
    texts = [f"sentence number {i} about {topic}" for i, topic in enumerate(["cats", "tax", "music"] * 30)]
    assert isinstance(minilm.encoder, SentenceTransformerEncoder)
    direct = minilm.encoder.model.encode(texts, batch_size=32)
    calls: list[int] = []
    chunked = minilm.embed(texts, batch_size=4, progress=lambda done, total: calls.append(done))
    np.testing.assert_allclose(minilm.embed(texts, batch_size=32), direct, atol=1e-5)
    np.testing.assert_allclose(chunked, direct, atol=1e-5)
    assert calls == [64, 90]
    np.testing.assert_allclose(np.linalg.norm(direct, axis=1), 1.0, atol=1e-5)


def test_registering_a_loaded_sentence_transformer_object(fresh_registry: ModelRegistry, minilm: LoadedModel) -> None:
    assert isinstance(minilm.encoder, SentenceTransformerEncoder)
    version = fresh_registry.register("minilm_copy", minilm.encoder.model)
    assert version.flavor == "sentence_transformers" and version.dimension == 384
    text = ["the bill in a restaurant"]
    np.testing.assert_allclose(fresh_registry.load("minilm_copy").embed(text), minilm.embed(text), atol=1e-5)


def test_the_same_directory_gives_the_same_artifact(minilm_registry: ModelRegistry, minilm_source_dir: object) -> None:
    again = minilm_registry.register("minilm", minilm_source_dir)
    assert again.artifact_hash == minilm_registry.get_version("minilm", 1).artifact_hash
    minilm_registry.delete_version("minilm", again.version)
    assert minilm_registry.artifacts.verify(again.artifact_hash or "")


def test_a_directory_with_pickled_weights_is_refused_before_anything_is_written(
    fresh_registry: ModelRegistry, tmp_path: Path
) -> None:
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(InvalidArgumentError, match=r"pytorch_model\.bin"):
        fresh_registry.register("pickled", tmp_path)
    assert fresh_registry.list() == []
