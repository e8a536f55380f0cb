"""The callable flavor: an embedder written in Python, referenced by its import path.

The artifact is a tiny ``callable.json`` holding ``"package.module:attribute"``;
no code or object is stored or unpickled. The attribute is either a function
``f(list[str]) -> array`` or an object with an ``embed(list[str])`` method.

The artifact hash covers the import path only, not the code behind it: changing
the function changes what an existing version computes. Version the code (or
the import path) when its output changes.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models.flavors import ModelSpec, as_float32_matrix, probe_dimension
from embedb.schema import MetricType

NAME = "callable"
SPEC_FILE = "callable.json"
# Checked with fullmatch: "$" would also match before a final newline.
IMPORT_PATH_PATTERN = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
)


def resolve_import_path(import_path: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute; raise ``ModelError`` if it fails."""
    if not IMPORT_PATH_PATTERN.fullmatch(import_path):
        raise InvalidArgumentError(f"{import_path!r} is not an import path of the form 'package.module:attribute'")
    module_name, _, attribute_path = import_path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute_path.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise ModelError(f"cannot import the embedder {import_path!r}: {error}") from error
    return target


def import_path_of(function: object) -> str | None:
    """Return ``"module:qualname"`` for a module-level function or object that imports back to itself."""
    module_name = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str):
        return None
    if module_name == "__main__" or "<" in qualname:
        return None
    candidate = f"{module_name}:{qualname}"
    try:
        return candidate if resolve_import_path(candidate) is function else None
    except (ModelError, InvalidArgumentError):
        return None


def source_import_path(source: object) -> str | None:
    """The import path a registration of ``source`` would store (``None`` if it has none); imports nothing new."""
    return source if isinstance(source, str) else import_path_of(source)


def stored_import_path(artifact_dir: Path) -> str:
    """The import path a callable artifact holds; raise ``ModelError`` if ``callable.json`` is not a spec."""
    try:
        return str(json.loads((artifact_dir / SPEC_FILE).read_text(encoding="utf-8"))["import_path"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(f"{artifact_dir / SPEC_FILE} is not a callable spec: {error}") from error


class CallableEncoder:
    """Calls the user's function (or its ``embed`` method) once per batch of ``batch_size`` texts."""

    def __init__(self, target: Any, *, import_path: str) -> None:
        function = getattr(target, "embed", None)
        if not callable(function):
            function = target
        if not callable(function):
            raise ModelError(f"{import_path!r} is neither callable nor has an embed() method")
        self._function: Callable[[list[str]], Any] = function

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        if len(texts) <= batch_size:
            return as_float32_matrix(self._function(texts), rows=len(texts))
        parts = [
            as_float32_matrix(
                self._function(texts[start : start + batch_size]), rows=len(texts[start : start + batch_size])
            )
            for start in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts, axis=0)


class CallableFlavor:
    """Stores the import path of a Python embedder."""

    name = NAME

    def detect(self, source: object) -> bool:
        if isinstance(source, str):
            return bool(IMPORT_PATH_PATTERN.fullmatch(source))
        return callable(source) and not isinstance(source, type) and import_path_of(source) is not None

    def validate(self, source: object) -> None:
        return None

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        import_path = source_import_path(source)
        if import_path is None:
            raise InvalidArgumentError(
                "the callable flavor needs an importable module-level function or an import path "
                "'package.module:attribute' (lambdas, nested functions and __main__ cannot be re-imported)"
            )
        encoder = CallableEncoder(resolve_import_path(import_path), import_path=import_path)
        if dimension is None:
            try:
                dimension = probe_dimension(encoder)
            except Exception as error:
                raise ModelError(f"the embedder {import_path!r} failed on a probe text: {error}") from error
        (destination / SPEC_FILE).write_text(
            json.dumps({"import_path": import_path, "dimension": dimension}, sort_keys=True), encoding="utf-8"
        )
        return ModelSpec(dimension=dimension, metric=MetricType.COSINE, params={"import_path": import_path})

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> CallableEncoder:
        import_path = stored_import_path(artifact_dir)
        return CallableEncoder(resolve_import_path(import_path), import_path=import_path)


FLAVOR = CallableFlavor()
