"""Embedding models: the registry, the artifact store and the flavors that load them.

This module is the layer's interface; the implementations sit beside it
(``registry.py``, ``artifacts.py``, ``flavors/``). It uses MLflow's vocabulary:

- a **registered model** (``RegisteredModel``) is a name with a description and tags;
- a **model version** (``ModelVersion``) is immutable once READY: numbered 1, 2, …
  per model, never reused, pointing at one content-addressed artifact;
- an **alias** (``champion``, ``challenger``, any valid name) is a movable pointer at
  one READY version; every move is appended to the alias history (``AliasChange``).

A model is named by a URI: ``models:/name/3`` (version 3), ``models:/name@champion``
(where the alias points now), ``models:/name`` or ``models:/name/latest`` (the newest
READY version), and the short forms ``name/3``, ``name@champion``, ``name``.

What this layer does *not* do: it knows nothing of collections, segments or
vector columns. It never re-embeds stored data and never moves an alias on its
own; ``embedb.lifecycle`` does both, and tells the registry which versions a
collection uses through the ``version_users`` function its owner gives ``ModelRegistry``.

Code-bearing versions (the ``callable`` flavor stores an import path and runs it)
are registered and loaded only as the registry's ``CodeModelPolicy`` allows:
every module embedded, only the operator's ``--allow-code-models`` prefixes on a
server (``embedb.models.code_policy``). ``check_model_artifacts`` verifies every
stored artifact against its manifest for ``embedb check``.

Importing this package is cheap: torch, scikit-learn, model2vec and onnxruntime
are imported by a flavor only when a model of that flavor is registered or loaded.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embedb.errors import InvalidArgumentError, InvalidStateError
from embedb.models.uris import ModelRef, parse_model_uri
from embedb.schema import MetricType

DEFAULT_BATCH_SIZE = 64

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: called after each chunk of texts is embedded."""


