"""model2vec: distillation from a registered MiniLM, offline, with lineage to its teacher.

Distillation embeds every token of the teacher's vocabulary; MiniLM's 30,522 take about a
minute on two cores. The teacher here is MiniLM itself, its weights unchanged, with its
vocabulary cut down to the special tokens, the most frequent words and the words these
tests embed (a few hundred tokens, distilled in a second or two). The distillation runs
for real through ``distill_from`` and ``model2vec.distill``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from tests.unit.models.conftest import TOY_EMBEDDER, open_registry

from embedb.errors import InvalidArgumentError, InvalidStateError
from embedb.models import LoadedModel, ModelRegistry, distill_from
from embedb.models.flavors.model2vec import StaticModelEncoder

pytestmark = [pytest.mark.model, pytest.mark.slow]

RELATED_AND_UNRELATED = ["a small cat", "a little kitten", "income tax return"]
COMMON_WORDS = 200  # more tokens than PCA_DIMS, which PCA needs
PCA_DIMS = 128
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def minilm_with_a_small_vocabulary(source: Path, destination: Path, *, texts: Sequence[str]) -> Path:
    """Copy the MiniLM directory ``source`` to ``destination``, keeping only some tokens.

    Kept: the special tokens, the ``COMMON_WORDS`` most frequent words of the vocabulary
    (BERT's vocabulary lists them in order from ``"the"``) and the word pieces of
    ``texts``, with their rows of the word-embedding matrix. Everything else, the
    transformer layers included, is MiniLM's own. Returns ``destination``.
    """
    from safetensors.numpy import load_file, save_file
    from transformers import AutoTokenizer, BertTokenizer

    vocabulary = (source / "vocab.txt").read_text(encoding="utf-8").splitlines()
    pieces = AutoTokenizer.from_pretrained(source)(list(texts), add_special_tokens=False)["input_ids"]
    first_word = vocabulary.index("the")
    kept = sorted(
        {vocabulary.index(token) for token in SPECIAL_TOKENS}
        | set(range(first_word, first_word + COMMON_WORDS))
        | {token_id for text_ids in pieces for token_id in text_ids}
    )
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("model.safetensors", "vocab.txt", "tokenizer*"))
    (destination / "vocab.txt").write_text("".join(f"{vocabulary[i]}\n" for i in kept), encoding="utf-8")
    BertTokenizer(str(destination / "vocab.txt"), do_lower_case=True).save_pretrained(destination)
    weights = load_file(source / "model.safetensors")
    weights["embeddings.word_embeddings.weight"] = np.ascontiguousarray(weights["embeddings.word_embeddings.weight"][kept])
    save_file(weights, destination / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((destination / "config.json").read_text(encoding="utf-8"))
    (destination / "config.json").write_text(json.dumps({**config, "vocab_size": len(kept)}), encoding="utf-8")
    return destination


@pytest.fixture(scope="module")
def teacher_registry(tmp_path_factory: pytest.TempPathFactory, minilm_source_dir: Path) -> Iterator[ModelRegistry]:
    """A registry whose ``minilm`` version 1 (alias ``champion``) is MiniLM with a small vocabulary."""
    folder = tmp_path_factory.mktemp("small-vocabulary-minilm")
    teacher = minilm_with_a_small_vocabulary(minilm_source_dir, folder / "model", texts=RELATED_AND_UNRELATED)
    registry = open_registry(tmp_path_factory.mktemp("teacher-registry"))
    registry.register("minilm", teacher, alias="champion", description="all-MiniLM-L6-v2, small vocabulary")
    yield registry
    registry.catalog.close()


@pytest.fixture(scope="module")
def distilled(teacher_registry: ModelRegistry) -> LoadedModel:
    """The teacher distilled once into a 128-d static model registered as ``minilm_static``."""
    distill_from(teacher_registry, "minilm@champion", name="minilm_static", pca_dims=PCA_DIMS, alias="champion")
    return teacher_registry.load("minilm_static@champion")


def test_distilled_version_records_its_teacher(distilled: LoadedModel, teacher_registry: ModelRegistry) -> None:
    version = distilled.version
    teacher = teacher_registry.resolve("minilm@champion")
    assert (version.flavor, version.dimension, version.normalize) == ("model2vec", PCA_DIMS, True)
    assert version.lineage.parent == teacher.uri == "models:/minilm/1"
    assert version.params["distilled_from"] == "models:/minilm/1" and version.metrics["distill_seconds"] > 0
    assert isinstance(distilled.encoder, StaticModelEncoder)


def test_distillation_leaves_the_teacher_artifact_intact(
    teacher_registry: ModelRegistry, distilled: LoadedModel
) -> None:
    teacher_registry.artifacts.verify(teacher_registry.resolve("minilm@champion").artifact_hash or "")


def test_static_embeddings_keep_related_texts_closer(distilled: LoadedModel) -> None:
    vectors = distilled.embed(RELATED_AND_UNRELATED)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_saved_static_model_directory_registers_as_model2vec(
    fresh_registry: ModelRegistry, distilled: LoadedModel, tmp_path: Path
) -> None:
    directory = tmp_path / "static"
    assert isinstance(distilled.encoder, StaticModelEncoder)
    distilled.encoder.model.save_pretrained(directory)
    version = fresh_registry.register("static", directory)
    assert version.flavor == "model2vec" and version.dimension == PCA_DIMS
    np.testing.assert_allclose(
        fresh_registry.load("static").embed(RELATED_AND_UNRELATED), distilled.embed(RELATED_AND_UNRELATED), atol=1e-6
    )


def test_distill_needs_a_ready_sentence_transformers_teacher(teacher_registry: ModelRegistry) -> None:
    teacher_registry.register("toy_teacher", TOY_EMBEDDER)
    with pytest.raises(InvalidStateError, match="sentence-transformers"):
        distill_from(teacher_registry, "toy_teacher", name="nope")
    with pytest.raises(InvalidArgumentError, match="pca_dims"):
        distill_from(teacher_registry, "minilm", name="nope", pca_dims=1000)
