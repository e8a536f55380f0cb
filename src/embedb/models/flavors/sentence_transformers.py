"""The sentence-transformers flavor: a ``SentenceTransformer`` object or a local model directory.

The artifact is the model directory as ``SentenceTransformer.save`` writes it
(``modules.json``, the transformer weights and tokenizer, pooling and
normalisation config). Loading runs offline, on the CPU.
"""

from __future__ import annotations

import json
import os
import threading
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
    probe_dimension,
    refuse_pickle_files,
    use_offline_hub,
)
from embedb.schema import MetricType

NAME = "sentence_transformers"
TORCH_THREADS_ENV = "EMBEDB_TORCH_THREADS"
_threads_lock = threading.Lock()
_threads_configured = False


def configure_torch_threads() -> None:
    """Keep torch's intra-op threads within the CPUs this process may use; ``EMBEDB_TORCH_THREADS`` sets them.

    Runs once per process. Torch defaults to the machine's physical cores, which
    oversubscribes a process pinned to fewer CPUs; a lower count that the user
    set with ``torch.set_num_threads`` is kept.
    """
    global _threads_configured
    with _threads_lock:
        if _threads_configured:
            return
        import torch

        wanted = os.environ.get(TORCH_THREADS_ENV, "").strip()
        if wanted.isdigit() and int(wanted) > 0:
            torch.set_num_threads(int(wanted))
        else:
            usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            if torch.get_num_threads() > usable:
                torch.set_num_threads(usable)
        _threads_configured = True


def load_sentence_transformer(directory: Path) -> Any:
    """Load a sentence-transformers directory on the CPU, offline; raise ``ModelError`` if it fails."""
    use_offline_hub()
    configure_torch_threads()
    _quiet_transformers()
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(
            str(directory), device="cpu", local_files_only=True, model_kwargs={"use_safetensors": True}
        )
    except Exception as error:
        raise ModelError(f"cannot load the sentence-transformers model in {directory}: {error}") from error


def _quiet_transformers() -> None:
    """Keep transformers' per-load progress bars and load reports out of the user's terminal.

    Loading a verified artifact is EmbeDB's business; its own errors still raise.
    """
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()


def transformer_directory(model_dir: Path) -> Path:
    """Return the sub-directory holding the transformer weights (the first module in ``modules.json``)."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    for module in modules:
        if str(module.get("type", "")).endswith("Transformer"):
            return model_dir / str(module.get("path", ""))
    return model_dir


class SentenceTransformerEncoder:
    """Calls ``SentenceTransformer.encode`` on whole chunks, so its length sorting and batching stay intact."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        return np.asarray(
            self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
        )


def _embedding_dimension(model: Any) -> int | None:
    getter = getattr(model, "get_embedding_dimension", None) or getattr(model, "get_sentence_embedding_dimension", None)
    value = getter() if getter is not None else None
    return int(value) if value is not None else None


def _spec_of(model: Any) -> ModelSpec:
    module_types = [type(module).__name__ for module in model]
    dimension = _embedding_dimension(model) or probe_dimension(SentenceTransformerEncoder(model))
    max_length = getattr(model, "max_seq_length", None)
    return ModelSpec(
        dimension=dimension,
        metric=MetricType.COSINE,
        normalize="Normalize" in module_types,
        max_input_length=int(max_length) if max_length else None,
        input_unit=InputUnit.TOKENS if max_length else None,
        params={"modules": module_types},
    )


class SentenceTransformersFlavor:
    """Stores a sentence-transformers model directory; loads it with ``SentenceTransformer``."""

    name = NAME

    def detect(self, source: object) -> bool:
        if is_instance_by_name(source, package="sentence_transformers", class_name="SentenceTransformer"):
            return True
        directory = existing_directory(source)
        return directory is not None and (directory / "modules.json").is_file()

    def validate(self, source: object) -> None:
        refuse_pickle_files(source)

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        directory = existing_directory(source)
        if directory is not None:
            if not (directory / "modules.json").is_file():
                raise InvalidArgumentError(f"{directory} is not a sentence-transformers directory (no modules.json)")
            copy_model_directory(directory, destination)
            # Probe the stored copy, so a version is READY only if its own files load.
            return _spec_of(load_sentence_transformer(destination))
        if not is_instance_by_name(source, package="sentence_transformers", class_name="SentenceTransformer"):
            raise InvalidArgumentError("the sentence_transformers flavor stores a SentenceTransformer or a directory")
        try:
            source.save(str(destination))  # type: ignore[attr-defined]
        except Exception as error:
            raise ModelError(f"cannot save the SentenceTransformer: {error}") from error
        return _spec_of(source)

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> SentenceTransformerEncoder:
        return SentenceTransformerEncoder(load_sentence_transformer(artifact_dir))


FLAVOR = SentenceTransformersFlavor()
