"""Search configurations: how a collection is searched with query text — one field, or a hybrid of several.

``{"anns_field": "embedding", "search_params": {...}, "filter": "..."}`` searches
one field (a model-bound vector field, or a BM25 function's output);
``{"reqs": [{"anns_field": "embedding"}, {"anns_field": "sparse", "limit": 100}],
"ranker": {"strategy": "rrf", "params": {"k": 60}}}`` fuses several
(``hybrid_search``). ``evaluate_search`` scores configurations offline; registered
as versions of a model (the ``search_config`` flavor) they serve ``search_with``,
run in experiments and are promoted by moving an alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedb.errors import InvalidArgumentError

SINGLE_KEYS = frozenset({"anns_field", "search_params", "filter"})
HYBRID_KEYS = frozenset({"reqs", "ranker"})


def looks_like_search_config(value: Any) -> bool:
    """Whether ``value`` is meant as a search configuration (it names ``anns_field`` or ``reqs``)."""
    return isinstance(value, Mapping) and ("anns_field" in value or "reqs" in value)


def checked_search_config(config: Any, where: str = "config") -> dict[str, Any]:
    """One configuration, checked for shape (the collection checks its fields); ``InvalidArgumentError`` otherwise."""
    if not isinstance(config, Mapping):
        raise InvalidArgumentError(f"{where} must be a dict (anns_field, or reqs and ranker)", field="config")
    single = isinstance(config.get("anns_field"), str) and not set(config) - SINGLE_KEYS
    reqs = config.get("reqs")
    hybrid = (
        isinstance(reqs, list)
        and bool(reqs)
        and all(isinstance(r, Mapping) and isinstance(r.get("anns_field"), str) for r in reqs)
        and not set(config) - HYBRID_KEYS
    )
    if not (single or hybrid):
        raise InvalidArgumentError(
            f"{where} is {{anns_field, search_params?, filter?}} or {{reqs: [...], ranker?}}, got {sorted(config)}",
            field="config",
        )
    if "ranker" in config and not isinstance(config["ranker"], Mapping):
        raise InvalidArgumentError(f"{where}: ranker must be a dict (strategy and params)", field="config")
    return dict(config)


def checked_configs(configs: Any) -> dict[str, dict[str, Any]]:
    """Search configurations by name (``evaluate_search``); ``InvalidArgumentError`` names a bad one."""
    if not isinstance(configs, Mapping) or not configs:
        raise InvalidArgumentError("configs must name at least one search configuration", field="configs")
    checked = {}
    for name, config in configs.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"configs: {name!r} is not a configuration name", field="configs")
        checked[name] = checked_search_config(config, f"configs[{name!r}]")
    return checked
