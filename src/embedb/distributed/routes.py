"""Which way each contract operation goes on a cluster: the table next to ``embedb.contract.OPERATIONS``.

- ``CATALOG`` — a decision: logged once in the catalog log, then applied by
  every shard in log order (the first shard's answer is the answer);
- ``FIRST`` — a read of what every shard knows alike (the catalog): the first shard answers;
- ``EVERY`` — asked of every shard and merged (``embedb.distributed.routing``);
- ``DATA`` — rows: writes split by primary key and logged per shard, reads fanned out and merged;
- ``ROUTER`` — carried out by the router over the other operations (a policy's step).

``tests/unit/distributed`` checks that every operation has exactly one route.
"""

from __future__ import annotations

import enum


class Route(enum.Enum):
    CATALOG = "catalog"
    FIRST = "first"
    EVERY = "every"
    DATA = "data"
    ROUTER = "router"


_ROUTES: dict[Route, frozenset[str]] = {
    Route.CATALOG: frozenset(
        {
            "create_collection", "drop_collection", "rename_collection", "truncate_collection",
            "alter_collection_properties", "drop_collection_properties", "alter_collection_field",
            "create_partition", "drop_partition", "load_collection", "release_collection",
            "load_partitions", "release_partitions", "create_alias", "alter_alias", "drop_alias",
            "create_index", "alter_index_properties", "drop_index_properties", "drop_index",
            "add_embedding_version", "drop_embedding_version", "pause_job", "resume_job", "cancel_job",
            "promote", "rollback", "register_model", "set_model_alias", "delete_model_alias", "set_policy",
            "set_model_tag", "delete_model_version",
            "start_experiment", "stop_experiment", "promote_experiment", "feedback",
        }
    ),
    Route.FIRST: frozenset(
        {
            "list_collections", "has_collection", "has_partition", "list_partitions",
            "get_load_state", "list_aliases", "describe_alias", "list_indexes", "serving_history",
            "list_models", "describe_model", "list_model_versions", "describe_model_version",
            "model_alias_history", "run_analyzer", "get_policy",
            "get_experiment", "list_experiments", "experiment_report", "experiment_trajectory",
            "monitor", "decay",
        }
    ),
    Route.EVERY: frozenset(
        {
            "get_collection_stats", "describe_collection", "describe_index", "list_jobs", "get_job", "wait_job",
            "flush", "compact",
        }
    ),
    Route.DATA: frozenset(
        {
            "insert", "upsert", "delete", "get", "query", "search", "hybrid_search", "search_with", "evaluate",
            "evaluate_search", "drift", "tune_index", "fine_tune", "select_model",
        }
    ),
    Route.ROUTER: frozenset({"run_policy"}),
}  # fmt: skip

ROUTES: dict[str, Route] = {name: route for route, names in _ROUTES.items() for name in names}
