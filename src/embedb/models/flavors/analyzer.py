"""The analyzer flavor: a BM25 field's text analyzer, versioned like any model.

The source is Milvus's ``analyzer_params`` as a dict (``{"type": "english"}``,
or a tokenizer and filters): ``registry.register("en", {"type": "english"})``. The
artifact is that dict as ``analyzer.json``; the version embeds nothing — a BM25
field bound to it (``FieldSchema("sparse", SPARSE_FLOAT_VECTOR, source="text",
model="en@champion")``) counts the terms this analyzer makes of the source
text. So a new analyzer is a new version of the field: added, backfilled
(re-tokenised), compared in an experiment, promoted and rolled back like a
new embedding model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedb.contract.search_configs import looks_like_search_config
from embedb.errors import InvalidArgumentError, ModelError
from embedb.models.flavors import ModelSpec
from embedb.schema import MetricType
from embedb.text import analyzer

NAME = "analyzer"
ANALYZER_FILE = "analyzer.json"


def _params_of(source: object) -> dict[str, Any]:
    if not isinstance(source, Mapping):
        raise InvalidArgumentError(
            f"the analyzer flavor stores analyzer_params (a dict), got {type(source).__name__}", argument="model"
        )
    params = dict(source)
    analyzer(params)  # InvalidArgumentError names what is wrong
    return params


class AnalyzerEncoder:
    """A loaded analyzer version: ``tokens(text)``; it makes no dense vectors."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.analyzer_params = params
        self.tokens = analyzer(params).tokens

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        raise ModelError("an analyzer makes term counts for a BM25 field, not vectors: bind it to a sparse field")


class AnalyzerFlavor:
    name = NAME

    def detect(self, source: object) -> bool:
        return isinstance(source, Mapping) and not looks_like_search_config(source)

    def validate(self, source: object) -> None:
        _params_of(source)

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        params = _params_of(source)
        if dimension not in (None, 0):
            raise InvalidArgumentError(f"an analyzer makes no vectors; dimension={dimension} does not apply")
        (destination / ANALYZER_FILE).write_text(json.dumps(params, sort_keys=True), encoding="utf-8")
        return ModelSpec(dimension=0, metric=MetricType.BM25, params={"analyzer_params": params})

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> AnalyzerEncoder:
        try:
            stored = json.loads((artifact_dir / ANALYZER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot read the analyzer in {artifact_dir}: {error}") from error
        return AnalyzerEncoder(_params_of(stored))


FLAVOR = AnalyzerFlavor()
