"""LoadedModel: input checks, empty input, progress chunks, normalisation and output checks."""

from __future__ import annotations

import numpy as np
import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import InvalidArgumentError
from embedb.models import Embedder, ModelRegistry
from embedb.models.testing import hash_embed


def test_loaded_model_is_an_embedder(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER)
    loaded = fresh_registry.load("toy")
    assert isinstance(loaded, Embedder)
    vectors = loaded.embed(["a b", "c"])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 16) and vectors.flags.c_contiguous


def test_bad_input_is_refused(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER)
    loaded = fresh_registry.load("toy")
    with pytest.raises(InvalidArgumentError, match="single string"):
        loaded.embed("one text")
    with pytest.raises(InvalidArgumentError, match="item 1"):
        loaded.embed(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        loaded.embed(["fine"], batch_size=0)
    assert loaded.embed([]).shape == (0, 16)


def test_progress_reports_chunks_and_gives_the_same_vectors(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER)
    loaded = fresh_registry.load("toy")
    texts = [f"word{i % 7} other{i % 3}" for i in range(100)]
    calls: list[tuple[int, int]] = []
    vectors = loaded.embed(texts, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(32, 100), (64, 100), (96, 100), (100, 100)]
    np.testing.assert_array_equal(vectors, loaded.embed(texts))


def test_normalize_true_makes_rows_unit_length_except_empty_ones(fresh_registry: ModelRegistry) -> None:
    fresh_registry.register("toy", TOY_EMBEDDER, normalize=True)
    vectors = fresh_registry.load("toy").embed(["alpha beta beta", "", "gamma"])
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms, [1.0, 0.0, 1.0], atol=1e-6)
    raw = hash_embed(["alpha beta beta"], dimension=16)[0]
    np.testing.assert_allclose(vectors[0], raw / np.linalg.norm(raw), atol=1e-6)
