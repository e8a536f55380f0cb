"""The ONNX flavor: a scikit-learn text vectorizer followed by an ONNX graph, run by onnxruntime.

Text models in ONNX need string ops that onnxruntime's core does not ship, so
this flavor splits the work: a fitted scikit-learn vectorizer (stored with
skops under the same allowlist as the sklearn flavor) turns texts into a
float32 feature matrix, and the ONNX graph maps ``(batch, features)`` to
``(batch, dimension)``. ``lsa_to_onnx`` converts a TF-IDF + TruncatedSVD
(+ Normalizer) pipeline this way; ``projection_to_onnx`` builds such a graph
from a matrix (it needs the ``onnx`` package; running a stored model needs
only ``onnxruntime``).

The artifact is ``model.onnx`` + ``vectorizer.skops``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedb.errors import InvalidArgumentError, ModelError
from embedb.models.flavors import ModelSpec, as_float32_matrix, existing_directory, probe_dimension, probe_is_normalized
from embedb.models.flavors.sklearn import dump_skops, load_skops
from embedb.schema import MetricType

NAME = "onnx"
MODEL_FILE = "model.onnx"
VECTORIZER_FILE = "vectorizer.skops"
_PROBE_TEXTS = ("a probe text", "another, longer probe text about models", "vectors")


@dataclass(frozen=True)
class OnnxTextModel:
    """What to register for the ONNX flavor: the graph (bytes or a path) and a fitted text vectorizer."""

    model: bytes | Path
    vectorizer: Any


def projection_to_onnx(matrix: np.ndarray, *, bias: np.ndarray | None = None, normalize: bool = False) -> bytes:
    """Return an ONNX model computing ``x @ matrix (+ bias)``, L2-normalised per row if asked.

    The input ``features`` is float32 ``(batch, matrix.shape[0])``; the output
    ``embedding`` is float32 ``(batch, matrix.shape[1])``. Raises ``ModelError``
    when the ``onnx`` package is not installed.
    """
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as error:
        raise ModelError("building an ONNX graph needs the 'onnx' package: pip install 'embedb[models]'") from error
    weights = np.ascontiguousarray(matrix, dtype=np.float32)
    if weights.ndim != 2:
        raise InvalidArgumentError(f"the projection matrix must be 2-D, got shape {weights.shape}")
    features, dimension = weights.shape
    initializers = [numpy_helper.from_array(weights, name="projection")]
    nodes = [helper.make_node("MatMul", ["features", "projection"], ["projected"])]
    last = "projected"
    if bias is not None:
        initializers.append(numpy_helper.from_array(np.asarray(bias, dtype=np.float32).reshape(dimension), name="bias"))
        nodes.append(helper.make_node("Add", [last, "bias"], ["shifted"]))
        last = "shifted"
    if normalize:
        nodes.append(helper.make_node("LpNormalization", [last], ["normalized"], axis=1, p=2))
        last = "normalized"
    nodes.append(helper.make_node("Identity", [last], ["embedding"]))
    graph = helper.make_graph(
        nodes,
        "embedb_projection",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dimension])],
        initializer=initializers,
    )
    # Opset 17 and IR 8 are read by every onnxruntime from 1.14 on.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def lsa_to_onnx(pipeline: Any) -> OnnxTextModel:
    """Convert a fitted ``[vectorizer, TruncatedSVD, (Normalizer)]`` pipeline into an ``OnnxTextModel``."""
    steps = [step for _, step in getattr(pipeline, "steps", [])]
    names = [type(step).__name__ for step in steps]
    if len(steps) not in (2, 3) or names[1] != "TruncatedSVD" or (len(steps) == 3 and names[2] != "Normalizer"):
        raise InvalidArgumentError(f"lsa_to_onnx expects [vectorizer, TruncatedSVD, (Normalizer)], got {names}")
    normalize = len(steps) == 3
    if normalize and getattr(steps[2], "norm", None) != "l2":
        raise InvalidArgumentError("lsa_to_onnx converts an L2 Normalizer only")
    graph = projection_to_onnx(steps[1].components_.T, normalize=normalize)
    return OnnxTextModel(model=graph, vectorizer=steps[0])


def _session(path: Path) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise ModelError(f"onnxruntime cannot load {path}: {error}") from error
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 2:
        described = [(item.name, item.type, item.shape) for item in inputs]
        raise ModelError(f"{path}: the ONNX graph must take one float32 (batch, features) input, it takes {described}")
    return session


class OnnxEncoder:
    """Vectorizes a batch with scikit-learn, then runs the ONNX graph on the dense features."""

    def __init__(self, session: Any, vectorizer: Any) -> None:
        self.session = session
        self.vectorizer = vectorizer
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            features = as_float32_matrix(self.vectorizer.transform(batch), rows=len(batch))
            parts.append(self.session.run([self.output_name], {self.input_name: features})[0])
        return np.concatenate(parts, axis=0) if len(parts) > 1 else np.asarray(parts[0])


class OnnxFlavor:
    """Stores an ONNX graph plus the scikit-learn vectorizer that feeds it."""

    name = NAME

    def detect(self, source: object) -> bool:
        if isinstance(source, OnnxTextModel):
            return True
        directory = existing_directory(source)
        return directory is not None and (directory / MODEL_FILE).is_file() and (directory / VECTORIZER_FILE).is_file()

    def validate(self, source: object) -> None:
        if isinstance(source, OnnxTextModel) and isinstance(source.model, Path) and not source.model.is_file():
            raise InvalidArgumentError(f"the ONNX model file {source.model} does not exist")

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        directory = existing_directory(source)
        if directory is not None and self.detect(directory):
            shutil.copyfile(directory / MODEL_FILE, destination / MODEL_FILE)
            shutil.copyfile(directory / VECTORIZER_FILE, destination / VECTORIZER_FILE)
        elif isinstance(source, OnnxTextModel):
            if isinstance(source.model, bytes):
                (destination / MODEL_FILE).write_bytes(source.model)
            else:
                shutil.copyfile(source.model, destination / MODEL_FILE)
            dump_skops(source.vectorizer, destination / VECTORIZER_FILE)
        else:
            raise InvalidArgumentError(
                "the onnx flavor stores an OnnxTextModel(model, vectorizer) or a directory with "
                f"{MODEL_FILE} and {VECTORIZER_FILE}; a bare .onnx file cannot embed text on its own"
            )
        encoder = self.load(destination, params={})
        try:
            width = probe_dimension(encoder)
            normalized = probe_is_normalized(encoder, _PROBE_TEXTS)
        except Exception as error:
            raise ModelError(f"the ONNX model cannot embed a probe text: {error}") from error
        return ModelSpec(
            dimension=width,
            metric=MetricType.COSINE,
            normalize=normalized,
            params={"input": encoder.input_name, "output": encoder.output_name},
        )

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> OnnxEncoder:
        return OnnxEncoder(_session(artifact_dir / MODEL_FILE), load_skops(artifact_dir / VECTORIZER_FILE))


FLAVOR = OnnxFlavor()
