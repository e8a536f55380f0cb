"""Backfill chunks embedded by Ray tasks on every worker of the cluster, GPU workers when it has them.

A shard's backfill runs in the shard's actor as on one node (the engine's
``BackfillRunner``: segment by segment, chunk by chunk, each chunk committed
with the job's progress, resumed from the last committed chunk after a crash).
Only the embedding of a chunk leaves the actor: ``TaskEmbedding`` splits the
chunk's texts into one piece per worker slot of the cluster (its CPUs, or its
GPUs when it has any) and embeds the pieces as Ray tasks, wherever Ray places
them. So re-embedding uses every worker the cluster has, not just the nodes that
host shards, and gets faster as workers are added.

The model travels once per shard and version: the loaded model is put in Ray's
object store (``ray.put``); a worker process loads it from there at its first
piece and keeps it (``_loaded``). A task whose worker dies is retried by Ray; a
model's own error fails the job with that error, as on one node.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np

from embedb.models import LoadedModel
from embedb.models.threads import limit_compute_threads

# Fewer texts than this per piece cost more in task overhead than they gain in parallelism.
MIN_PIECE_TEXTS = 32
TASK_RETRIES = 3


class TaskEmbedding:
    """``embed(model, texts)`` for ``BackfillRunner.chunk_embedding``: the texts embedded by Ray tasks."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._remote = ray.remote(_embed_piece)
        self._models: dict[str, Any] = {}  # model URI -> the loaded model in Ray's object store
        self._lock = threading.Lock()

    def __call__(self, model: LoadedModel, texts: list[str]) -> np.ndarray:
        # the cluster as it is now: workers added during a backfill take pieces of its next chunk
        resources = self._ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        slots = max(1, gpus or int(resources.get("CPU", 1)))  # a task's model uses one thread, the CPU it reserved
        task = self._remote.options(num_gpus=1 if gpus else 0, num_cpus=0 if gpus else 1, max_retries=TASK_RETRIES)
        stored = self._stored(model)
        futures = [task.remote([stored], piece, gpus > 0) for piece in _pieces(texts, slots)]
        try:
            return np.vstack(self._ray.get(futures)) if futures else np.zeros((0, model.dimension), np.float32)
        except self._ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None  # the model's own error, as one node raises it
            raise

    def _stored(self, model: LoadedModel) -> Any:
        with self._lock:
            stored = self._models.get(model.version.uri)
            if stored is None:
                stored = self._models[model.version.uri] = self._ray.put(model)
            return stored


def _pieces(texts: list[str], slots: int) -> list[list[str]]:
    """``texts`` in at most ``slots`` consecutive pieces of about equal size, none smaller than ``MIN_PIECE_TEXTS``."""
    count = max(1, min(slots, len(texts) // MIN_PIECE_TEXTS))
    bounds = np.linspace(0, len(texts), count + 1).astype(int)
    return [texts[int(start) : int(stop)] for start, stop in itertools.pairwise(bounds) if stop > start]


# The models this worker process has loaded, by object id: a worker embeds many pieces of one backfill.
_LOADED: dict[str, LoadedModel] = {}
_LOADED_LOCK = threading.Lock()
MODELS_PER_WORKER = 2


def _embed_piece(stored: list[Any], texts: list[str], on_gpu: bool) -> np.ndarray:
    """A Ray task: embed ``texts`` with the model in Ray's object store (``stored[0]``, not fetched again once loaded)."""
    model = _loaded(stored[0], on_gpu)
    with limit_compute_threads(1):
        return model.embed(texts)


def _loaded(reference: Any, on_gpu: bool) -> LoadedModel:
    import ray

    key = reference.hex()
    with _LOADED_LOCK:
        model = _LOADED.get(key)
        if model is None:
            model = ray.get(reference)
            if on_gpu:
                _to_gpu(model)
            while len(_LOADED) >= MODELS_PER_WORKER:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = model
        return model


def _to_gpu(model: LoadedModel) -> None:
    """Move a torch model (the sentence-transformers flavor's) to this worker's GPU; other flavors run as they are."""
    inner = getattr(model.encoder, "model", None)
    if inner is not None and callable(getattr(inner, "to", None)):
        inner.to("cuda")
