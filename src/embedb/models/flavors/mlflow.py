"""The MLflow bridge: import a model from an MLflow registry URI (``models:/name/1``).

It is an importer, not a runtime flavor: it downloads the MLflow model's files,
finds the sentence-transformers directory inside (the layout MLflow's
``sentence_transformers`` flavor writes) and stores that, so the version is
recorded with flavor ``sentence_transformers`` and loads without MLflow.
``lineage.source`` keeps the MLflow URI. ``pyfunc`` models are refused: MLflow
stores them with cloudpickle, and EmbeDB unpickles nothing it is handed.

``mlflow`` is imported only when this flavor is used; it is not a dependency.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models.flavors import ModelSpec
from embedb.models.flavors.sentence_transformers import FLAVOR as SENTENCE_TRANSFORMERS

NAME = "mlflow"
_MLFLOW_SCHEMES = ("models:/", "runs:/")


def _download(uri: str, destination: Path) -> Path:
    try:
        import mlflow
    except ImportError as error:
        raise ModelError(
            f"importing {uri!r} needs MLflow, which is not installed: pip install mlflow "
            "(or register the model's local directory with its own flavor)"
        ) from error
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination)))
    except Exception as error:
        raise ModelError(f"MLflow could not download {uri!r}: {error}") from error


def _find_sentence_transformer_dir(root: Path) -> Path | None:
    candidates = sorted((path.parent for path in root.rglob("modules.json")), key=lambda path: len(path.parts))
    return candidates[0] if candidates else None


class MlflowBridge:
    """Imports a sentence-transformers model from MLflow into the artifact store."""

    name = NAME

    def detect(self, source: object) -> bool:
        # Never used for auto-detection (see ``_NOT_AUTO_DETECTED``), only to check an explicit flavor='mlflow'.
        return isinstance(source, str) and source.startswith(_MLFLOW_SCHEMES)

    def validate(self, source: object) -> None:
        return None

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        if not isinstance(source, str) or not self.detect(source):
            raise InvalidArgumentError(
                f"the mlflow flavor imports an MLflow URI (models:/... or runs:/...), got {source!r}"
            )
        with tempfile.TemporaryDirectory(prefix="embedb-mlflow-") as scratch:
            downloaded = _download(source, Path(scratch))
            model_dir = _find_sentence_transformer_dir(downloaded)
            if model_dir is None:
                raise ModelError(
                    f"{source!r} holds no sentence-transformers model (no modules.json); only MLflow models logged "
                    "with the sentence_transformers flavor can be imported"
                )
            spec = SENTENCE_TRANSFORMERS.save(model_dir, destination, dimension=dimension)
        return ModelSpec(
            dimension=spec.dimension,
            metric=spec.metric,
            normalize=spec.normalize,
            max_input_length=spec.max_input_length,
            input_unit=spec.input_unit,
            params=spec.params,
            stored_flavor=SENTENCE_TRANSFORMERS.name,
            source=source,
        )

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> Any:
        raise ModelError("versions imported from MLflow are stored and loaded as sentence_transformers")


FLAVOR = MlflowBridge()
