"""The search_config flavor: how a collection is searched, versioned and aliased like a model.

The source is a search configuration (``embedb.contract.search_configs``): one
field (``{"anns_field": "embedding"}``) or a hybrid (``{"reqs": [...], "ranker":
{...}}``). The artifact is that dict as ``search_config.json``; the version
embeds nothing. ``search_with(collection, "docs-search@champion", text)`` runs the
version an alias names, an experiment compares two versions on live traffic, and
promoting one moves the alias (dense-only vs hybrid, RRF vs weighted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from embedb.contract.search_configs import checked_search_config, looks_like_search_config
from embedb.errors import InvalidArgumentError, ModelError
from embedb.models.flavors import ModelSpec

NAME = "search_config"
CONFIG_FILE = "search_config.json"


class SearchConfigEncoder:
    """A loaded search configuration version: ``search_config``; it makes no vectors."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.search_config = config

    def encode(self, texts: list[str], *, batch_size: int) -> np.ndarray:
        raise ModelError("a search configuration makes no vectors: run it with search_with")


class SearchConfigFlavor:
    name = NAME

    def detect(self, source: object) -> bool:
        return looks_like_search_config(source)

    def validate(self, source: object) -> None:
        checked_search_config(source, "a search configuration")

    def save(self, source: object, destination: Path, *, dimension: int | None) -> ModelSpec:
        config = checked_search_config(source, "a search configuration")
        if dimension not in (None, 0):
            raise InvalidArgumentError(f"a search configuration makes no vectors; dimension={dimension} does not apply")
        try:
            text = json.dumps(config, sort_keys=True)
        except (TypeError, ValueError):
            raise InvalidArgumentError("a search configuration holds JSON values only", field="config") from None
        (destination / CONFIG_FILE).write_text(text, encoding="utf-8")
        return ModelSpec(dimension=0, metric=None, params={"search_config": config})

    def load(self, artifact_dir: Path, *, params: Mapping[str, Any]) -> SearchConfigEncoder:
        try:
            stored = json.loads((artifact_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot read the search configuration in {artifact_dir}: {error}") from error
        return SearchConfigEncoder(checked_search_config(stored, "a stored search configuration"))


FLAVOR = SearchConfigFlavor()