@runtime_checkable
class Embedder(Protocol):
    """Something that turns texts into vectors of one fixed dimension.

    ``embed`` returns a C-contiguous float32 array of shape ``(len(texts), dimension)``,
    row ``i`` for ``texts[i]``. When ``normalize`` is true every row has unit L2 norm.
    ``metric`` is the metric the vectors are meant to be compared with. An embedder
    does not cache results and does not truncate or reorder its input beyond what
    its model does (texts longer than a version's ``max_input_length`` are cut by
    the model itself).
    """

    @property
    def dimension(self) -> int: ...

    @property
    def metric(self) -> MetricType: ...

    @property
    def normalize(self) -> bool: ...

    def embed(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray: ...


class VersionStatus(enum.StrEnum):
    """Where a model version is in its lifecycle; transitions are guarded."""

    # The version number is reserved and its artifact is being written; not loadable.
    REGISTERING = "REGISTERING"
    # The artifact is stored and hashed; the version can be loaded and aliased.
    READY = "READY"
    # Writing or probing the artifact failed; ``status_message`` says why. Never loadable.
    FAILED = "FAILED"
    # Deleted by a user: its artifact may be gone, its number is never reused.
    DELETED = "DELETED"

    def check_transition(self, target: VersionStatus) -> None:
        """Return if ``self -> target`` is allowed; raise ``InvalidStateError`` otherwise."""
        if target not in _ALLOWED_TRANSITIONS[self]:
            allowed = ", ".join(sorted(s.value for s in _ALLOWED_TRANSITIONS[self])) or "none"
            raise InvalidStateError(
                f"a model version cannot go from {self.value} to {target.value} (allowed from {self.value}: {allowed})"
            )


_ALLOWED_TRANSITIONS: dict[VersionStatus, frozenset[VersionStatus]] = {
    VersionStatus.REGISTERING: frozenset({VersionStatus.READY, VersionStatus.FAILED}),
    VersionStatus.READY: frozenset({VersionStatus.DELETED}),
    VersionStatus.FAILED: frozenset({VersionStatus.DELETED}),
    VersionStatus.DELETED: frozenset(),
}


class InputUnit(enum.StrEnum):
    """What a version's ``max_input_length`` counts."""

    TOKENS = "tokens"
    CHARS = "chars"


@dataclass(frozen=True)
class Lineage:
    """Where a version came from; every field is optional free text except ``parent``.

    ``parent`` is the canonical URI (``models:/name/3``) of the version this one was
    derived from (distilled, fine-tuned); the registry checks that it exists.
    ``source`` records an outside origin such as an MLflow model URI.
    """

    training_data: str | None = None
    parent: str | None = None
    run_id: str | None = None
    source: str | None = None

    @classmethod
    def from_value(cls, value: Lineage | Mapping[str, Any] | None) -> Lineage:
        """Accept a ``Lineage``, a mapping with its field names, or ``None``; raise ``InvalidArgumentError``."""
        if value is None:
            return cls()
        if isinstance(value, Lineage):
            return value
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(f"lineage must be a Lineage or a mapping, got {type(value).__name__}")
        unknown = set(value) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidArgumentError(
                f"unknown lineage fields {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        for key, item in value.items():
            if item is not None and not isinstance(item, str):
                raise InvalidArgumentError(f"lineage field {key!r} must be a string, got {type(item).__name__}")
        return cls(**dict(value))

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class ModelVersion:
    """One immutable version of a registered model.

    Everything but ``status``, ``status_message``, ``tags`` and ``aliases`` is fixed
    when the version is created. ``artifact_hash`` is the sha256 of the artifact's
    manifest (``None`` until the artifact is stored); ``aliases`` lists the aliases
    pointing at this version when it was read.
    """

    name: str
    version: int
    status: VersionStatus
    flavor: str
    artifact_hash: str | None
    dimension: int | None
    metric: MetricType | None
    normalize: bool
    max_input_length: int | None
    input_unit: InputUnit | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    description: str | None = None
    created_at: float = 0.0
    status_message: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """The canonical URI of this version, ``models:/name/3``."""
        return f"models:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (enums as their values, ``uri`` included)."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "status": self.status.value,
            "flavor": self.flavor,
            "artifact_hash": self.artifact_hash,
            "dimension": self.dimension,
            "metric": self.metric.value if self.metric is not None else None,
            "normalize": self.normalize,
            "max_input_length": self.max_input_length,
            "input_unit": self.input_unit.value if self.input_unit is not None else None,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "lineage": self.lineage.to_dict(),
            "description": self.description,
            "created_at": self.created_at,
            "status_message": self.status_message,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class RegisteredModel:
    """A registered model: a name, its description, tags and current aliases.

    ``latest_version`` is the newest READY version (``None`` when there is none);
    ``aliases`` maps each alias to the version it points at.
    """

    name: str
    description: str | None
    tags: dict[str, str]
    created_at: float
    latest_version: int | None
    aliases: dict[str, int]

    @property
    def uri(self) -> str:
        """``models:/name``: resolves to the newest READY version."""
        return f"models:/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "uri": self.uri,
            "description": self.description,
            "tags": dict(self.tags),
            "created_at": self.created_at,
            "latest_version": self.latest_version,
            "aliases": dict(self.aliases),
        }


@dataclass(frozen=True)
class AliasChange:
    """One entry of the alias history: ``alias`` moved ``from_version -> to_version``.

    ``from_version`` is ``None`` when the alias was created, ``to_version`` is ``None``
    when it was deleted. ``sequence`` orders the entries of one catalog.
    """

    sequence: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    time: float
    actor: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


UsageChecker = Callable[[ModelVersion], list[str]]
"""Returns the users (e.g. ``"collection docs, field text_vec"``) of a version; empty if none."""


# The implementations import the types above from this module, so they come last.
from embedb.models.artifacts import ARTIFACTS_DIR  # noqa: E402
from embedb.models.check import ArtifactCheck, DamagedArtifact, check_model_artifacts  # noqa: E402
from embedb.models.code_policy import CodeModelPolicy  # noqa: E402
from embedb.models.loaded import LoadedModel  # noqa: E402
from embedb.models.recipes import distill_from, distill_static, train_lsa  # noqa: E402
from embedb.models.registry import ModelRegistry  # noqa: E402

__all__ = [
    "ARTIFACTS_DIR",
    "DEFAULT_BATCH_SIZE",
    "AliasChange",
    "ArtifactCheck",
    "CodeModelPolicy",
    "DamagedArtifact",
    "Embedder",
    "InputUnit",
    "Lineage",
    "LoadedModel",
    "ModelRef",
    "ModelRegistry",
    "ModelVersion",
    "ProgressCallback",
    "RegisteredModel",
    "UsageChecker",
    "VersionStatus",
    "check_model_artifacts",
    "distill_from",
    "distill_static",
    "parse_model_uri",
    "train_lsa",
]
