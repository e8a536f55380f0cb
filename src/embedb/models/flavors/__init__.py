"""Flavors: how each kind of model is written into an artifact and loaded back.

A flavor is a small module beside this one that exposes ``FLAVOR``, an object
with the ``Flavor`` interface below. Flavor modules import their heavy
libraries (torch, scikit-learn, model2vec, onnxruntime) inside their functions,
so importing a flavor module — which auto-detection does — stays cheap.

What a flavor does not do: it does not hash, name or version anything (the
artifact store and the registry do), and its encoder does not validate input,
report progress or normalise (``embedb.models.registry.LoadedModel`` does).
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np

from embedb.errors import InvalidArgumentError
from embedb.models import InputUnit
from embedb.schema import MetricType

# Auto-detection tries flavors in this order: a model2vec directory also has a
# modules.json, so model2vec must be asked before sentence-transformers.
_FLAVOR_MODULES: dict[str, str] = {
    "model2vec": "embedb.models.flavors.model2vec",
    "sentence_transformers": "embedb.models.flavors.sentence_transformers",
    "sklearn": "embedb.models.flavors.sklearn",
    "onnx": "embedb.models.flavors.onnx",
    "callable": "embedb.models.flavors.python_callable",
    "mlflow": "embedb.models.flavors.mlflow",
    "search_config": "embedb.models.flavors.search_config",
    "analyzer": "embedb.models.flavors.analyzer",
}
# The MLflow bridge is never guessed: ``models:/...`` is also EmbeDB's own URI scheme.
_NOT_AUTO_DETECTED = frozenset({"mlflow"})
_COPY_IGNORE = shutil.ignore_patterns(".git", ".cache", "__pycache__", ".DS_Store")
# Weight formats that torch or joblib would unpickle; model directories must use safetensors instead.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"})

FLAVOR_NAMES: tuple[str, ...] = tuple(_FLAVOR_MODULES)


@dataclass(frozen=True)
class ModelSpec:
    """What a flavor learnt about a model while writing its artifact.

    ``stored_flavor`` is set by importers (the MLflow bridge) whose artifact is
    then loaded by another flavor; ``source`` names where an import came from.
    """

    dimension: int
    metric: MetricType | None = MetricType.COSINE  # None: the version makes no vectors (a search configuration)
    normalize: bool = False
    max_input_length: int | None = None
    input_unit: InputUnit | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stored_flavor: str | None = None
    source: str | None = None


class Encoder(Protocol):
    """The raw model behind a loaded version: texts in, one row per text out."""

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray: ...


class Flavor(Protocol):
    """Writes a model into an artifact directory and loads it back."""

    name: str

    def detect(self, source: object) -> bool:
        """Return whether ``source`` looks like a model of this flavor; never imports heavy modules."""
        ...

    def validate(self, source: object) -> None:
        """Raise ``InvalidArgumentError`` if ``source`` cannot be stored; runs before anything is written."""
        ...

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        """Write ``source`` into the empty directory ``destination``; return what it learnt.

        ``dimension`` is the caller's claim, which a flavor may use instead of probing.
        Raises ``InvalidArgumentError`` for a source it cannot store, ``ModelError``
        when the model fails to save or to embed a probe text.
        """
        ...

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> Encoder:
        """Load a verified artifact directory; raise ``ModelError`` if it cannot be loaded."""
        ...


def get_flavor(name: str) -> Flavor:
    """Return the flavor called ``name``; raise ``InvalidArgumentError`` listing the known ones."""
    module_path = _FLAVOR_MODULES.get(name) if isinstance(name, str) else None
    if module_path is None:
        raise InvalidArgumentError(f"unknown model flavor {name!r}; known flavors: {', '.join(FLAVOR_NAMES)}")
    module = importlib.import_module(module_path)
    return cast(Flavor, module.FLAVOR)


def detect_flavor(source: object) -> str:
    """Return the name of the flavor that recognises ``source``; raise ``InvalidArgumentError`` if none does."""
    if isinstance(source, str) and source.startswith("models:/"):
        raise InvalidArgumentError(
            f"{source!r} looks like an MLflow model URI; pass flavor='mlflow' to import it "
            "(to copy an EmbeDB version, load it and register the loaded model's directory)"
        )
    for name in _FLAVOR_MODULES:
        if name not in _NOT_AUTO_DETECTED and get_flavor(name).detect(source):
            return name
    raise InvalidArgumentError(
        f"cannot tell which flavor stores {_describe(source)}; pass flavor= one of {', '.join(FLAVOR_NAMES)}. "
        "Recognised: a SentenceTransformer or a directory with modules.json, a model2vec StaticModel or its "
        "directory, a fitted scikit-learn transformer or a .skops file, an OnnxTextModel, an import path "
        "'package.module:attribute' or an importable function, analyzer_params (a dict) for a BM25 field, a search configuration (a dict with anns_field or reqs)"
    )


def _describe(source: object) -> str:
    if isinstance(source, (str, Path)):
        return repr(str(source))
    return f"an object of type {type(source).__module__}.{type(source).__qualname__}"


def is_instance_by_name(source: object, *, package: str, class_name: str) -> bool:
    """Return whether ``source`` is an instance of ``package``'s ``class_name`` without importing ``package``."""
    return any(cls.__name__ == class_name and cls.__module__.split(".")[0] == package for cls in type(source).__mro__)


