"""The scikit-learn flavor: a fitted text pipeline (e.g. TF-IDF + TruncatedSVD + Normalizer).

The artifact is one ``pipeline.skops`` file written by ``skops.io.dump``. Nothing
is unpickled: before ``skops.io.load`` runs, every type named in the file is
checked against ``trusted_types()`` — a short explicit list of scikit-learn text
and linear transformers plus plain data types — and anything else (a custom
tokenizer function, an unknown estimator) is refused.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models.flavors import ModelSpec, as_float32_matrix, existing_file, probe_dimension
from embedb.schema import MetricType

NAME = "sklearn"
PIPELINE_FILE = "pipeline.skops"

# Data types a skops file may hold besides the estimators themselves.
_PLAIN_TYPES = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
        "builtins.set",
        "builtins.str",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "builtins.NoneType",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.float16",
        "numpy.float32",
        "numpy.float64",
        "numpy.int32",
        "numpy.int64",
        "scipy.sparse._csr.csr_matrix",
    }
)


@lru_cache(maxsize=1)
def trusted_types() -> frozenset[str]:
    """Return the scikit-learn classes a stored pipeline may contain, as skops type paths."""
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfTransformer, TfidfVectorizer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import MaxAbsScaler, Normalizer, StandardScaler

    classes = (
        Pipeline,
        FeatureUnion,
        CountVectorizer,
        HashingVectorizer,
        TfidfTransformer,
        TfidfVectorizer,
        TruncatedSVD,
        PCA,
        Normalizer,
        StandardScaler,
        MaxAbsScaler,
    )
    return frozenset(f"{cls.__module__}.{cls.__qualname__}" for cls in classes)


def _schema_types(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "__class__" in node and "__module__" in node:
            yield f"{node['__module__']}.{node['__class__']}"
        for value in node.values():
            yield from _schema_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_types(value)


def check_skops_file(path: Path) -> None:
    """Return if every type in the skops file is allowed; raise ``ModelError`` naming the others."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise ModelError(f"{path} is not a readable skops file: {error}") from error
    refused = sorted(set(_schema_types(schema)) - trusted_types() - _PLAIN_TYPES)
    if refused:
        raise ModelError(
            f"{path} contains types outside EmbeDB's scikit-learn allowlist: {', '.join(refused)}; "
            f"allowed estimators: {', '.join(sorted(trusted_types()))}",
            refused_types=refused,
        )


def load_skops(path: Path) -> Any:
    """Load a checked skops file with only the allowlisted types trusted; raise ``ModelError``."""
    check_skops_file(path)
    import skops.io

    try:
        return skops.io.load(path, trusted=sorted(trusted_types()))
    except Exception as error:
        raise ModelError(f"cannot load the scikit-learn model in {path}: {error}") from error


def dump_skops(estimator: Any, path: Path) -> None:
    """Write ``estimator`` with skops and check that it can be loaded back under the allowlist."""
    import skops.io

    try:
        skops.io.dump(estimator, path)
    except Exception as error:
        raise ModelError(f"cannot save the scikit-learn model with skops: {error}") from error
    check_skops_file(path)


class TransformerEncoder:
    """Runs ``transform`` on a whole chunk; sparse output becomes dense float32."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        _lay_out_projections_for_sparse_input(estimator)

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        return as_float32_matrix(self.estimator.transform(texts), rows=len(texts))


def _lay_out_projections_for_sparse_input(estimator: Any) -> None:
    """Store SVD/PCA components column-major, so ``X @ components_.T`` on sparse X copies nothing.

    scipy multiplies a sparse matrix by a dense one through a C-ordered buffer;
    ``components_.T`` of a row-major array is not one, so every transform copied the
    whole (vocabulary x dims) matrix — 30 ms per one-text query on a 20k-document
    LSA. The values are unchanged; only their memory order is.
    """
    steps = [step for _, step in estimator.steps] if hasattr(estimator, "steps") else [estimator]
    for step in steps:
        components = getattr(step, "components_", None)
        if isinstance(components, np.ndarray) and not components.flags.f_contiguous:
            step.components_ = np.asfortranarray(components)


def ends_with_l2_normalizer(estimator: Any) -> bool:
    """Return whether the last step of a pipeline (or the estimator itself) is an L2 ``Normalizer``."""
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return type(last).__name__ == "Normalizer" and getattr(last, "norm", None) == "l2"


def _is_sklearn_transformer(source: object) -> bool:
    return any(cls.__module__.split(".")[0] == "sklearn" for cls in type(source).__mro__) and callable(
        getattr(source, "transform", None)
    )


class SklearnFlavor:
    """Stores a fitted scikit-learn transformer of texts with skops."""

    name = NAME

    def detect(self, source: object) -> bool:
        return _is_sklearn_transformer(source) or existing_file(source, suffix=".skops") is not None

    def validate(self, source: object) -> None:
        return None

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        target = destination / PIPELINE_FILE
        file = existing_file(source, suffix=".skops")
        if file is not None:
            shutil.copyfile(file, target)
            estimator = load_skops(target)
        elif _is_sklearn_transformer(source):
            dump_skops(source, target)
            estimator = source
        else:
            raise InvalidArgumentError("the sklearn flavor stores a fitted scikit-learn transformer or a .skops file")
        try:
            width = probe_dimension(TransformerEncoder(estimator))
        except Exception as error:
            raise ModelError(f"the scikit-learn model cannot embed a probe text (is it fitted?): {error}") from error
        steps = [type(step).__name__ for _, step in estimator.steps] if hasattr(estimator, "steps") else []
        return ModelSpec(
            dimension=width,
            metric=MetricType.COSINE,
            normalize=ends_with_l2_normalizer(estimator),
            params={"estimator": type(estimator).__name__, "steps": steps},
        )

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> TransformerEncoder:
        return TransformerEncoder(load_skops(artifact_dir / PIPELINE_FILE))


FLAVOR = SklearnFlavor()
