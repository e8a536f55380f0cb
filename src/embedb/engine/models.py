"""The model registry's operations of the contract, over one ``Database``'s ``ModelRegistry``.

Results are the registry's dataclasses as JSON-ready dicts (``to_dict``), the
types ``embedb.contract.results`` declares, so embedded and remote callers get
the same thing.
"""

from __future__ import annotations

from typing import Any, cast

from embedb.contract.results import AliasChangeInfo, ModelVersionInfo, RegisteredModelInfo
from embedb.models import ModelRegistry


class ModelOperations:
    """register / list / describe models and versions, aliases, tags, deletion."""

    def __init__(self, models: ModelRegistry) -> None:
        self.models = models

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
    ) -> ModelVersionInfo:
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
        return cast(ModelVersionInfo, version.to_dict())

    def list_models(self) -> list[RegisteredModelInfo]:
        return cast(list[RegisteredModelInfo], [model.to_dict() for model in self.models.list()])

    def describe_model(self, name: str) -> RegisteredModelInfo:
        return cast(RegisteredModelInfo, self.models.get(name).to_dict())

    def list_model_versions(self, name: str) -> list[ModelVersionInfo]:
        return cast(list[ModelVersionInfo], [version.to_dict() for version in self.models.versions(name)])

    def describe_model_version(self, model: str) -> ModelVersionInfo:
        return cast(ModelVersionInfo, self.models.resolve(model).to_dict())

    def set_model_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None, reason: str | None = None
    ) -> ModelVersionInfo:
        return cast(ModelVersionInfo, self.models.set_alias(name, alias, version, actor=actor, reason=reason).to_dict())

    def delete_model_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        self.models.delete_alias(name, alias, actor=actor, reason=reason)

    def model_alias_history(self, name: str, alias: str | None = None) -> list[AliasChangeInfo]:
        return cast(list[AliasChangeInfo], [change.to_dict() for change in self.models.alias_history(name, alias)])

    def set_model_tag(self, name: str, key: str, value: str, *, version: int | None = None) -> None:
        self.models.set_tag(name, key, value, version=version)

    def delete_model_version(self, name: str, version: int) -> ModelVersionInfo:
        return cast(ModelVersionInfo, self.models.delete_version(name, version).to_dict())