def existing_directory(source: object) -> Path | None:
    """Return ``source`` as a ``Path`` if it names an existing directory, else ``None``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return path
    return None


def existing_file(source: object, *, suffix: str) -> Path | None:
    """Return ``source`` as a ``Path`` if it names an existing file ending in ``suffix``, else ``None``."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix == suffix and path.is_file():
            return path
    return None


def refuse_pickle_files(source: object) -> None:
    """If ``source`` is a directory, raise ``InvalidArgumentError`` naming a pickle-format file in it.

    EmbeDB unpickles nothing it is handed, so weights must be safetensors, not ``.bin``/``.pt``/….
    """
    directory = existing_directory(source)
    if directory is None:
        return
    for path in sorted(directory.rglob("*")):
        if path.suffix in PICKLE_SUFFIXES and path.is_file():
            raise InvalidArgumentError(
                f"{path} is a pickle-format file; EmbeDB loads weights from safetensors only "
                "(save the model again with safe_serialization=True, or remove the file)"
            )


def copy_model_directory(source: Path, destination: Path) -> None:
    """Copy a model directory's files (symbolic links followed; VCS and cache folders skipped)."""
    refuse_pickle_files(source)
    shutil.copytree(source, destination, dirs_exist_ok=True, ignore=_COPY_IGNORE, symlinks=False)


def use_offline_hub() -> None:
    """Make Hugging Face libraries work offline; call before importing them.

    EmbeDB loads weights only from artifact directories, so the hub is never needed.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def as_float32_matrix(values: Any, *, rows: int) -> np.ndarray:
    """Convert a model's output (array, sparse matrix, tensor, list) to a C-contiguous float32 ``(rows, d)`` array.

    Raises ``ValueError`` when the output is not two-dimensional with ``rows`` rows.
    """
    if hasattr(values, "toarray"):
        values = values.toarray()
    array = np.ascontiguousarray(values, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != rows:
        raise ValueError(f"the model returned shape {array.shape} for {rows} texts; expected ({rows}, dimension)")
    return array


def probe_dimension(encoder: Encoder) -> int:
    """Embed one probe text and return the width of the result."""
    return int(as_float32_matrix(encoder.encode(["dimension probe"], batch_size=1), rows=1).shape[1])


def probe_is_normalized(encoder: Encoder, texts: Sequence[str]) -> bool:
    """Return whether every non-zero output row for ``texts`` has unit L2 norm."""
    vectors = as_float32_matrix(encoder.encode(list(texts), batch_size=len(texts)), rows=len(texts))
    norms = np.linalg.norm(vectors, axis=1)
    norms = norms[norms > 0]
    return bool(norms.size) and bool(np.allclose(norms, 1.0, atol=1e-3))
