"""What ``fine_tune`` and ``select_model`` read and write besides their own work: rows of texts and new versions.

Both operations read the texts of named rows and of a seeded sample of the
collection's rows, and register what they made. ``CollectionRows`` and
``Registration`` are those two needs. On one node they are this database's rows
(``LocalRows``) and its registry (``LocalRegistration``); a cluster's shard runs
the same operations on rows its router gathered from every shard and defers the
registration to the cluster's catalog (``embedb.distributed.making``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np

from embedb.engine.data import DataOperations
from embedb.engine.samples import stored_sample
from embedb.lifecycle import EmbeddingVersion
from embedb.metadata import CollectionMetadata
from embedb.models import Lineage, ModelRegistry, ModelVersion
from embedb.storage import CollectionInfo


class CollectionRows(Protocol):
    """The collection's rows as ``fine_tune`` and ``select_model`` read them."""

    def texts(self, info: CollectionInfo, source: str, keys: Iterable[Any]) -> dict[Any, str]:
        """The ``source`` text of each of ``keys`` that exists and has one, in the order of ``keys``."""
        ...

    def sample_keys(self, info: CollectionInfo, version: EmbeddingVersion, rows: int, seed: int) -> list[Any]:
        """The keys of at most ``rows`` live rows holding ``version``'s vectors, drawn with ``seed``."""
        ...


class Registration(Protocol):
    """How ``fine_tune`` and ``select_model`` register what they made: each answers the new version's URI."""

    def register(self, name: str, model: Any, *, flavor: str, lineage: Lineage, **described: Any) -> str: ...

    def set_alias(self, version: ModelVersion, alias: str, *, reason: str) -> str: ...


class LocalRows:
    """This database's rows."""

    def __init__(self, metadata: CollectionMetadata, data: DataOperations) -> None:
        self.metadata = metadata
        self.data = data

    def texts(self, info: CollectionInfo, source: str, keys: Iterable[Any]) -> dict[Any, str]:
        wanted = list(dict.fromkeys(keys))
        rows = self.data.get(info.name, wanted, output_fields=[source]) if wanted else []
        primary = info.schema.primary.name
        found = {row[primary]: row[source] for row in rows if isinstance(row.get(source), str)}
        return {key: found[key] for key in wanted if key in found}

    def sample_keys(self, info: CollectionInfo, version: EmbeddingVersion, rows: int, seed: int) -> list[Any]:
        rng = np.random.default_rng(seed)
        return stored_sample(self.metadata, info, version.column_key, version.dimension, "", rows, rng)[1]


class LocalRegistration:
    """This database's registry."""

    def __init__(self, models: ModelRegistry) -> None:
        self.models = models

    def register(self, name: str, model: Any, *, flavor: str, lineage: Lineage, **described: Any) -> str:
        return self.models.register(name, model, flavor=flavor, lineage=lineage, **described).uri

    def set_alias(self, version: ModelVersion, alias: str, *, reason: str) -> str:
        return self.models.set_alias(version.name, alias, version.version, reason=reason).uri


def lineage_fields(lineage: Lineage) -> dict[str, Any]:
    """A lineage as the contract's ``register_model`` takes it (the fields that are set)."""
    return {key: value for key, value in dataclasses.asdict(lineage).items() if value is not None}
