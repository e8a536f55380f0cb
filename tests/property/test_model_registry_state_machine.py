"""The model registry against a plain-dict model, driven by hypothesis.

Rules register versions (some fail on purpose), set, move and delete aliases,
delete versions, tag, mark versions as used by a fake collection, and reopen
the catalog from disk. Invariants after every step: the registry equals the
model; every alias points at an existing READY version; replaying the alias
history from nothing reproduces the current aliases; a version's content never
changes once created; every READY version's artifact verifies.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from embedb.errors import (
    AliasNotFoundError,
    InUseError,
    InvalidStateError,
    ModelError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
)
from embedb.models import ModelRegistry, ModelVersion, VersionStatus
from embedb.storage.catalog import Catalog

MODEL_NAMES = st.sampled_from(["alpha", "beta"])
ALIASES = st.sampled_from(["champion", "challenger", "shadow"])
VERSIONS = st.integers(min_value=1, max_value=6)
GOOD_SOURCES = [
    "embedb.models.testing:hash_embed_8",
    "embedb.models.testing:hash_embed_16",
    "embedb.models.testing:hashing_embedder_32",
]
FAILING_SOURCE = "embedb.models.testing:not_there"
SOURCES = st.sampled_from([*GOOD_SOURCES, FAILING_SOURCE])
MUTABLE_FIELDS = ("status", "status_message", "tags", "aliases")


@dataclass
class ModelState:
    """What the registry should hold for one model."""

    last_version: int = 0
    statuses: dict[int, VersionStatus] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    version_tags: dict[int, dict[str, str]] = field(default_factory=dict)


def _content(version: ModelVersion) -> dict[str, Any]:
    return {key: value for key, value in version.to_dict().items() if key not in MUTABLE_FIELDS}


class RegistryStateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="embedb-registry-sm-"))
        self.models: dict[str, ModelState] = {}
        self.used: set[tuple[str, int]] = set()
        self.contents: dict[tuple[str, int], dict[str, Any]] = {}
        self.registry = self._open()

    def _open(self) -> ModelRegistry:
        return ModelRegistry(
            Catalog(self.directory / "catalog.sqlite", read_only=False),
            self.directory / "artifacts",
            version_users=lambda version: ["collection docs"] if (version.name, version.version) in self.used else [],
        )

    def teardown(self) -> None:
        self.registry.catalog.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _live(self, name: str, version: int) -> VersionStatus | None:
        state = self.models.get(name)
        status = state.statuses.get(version) if state is not None else None
        return None if status in (None, VersionStatus.DELETED) else status

    @rule(name=MODEL_NAMES, source=SOURCES, alias=st.none() | ALIASES)
    def register(self, name: str, source: str, alias: str | None) -> None:
        state = self.models.setdefault(name, ModelState())
        state.last_version += 1
        number = state.last_version
        if source == FAILING_SOURCE:
            with pytest.raises(ModelError):
                self.registry.register(name, source, alias=alias, actor="sm")
            state.statuses[number] = VersionStatus.FAILED
        else:
            created = self.registry.register(name, source, alias=alias, actor="sm")
            assert created.version == number and created.status is VersionStatus.READY
            state.statuses[number] = VersionStatus.READY
            if alias is not None:
                state.aliases[alias] = number
        state.version_tags[number] = {}
        self.contents[(name, number)] = _content(self.registry.versions(name, include_deleted=True)[-1])

    @rule(name=MODEL_NAMES, alias=ALIASES, version=VERSIONS)
    def set_alias(self, name: str, alias: str, version: int) -> None:
        status = self._live(name, version)
        if name not in self.models:
            with pytest.raises(ModelNotFoundError):
                self.registry.set_alias(name, alias, version)
        elif status is None:
            with pytest.raises(ModelVersionNotFoundError):
                self.registry.set_alias(name, alias, version)
        elif status is not VersionStatus.READY:
            with pytest.raises(InvalidStateError):
                self.registry.set_alias(name, alias, version)
        else:
            self.registry.set_alias(name, alias, version, actor="sm", reason="rule")
            self.models[name].aliases[alias] = version

    @rule(name=MODEL_NAMES, alias=ALIASES)
    def delete_alias(self, name: str, alias: str) -> None:
        if name not in self.models:
            with pytest.raises(ModelNotFoundError):
                self.registry.delete_alias(name, alias)
        elif alias not in self.models[name].aliases:
            with pytest.raises(AliasNotFoundError):
                self.registry.delete_alias(name, alias)
        else:
            self.registry.delete_alias(name, alias, actor="sm")
            del self.models[name].aliases[alias]

    @rule(name=MODEL_NAMES, version=VERSIONS)
    def delete_version(self, name: str, version: int) -> None:
        if name not in self.models:
            with pytest.raises(ModelNotFoundError):
                self.registry.delete_version(name, version)
        elif self._live(name, version) is None:
            with pytest.raises(ModelVersionNotFoundError):
                self.registry.delete_version(name, version)
        elif version in self.models[name].aliases.values() or (name, version) in self.used:
            with pytest.raises(InUseError):
                self.registry.delete_version(name, version)
        else:
            self.registry.delete_version(name, version)
            self.models[name].statuses[version] = VersionStatus.DELETED

    @rule(name=MODEL_NAMES, version=VERSIONS)
    def toggle_used(self, name: str, version: int) -> None:
        self.used ^= {(name, version)}

    @rule(
        name=MODEL_NAMES,
        key=st.sampled_from(["owner", "stage"]),
        value=st.text("xyz", max_size=3),
        on_version=VERSIONS | st.none(),
    )
    def set_tag(self, name: str, key: str, value: str, on_version: int | None) -> None:
        if name not in self.models:
            with pytest.raises(ModelNotFoundError):
                self.registry.set_tag(name, key, value, version=on_version)
        elif on_version is None:
            self.registry.set_tag(name, key, value)
            self.models[name].tags[key] = value
        elif self._live(name, on_version) is None:
            with pytest.raises(ModelVersionNotFoundError):
                self.registry.set_tag(name, key, value, version=on_version)
        else:
            self.registry.set_tag(name, key, value, version=on_version)
            self.models[name].version_tags[on_version][key] = value

    @rule()
    def reopen(self) -> None:
        self.registry.catalog.close()
        self.registry = self._open()

    @invariant()
    def registry_equals_model(self) -> None:
        assert [m.name for m in self.registry.list()] == sorted(self.models)
        for name, state in self.models.items():
            model = self.registry.get(name)
            assert model.aliases == state.aliases and model.tags == state.tags
            versions = {v.version: v for v in self.registry.versions(name, include_deleted=True)}
            assert {number: v.status for number, v in versions.items()} == state.statuses
            for number, version in versions.items():
                if version.status is not VersionStatus.DELETED:
                    assert version.tags == state.version_tags[number]

    @invariant()
    def aliases_point_at_ready_versions(self) -> None:
        for name, state in self.models.items():
            for alias, number in state.aliases.items():
                target = self.registry.resolve(f"models:/{name}@{alias}")
                assert target.version == number and target.status is VersionStatus.READY

    @invariant()
    def replaying_history_gives_current_aliases(self) -> None:
        for name in self.models:
            replayed: dict[str, int] = {}
            for change in self.registry.alias_history(name):
                assert replayed.get(change.alias) == change.from_version
                if change.to_version is None:
                    del replayed[change.alias]
                else:
                    replayed[change.alias] = change.to_version
            assert replayed == self.registry.get(name).aliases

    @invariant()
    def versions_are_immutable(self) -> None:
        for name in self.models:
            for version in self.registry.versions(name, include_deleted=True):
                assert _content(version) == self.contents[(name, version.version)]

    @invariant()
    def ready_artifacts_verify(self) -> None:
        for name in self.models:
            for version in self.registry.versions(name):
                if version.status is VersionStatus.READY:
                    self.registry.artifacts.verify(version.artifact_hash or "")


RegistryStateMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestModelRegistryStateMachine = RegistryStateMachine.TestCase
