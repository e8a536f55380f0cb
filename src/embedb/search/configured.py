"""Searching with a registered search configuration: ``search_with``, and the checks an experiment runs first.

A configuration (``embedb.contract.search_configs``) is one field searched with
query text, or a hybrid of several fused by a ranker. ``search_with`` runs the
version a model reference names; while an experiment on that configuration
model runs and the reference names its champion, the search is routed by the
experiment (``embedb.experiments``), each arm run by ``run_config``.
``check_config`` refuses, before any search, a configuration the collection
cannot run (a missing or text-less field, bad parameters, a bad filter or ranker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from embedb.contract import MAX_SEARCH_LIMIT
from embedb.contract.results import SearchHits
from embedb.errors import DataError, InvalidArgumentError
from embedb.experiments import CONFIG_FLAVOR, Hits, config_route
from embedb.index import search_options
from embedb.lifecycle import is_text_query
from embedb.schema import MetricType
from embedb.search.hits import check_paging
from embedb.search.hybrid import checked_ranker, checked_requests
from embedb.search.operation import SearchOperation
from embedb.storage import CollectionInfo


class ConfiguredSearch:
    """The ``search_with`` operation of the contract, over a ``SearchOperation``."""

    def __init__(self, searcher: SearchOperation) -> None:
        self.searcher = searcher
        self.metadata = searcher.metadata
        self.models = searcher.models
        self.experiments = searcher.experiments

    def search_with(
        self,
        collection_name: str,
        config: str,
        data: str | list[str],
        *,
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        user_key: str | None = None,
    ) -> SearchHits:
        info = self.metadata.info(collection_name)
        check_paging(limit, offset, maximum=MAX_SEARCH_LIMIT)
        version = self.models.resolve(config)
        if version.flavor != CONFIG_FLAVOR:
            raise InvalidArgumentError(f"{version.uri} is a {version.flavor} model, not a search configuration", argument="config")
        if not is_text_query(data):
            raise DataError("search_with takes query text (a string or a list of strings)")
        if user_key is not None and not isinstance(user_key, str):
            raise InvalidArgumentError(f"user_key must be a string, got {type(user_key).__name__}", field="user_key")
        texts = [data] if isinstance(data, str) else list(data)
        record = self.experiments.routes.get(info.id, {}).get(config_route(version.name))
        if record is None or record.champion_version != version.uri:
            return self.run_config(info.name, self.config(version.uri), texts, limit=limit, offset=offset, output_fields=output_fields)

        def search_arm(arm_texts: list[str], uri: str, arm_limit: int, arm_offset: int) -> list[Hits]:
            hits = self.run_config(info.name, self.config(uri), arm_texts, limit=arm_limit, offset=arm_offset, output_fields=output_fields)
            return cast(list[Hits], hits)  # routing adds query_id and arm to these dicts

        arms = {"champion": record.champion_version, "challenger": record.challenger_version}
        routed = self.experiments.route(
            record, texts, search=search_arm, indexes=arms, limit=limit, offset=offset, user_key=user_key
        )
        return cast(SearchHits, routed)

    def run_config(
        self,
        collection_name: str,
        config: dict[str, Any],
        data: list[str],
        *,
        limit: int,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
    ) -> SearchHits:
        """Search with a search configuration: one field, or a hybrid."""
        if "reqs" in config:
            reqs = [{**request, "data": data, "limit": request.get("limit", offset + limit)} for request in config["reqs"]]
            return self.searcher.hybrid_search(
                collection_name, reqs, config.get("ranker"), limit=limit, offset=offset, output_fields=output_fields
            )
        return self.searcher.search(
            collection_name,
            data,
            anns_field=config["anns_field"],
            limit=limit,
            offset=offset,
            filter=config.get("filter", ""),
            search_params=config.get("search_params"),
            output_fields=output_fields,
        )

    def config(self, uri: str) -> dict[str, Any]:
        """The configuration a search configuration version holds (from its artifact)."""
        return self.models.load(uri).search_config

    def check_config(self, info: CollectionInfo, config: dict[str, Any], where: str) -> None:
        """Refuse a configuration ``info`` cannot run, naming what is wrong; searches nothing."""
        if "reqs" in config:
            requests = checked_requests([{**request, "data": ["query"]} for request in config["reqs"]])
            checked_ranker(config.get("ranker"), len(requests))
        else:
            requests = [{"anns_field": config["anns_field"], "param": config.get("search_params"), "expr": config.get("filter")}]
        bindings = self.metadata.bindings(info)
        for request in requests:
            field = self.metadata.search_field(info, request["anns_field"])
            bound = field.name in bindings and not bindings[field.name].tokenized
            if not (bound or field.metric_type is MetricType.BM25):
                raise InvalidArgumentError(
                    f"{where}: field {field.name!r} cannot be searched with query text "
                    "(a model-bound vector field or a BM25 function's output can)",
                    argument="config",
                )
            assert field.metric_type is not None
            definition = self.searcher.indexes.collection(info).definitions.get(field.name)
            search_options(
                request.get("param"),
                metric=field.metric_type,
                field_name=field.name,
                k=request.get("limit") or 10,
                spec=definition.spec if definition is not None else None,
            )
            expression = request.get("expr") or request.get("filter") or ""
            self.metadata.compiled_filter(info, expression, request.get("expr_params"))

    def check_config_version(self, info: CollectionInfo, reference: str) -> None:
        """``check_config`` of the version ``reference`` names, when it is a search configuration (else nothing)."""
        version = self.models.resolve(reference)
        if version.flavor == CONFIG_FLAVOR:
            self.check_config(info, self.config(version.uri), f"{version.uri}")
