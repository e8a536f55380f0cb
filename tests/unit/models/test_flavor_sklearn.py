"""The sklearn flavor: LSA on revdict beats random retrieval by far; skops allowlist; no pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.models.conftest import LSA_DIMS

from embedb.datasets import RevDict
from embedb.errors import InvalidArgumentError, ModelError
from embedb.models import ModelRegistry, VersionStatus, train_lsa


def recall_at_k(document_vectors: np.ndarray, query_vectors: np.ndarray, revdict: RevDict, *, k: int) -> float:
    """Mean recall@k of exact inner-product search over the revdict qrels."""
    scores = query_vectors @ document_vectors.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    document_ids = np.array([doc_id for doc_id, _ in revdict.corpus])
    total = 0.0
    for row, (query_id, _) in enumerate(revdict.queries):
        relevant = revdict.qrels[query_id]
        total += len(set(document_ids[top[row]]) & set(relevant)) / min(len(relevant), k)
    return total / len(revdict.queries)


def test_lsa_retrieval_beats_random_by_a_wide_margin(
    fresh_registry: ModelRegistry, lsa_pipeline: Any, revdict: RevDict
) -> None:
    version = fresh_registry.register("lsa", lsa_pipeline, alias="champion", params={"trained_on": "revdict"})
    assert (version.flavor, version.dimension, version.normalize) == ("sklearn", LSA_DIMS, True)
    assert version.params["steps"] == ["TfidfVectorizer", "TruncatedSVD", "Normalizer"]

    model = fresh_registry.load("lsa@champion")
    documents = model.embed([text for _, text in revdict.corpus])
    queries = model.embed([text for _, text in revdict.queries])
    recall = recall_at_k(documents, queries, revdict, k=10)
    random_recall = 10 / len(revdict.corpus)
    assert recall > 20 * random_recall, recall


def test_loaded_pipeline_embeds_exactly_like_the_fitted_one(fresh_registry: ModelRegistry, lsa_pipeline: Any) -> None:
    fresh_registry.register("lsa", lsa_pipeline)
    texts = ["a genus of Psittacidae", "the bill in a restaurant"]
    np.testing.assert_allclose(
        fresh_registry.load("lsa").embed(texts), lsa_pipeline.transform(texts).astype(np.float32), atol=1e-6
    )


def test_a_skops_file_registers_too(fresh_registry: ModelRegistry, lsa_pipeline: Any, tmp_path: Path) -> None:
    import skops.io

    path = tmp_path / "lsa.skops"
    skops.io.dump(lsa_pipeline, path)
    assert fresh_registry.register("lsa", path).flavor == "sklearn"


def test_a_custom_tokenizer_function_is_refused(fresh_registry: ModelRegistry) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None).fit(["a b", "b c"])
    with pytest.raises(ModelError, match="allowlist"):
        fresh_registry.register("tfidf", vectorizer)
    assert fresh_registry.versions("tfidf")[0].status is VersionStatus.FAILED


def test_a_dimension_claim_that_contradicts_the_model_fails(fresh_registry: ModelRegistry, lsa_pipeline: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="dimension=5"):
        fresh_registry.register("lsa", lsa_pipeline, dimension=5)
    assert fresh_registry.versions("lsa")[0].status is VersionStatus.FAILED


def test_train_lsa_checks_its_input() -> None:
    with pytest.raises(InvalidArgumentError):
        train_lsa("not a list")
    with pytest.raises(InvalidArgumentError, match="dims"):
        train_lsa(["a b c", "b c d"], dims=50)
