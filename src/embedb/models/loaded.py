"""``LoadedModel``: a model version loaded into memory, behind the ``Embedder`` interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from embedb.errors import EmbedbError, InvalidArgumentError, ModelError
from embedb.models import DEFAULT_BATCH_SIZE, ModelVersion, ProgressCallback
from embedb.models.flavors import Encoder, as_float32_matrix
from embedb.schema import MetricType

# With a progress callback the texts go to the model in chunks of this many
# batches: few enough calls that a model can still sort a chunk by length.
BATCHES_PER_PROGRESS_STEP = 16


class LoadedModel:
    """An ``Embedder`` for one model version; ``version`` says which one made its vectors.

    It checks the input, splits it into chunks when progress is reported, checks
    that every output has the version's dimension, and L2-normalises the rows when
    the version promises normalised vectors. It does not cache embeddings.
    ``version`` is the version as it was loaded, with ``aliases`` left empty: aliases
    move, the loaded weights do not. ``encoder`` is the flavor's raw model wrapper.
    """

    def __init__(self, version: ModelVersion, encoder: Encoder) -> None:
        if version.dimension is None or (version.metric is None and version.dimension):
            raise ModelError(f"{version.uri} has no recorded dimension or metric and cannot be loaded")
        self.version = version
        self.encoder = encoder
        self._dimension = version.dimension
        self._metric = version.metric
        # A version's params may set the batch it is embedded in (inserts, backfills, queries).
        configured = version.params.get("batch_size")
        self.batch_size = DEFAULT_BATCH_SIZE
        if isinstance(configured, int) and not isinstance(configured, bool) and configured > 0:
            self.batch_size = configured

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def metric(self) -> MetricType:
        if self._metric is None:
            raise ModelError(f"{self.version.uri} is a {self.version.flavor}: it makes no vectors to compare")
        return self._metric

    @property
    def normalize(self) -> bool:
        return self.version.normalize

    @property
    def analyzer_params(self) -> dict[str, Any]:
        """An analyzer version's ``analyzer_params`` (from its artifact); ``ModelError`` for any other flavor."""
        return self._document("analyzer_params", "an analyzer")

    @property
    def search_config(self) -> dict[str, Any]:
        """A search configuration version's configuration (from its artifact); ``ModelError`` for any other flavor."""
        return self._document("search_config", "a search configuration")

    def _document(self, attribute: str, what: str) -> dict[str, Any]:
        value = getattr(self.encoder, attribute, None)
        if not isinstance(value, dict):
            raise ModelError(f"{self.version.uri} is a {self.version.flavor} model, not {what}")
        return value

    def __repr__(self) -> str:
        return f"LoadedModel({self.version.uri}, flavor={self.version.flavor}, dimension={self._dimension})"

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Embed ``texts``; return float32 ``(len(texts), dimension)``.

        Raises ``InvalidArgumentError`` when ``texts`` is a single string or holds a
        non-string, or ``batch_size`` is not a positive integer; ``ModelError`` when
        the model fails or returns the wrong shape. ``batch_size`` defaults to the
        version's ``params["batch_size"]`` (64 when unset). ``progress(done, total)`` is
        called after each chunk of ``batch_size * BATCHES_PER_PROGRESS_STEP`` texts.
        """
        batch = _checked_texts(texts)
        if batch_size is None:
            batch_size = self.batch_size
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
        total = len(batch)
        if total == 0:
            return np.zeros((0, self._dimension), dtype=np.float32)
        if progress is None:
            return self._encode(batch, batch_size=batch_size)
        vectors = np.empty((total, self._dimension), dtype=np.float32)
        step = batch_size * BATCHES_PER_PROGRESS_STEP
        for start in range(0, total, step):
            stop = min(start + step, total)
            vectors[start:stop] = self._encode(batch[start:stop], batch_size=batch_size)
            progress(stop, total)
        return vectors

    def _encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        try:
            vectors = as_float32_matrix(self.encoder.encode(texts, batch_size=batch_size), rows=len(texts))
        except EmbedbError:
            raise
        except Exception as error:
            raise ModelError(f"{self.version.uri} failed to embed {len(texts)} texts: {error}") from error
        if vectors.shape[1] != self._dimension:
            raise ModelError(
                f"{self.version.uri} returned vectors of dimension {vectors.shape[1]}, its version records {self._dimension}"
            )
        if self.version.normalize:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors


def _checked_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise InvalidArgumentError("embed() takes a sequence of texts, not a single string: wrap it in a list")
    try:
        batch = list(texts)
    except TypeError:
        raise InvalidArgumentError(f"embed() takes a sequence of strings, got {type(texts).__name__}") from None
    for position, text in enumerate(batch):
        if not isinstance(text, str):
            raise InvalidArgumentError(
                f"embed() takes strings only; item {position} is {type(text).__name__}", position=position
            )
    return batch
