"""The ONNX flavor: an LSA pipeline split into a skops vectorizer and an ONNX projection graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models import ModelRegistry
from embedb.models.flavors.onnx import MODEL_FILE, VECTORIZER_FILE, OnnxTextModel, lsa_to_onnx, projection_to_onnx

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def test_onnx_lsa_matches_the_sklearn_pipeline(fresh_registry: ModelRegistry, lsa_pipeline: Any) -> None:
    version = fresh_registry.register("lsa_onnx", lsa_to_onnx(lsa_pipeline), alias="champion")
    assert (version.flavor, version.dimension, version.normalize) == ("onnx", 256, True)
    assert set(fresh_registry.artifacts.verify(version.artifact_hash or "").iterdir()) >= {
        fresh_registry.artifacts.path_of(version.artifact_hash or "") / MODEL_FILE,
        fresh_registry.artifacts.path_of(version.artifact_hash or "") / VECTORIZER_FILE,
    }

    texts = ["a genus of Psittacidae", "the bill in a restaurant", "music of Brahms", "zzzz unknown"]
    onnx_vectors = fresh_registry.load("lsa_onnx@champion").embed(texts, batch_size=3)
    np.testing.assert_allclose(onnx_vectors, lsa_pipeline.transform(texts).astype(np.float32), atol=1e-5)


def test_projection_graph_computes_a_matrix_product(fresh_registry: ModelRegistry, tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer().fit(["red green blue", "green yellow"])
    matrix = np.arange(len(vectorizer.vocabulary_) * 3, dtype=np.float32).reshape(-1, 3)
    bias = np.array([1.0, -1.0, 0.5], dtype=np.float32)
    (tmp_path / "model.onnx").write_bytes(projection_to_onnx(matrix, bias=bias))
    version = fresh_registry.register("counts", OnnxTextModel(model=tmp_path / "model.onnx", vectorizer=vectorizer))

    vectors = fresh_registry.load("counts").embed(["red red blue", "yellow"])
    expected = vectorizer.transform(["red red blue", "yellow"]).toarray() @ matrix + bias
    np.testing.assert_allclose(vectors, expected, rtol=1e-6)
    assert version.normalize is False


def test_a_bare_onnx_file_is_refused(fresh_registry: ModelRegistry, tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(projection_to_onnx(np.eye(2, dtype=np.float32)))
    with pytest.raises(InvalidArgumentError):
        fresh_registry.register("bare", path, flavor="onnx")


def test_a_graph_with_the_wrong_input_width_fails_the_version(fresh_registry: ModelRegistry) -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer().fit(["one two three"])
    with pytest.raises(ModelError, match="probe"):
        fresh_registry.register(
            "wrong", OnnxTextModel(model=projection_to_onnx(np.eye(5, dtype=np.float32)), vectorizer=vectorizer)
        )
