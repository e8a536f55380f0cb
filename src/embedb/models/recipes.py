"""Ready-made models: an LSA pipeline to train, and model2vec distillation from a registered version.

Both import their heavy libraries when called, never at ``import embedb``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from embedb.errors import InvalidArgumentError, InvalidStateError, ModelError
from embedb.models import Lineage, ModelVersion

if TYPE_CHECKING:
    from embedb.models.registry import ModelRegistry


def train_lsa(texts: Sequence[str], *, dims: int = 256, seed: int = 0) -> Any:
    """Fit and return a scikit-learn ``Pipeline``: TF-IDF, ``TruncatedSVD(dims)``, L2 ``Normalizer``.

    The result embeds texts into ``dims`` dimensions (latent semantic analysis) and
    registers with the sklearn flavor. Raises ``InvalidArgumentError`` for an
    empty corpus, non-string texts, or ``dims`` not below the vocabulary size.
    """
    if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
        raise InvalidArgumentError("train_lsa takes a sequence of strings")
    if len(texts) < 2:
        raise InvalidArgumentError("train_lsa needs at least two texts")
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        raise InvalidArgumentError(f"dims must be a positive integer, got {dims!r}")
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import Normalizer

    pipeline = Pipeline(
        [
            ("tfidf", TfidfVectorizer(sublinear_tf=True, strip_accents="unicode")),
            ("svd", TruncatedSVD(n_components=dims, random_state=seed)),
            ("normalize", Normalizer(norm="l2")),
        ]
    )
    try:
        pipeline.fit(list(texts))
    except ValueError as error:
        raise InvalidArgumentError(f"cannot fit an LSA model with dims={dims}: {error}") from error
    return pipeline


def distill_static(registry: ModelRegistry, source: str, *, pca_dims: int | None = 256) -> tuple[Any, ModelVersion, float]:
    """Distill a model2vec ``StaticModel`` from a registered sentence-transformers version, in memory.

    Returns (the static model, the teacher version, seconds taken); raises as ``distill_from``.
    """
    from embedb.models.flavors import use_offline_hub
    from embedb.models.flavors.sentence_transformers import configure_torch_threads, transformer_directory

    teacher = registry.resolve(source)
    if teacher.flavor != "sentence_transformers" or teacher.artifact_hash is None:
        raise InvalidStateError(
            f"{teacher.uri} is a {teacher.flavor} model; distillation needs a sentence-transformers one"
        )
    if teacher.status.value != "READY":
        raise InvalidStateError(f"{teacher.uri} is {teacher.status.value}; distillation needs a READY version")
    if pca_dims is not None and (
        not isinstance(pca_dims, int) or isinstance(pca_dims, bool) or not 2 <= pca_dims <= (teacher.dimension or 0)
    ):
        raise InvalidArgumentError(f"pca_dims must be None or an integer in [2, {teacher.dimension}], got {pca_dims!r}")
    weights_dir = transformer_directory(registry.artifacts.verify(teacher.artifact_hash))
    use_offline_hub()
    configure_torch_threads()
    from model2vec.distill import distill

    started = time.perf_counter()
    try:
        static_model = distill(model_name=str(weights_dir), pca_dims=pca_dims, device="cpu")
    except Exception as error:
        raise ModelError(f"distilling {teacher.uri} failed: {error}") from error
    seconds = time.perf_counter() - started
    return static_model, teacher, seconds


def distill_from(
    registry: ModelRegistry,
    source: str,
    *,
    name: str,
    pca_dims: int | None = 256,
    alias: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
    actor: str | None = None,
) -> ModelVersion:
    """Distill a model2vec static model from a registered sentence-transformers version; register it.

    ``source`` names the teacher (``"minilm@champion"``, ``"models:/minilm/1"``). The
    teacher's verified artifact directory is handed to ``model2vec.distill.distill``,
    which reads it locally (no network). The new version of ``name`` records
    ``lineage.parent`` = the teacher's URI, and the distillation time as the metric
    ``distill_seconds``. Raises what ``resolve`` raises, ``InvalidStateError`` for a
    teacher that is not a READY sentence-transformers version, ``ModelError`` when
    distillation fails.
    """
    static_model, teacher, seconds = distill_static(registry, source, pca_dims=pca_dims)
    return registry.register(
        name,
        static_model,
        flavor="model2vec",
        alias=alias,
        tags=tags,
        description=description if description is not None else f"model2vec distilled from {teacher.uri}",
        params={"distilled_from": teacher.uri, "pca_dims": pca_dims},
        metrics={"distill_seconds": round(seconds, 3)},
        lineage=Lineage(parent=teacher.uri, training_data=f"token vocabulary of {teacher.uri}"),
        actor=actor,
    )
