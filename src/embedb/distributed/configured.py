"""``search_with`` on a cluster: a registered search configuration run by the router over every shard.

The first shard resolves the configuration (``ShardServer.search_config``: the
version, its configuration, and the experiment routing it if one runs on it);
the router runs it as one node's ``ConfiguredSearch.run_config`` does — one
field's search, or a hybrid of several fused by its ranker — with the router's
own whole-cluster ``search`` and ``hybrid_search``, so ranks are the whole
collection's. Inside an experiment each arm's configuration is run that way
and the query is routed and logged once (``ClusterExperiments``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedb.distributed.experiments import ClusterExperiments
from embedb.errors import DataError, InvalidArgumentError
from embedb.lifecycle import is_text_query

Hits = list[list[dict[str, Any]]]
Search = Callable[[dict[str, Any]], Hits]


def run_config(
    config: dict[str, Any],
    texts: list[str],
    arguments: dict[str, Any],
    *,
    limit: int,
    offset: int,
    search: Search,
    hybrid_search: Search,
) -> Hits:
    """One configuration over the whole cluster: a field's search, or a hybrid."""
    collection, output_fields = arguments["collection_name"], arguments.get("output_fields")
    if "reqs" in config:
        reqs = [{**request, "data": texts, "limit": request.get("limit", offset + limit)} for request in config["reqs"]]
        return hybrid_search(
            {"collection_name": collection, "reqs": reqs, "ranker": config.get("ranker"), "limit": limit,
             "offset": offset, "output_fields": output_fields}
        )  # fmt: skip
    return search(
        {"collection_name": collection, "data": texts, "anns_field": config["anns_field"], "limit": limit,
         "offset": offset, "filter": config.get("filter", ""), "search_params": config.get("search_params"),
         "output_fields": output_fields}
    )  # fmt: skip


def search_with_on_cluster(
    arguments: dict[str, Any],
    resolved: dict[str, Any],
    *,
    config_of: Callable[[str], dict[str, Any]],
    search: Search,
    hybrid_search: Search,
    experiments: ClusterExperiments,
) -> Hits:
    """``search_with``: ``resolved`` is the first shard's ``search_config`` answer for ``arguments["config"]``."""
    data, user_key = arguments["data"], arguments.get("user_key")
    if not is_text_query(data):
        raise DataError("search_with takes query text (a string or a list of strings)")
    if user_key is not None and not isinstance(user_key, str):
        raise InvalidArgumentError(f"user_key must be a string, got {type(user_key).__name__}", field="user_key")
    texts = [data] if isinstance(data, str) else list(data)
    limit, offset = arguments.get("limit", 10), arguments.get("offset") or 0
    record = resolved["experiment"]
    if record is None:
        return run_config(
            resolved["config"], texts, arguments, limit=limit, offset=offset, search=search, hybrid_search=hybrid_search
        )

    def search_arm(arm_texts: list[str], uri: str, arm_limit: int, arm_offset: int) -> Hits:
        return run_config(
            config_of(uri),
            arm_texts,
            arguments,
            limit=arm_limit,
            offset=arm_offset,
            search=search,
            hybrid_search=hybrid_search,
        )

    arms = {"champion": record.champion_version, "challenger": record.challenger_version}
    return experiments.search(
        record, texts, search_arm=search_arm, indexes=arms, limit=limit, offset=offset, user_key=user_key
    )
