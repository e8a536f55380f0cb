"""The model-registry part of ``LocalBackend``: the ``Backend`` contract over ``ModelRegistry``.

Results are the registry's dataclasses turned into JSON-ready dicts, so the
embedded and the HTTP backend return the same thing. ``LocalBackend.models`` is
the registry itself, for embedded code that wants the objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedb.models import ModelRegistry


class LocalModelMethods:
    """Mixed into ``LocalBackend``; relies on its ``models`` registry."""

    models: ModelRegistry

    def _check_open(self) -> None:  # provided by LocalBackend
        raise NotImplementedError

    def register_model(
        self,
        name: str,
        source: Any,
        *,
        flavor: str | None = None,
        alias: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        lineage: dict[str, Any] | None = None,
        actor: str | None = None,
        dimension: int | None = None,
        metric: str | None = None,
        normalize: bool | None = None,
    ) -> dict[str, Any]:
        self._check_open()
        version = self.models.register(
            name,
            source,
            flavor=flavor,
            alias=alias,
            tags=tags,
            description=description,
            params=params,
            metrics=metrics,
            lineage=lineage,
            actor=actor,
            dimension=dimension,
            metric=metric,
            normalize=normalize,
        )
        return version.to_dict()

    def list_models(self) -> list[dict[str, Any]]:
        self._check_open()
        return [model.to_dict() for model in self.models.list()]

    def describe_model(self, name: str) -> dict[str, Any]:
        self._check_open()
        return self.models.get(name).to_dict()

    def list_model_versions(self, name: str) -> list[dict[str, Any]]:
        self._check_open()
        return [version.to_dict() for version in self.models.versions(name)]

    def describe_model_version(self, model: str) -> dict[str, Any]:
        self._check_open()
        return self.models.resolve(model).to_dict()

    def set_model_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        self._check_open()
        return self.models.set_alias(name, alias, version, actor=actor, reason=reason).to_dict()

    def delete_model_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        self._check_open()
        self.models.delete_alias(name, alias, actor=actor, reason=reason)

    def model_alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        self._check_open()
        return [change.to_dict() for change in self.models.alias_history(name, alias)]

    def set_model_tag(self, name: str, key: str, value: str, *, version: int | None = None) -> None:
        self._check_open()
        self.models.set_tag(name, key, value, version=version)

    def delete_model_version(self, name: str, version: int) -> dict[str, Any]:
        self._check_open()
        return self.models.delete_version(name, version).to_dict()
