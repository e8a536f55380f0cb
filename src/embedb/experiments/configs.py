"""Experiments on search configurations: two versions of a ``search_config`` model on ``search_with`` traffic.

An experiment on a model-bound field compares two embedding versions of the
field; one on a search configuration model (``start_experiment(collection,
"docs_search", champion="docs_search@champion", challenger="docs_search/2")``)
compares two ways of searching — dense alone against hybrid, RRF against
weighted. It routes the collection's ``search_with`` calls that run the champion
version, and its promotion moves the alias the champion was named by.
"""

from __future__ import annotations

from embedb.errors import InvalidArgumentError
from embedb.models import ModelVersion

CONFIG_FLAVOR = "search_config"
CONFIG_ROUTE_PREFIX = "config:"

ArmVersion = tuple[str, str]  # (version URI, key)
Arms = tuple[str, ArmVersion, ArmVersion]  # (route key, champion, challenger)


def config_route(model_name: str) -> str:
    """The routing key of experiments on a search configuration model (never a field name: fields have no ':')."""
    return f"{CONFIG_ROUTE_PREFIX}{model_name}"


def is_config_route(route: str) -> bool:
    return route.startswith(CONFIG_ROUTE_PREFIX)


def config_arms(name: str, champion: ModelVersion, challenger: ModelVersion) -> Arms:
    """Check that both are versions of the search configuration model ``name``; return the experiment's arms."""
    for role, version in (("champion", champion), ("challenger", challenger)):
        if version.flavor != CONFIG_FLAVOR or version.name != name:
            raise InvalidArgumentError(
                f"{name!r} is neither a field of the collection nor a search configuration model whose versions "
                f"are compared: the {role} {version.uri} is a {version.flavor} version of {version.name!r}",
                field=role,
            )
    if champion.uri == challenger.uri:
        raise InvalidArgumentError(f"champion and challenger are both {champion.uri}", field="challenger")
    return config_route(name), (champion.uri, champion.uri), (challenger.uri, challenger.uri)
