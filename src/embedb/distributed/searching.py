"""``ClusterSearch``: the router's reads of rows — query, search (ordered, grouped, in an experiment), hybrid, search_with.

Each fans out to one replica of every shard and merges what they answer into
one node's answer on the same rows (``embedb.distributed.routing`` and
``grouping``); an experiment's text search is routed here once
(``ClusterExperiments``).
"""

from __future__ import annotations

import time
from typing import Any

from embedb.distributed.configured import search_with_on_cluster
from embedb.distributed.grouping import (
    GROUPS_PARAMETER,
    best_groups,
    group_filter,
    group_values,
    merged_groups,
    one_query,
)
from embedb.distributed.monitoring import MonitorKey
from embedb.distributed.placement import ClusterPlacement
from embedb.distributed.routing import merge_hits
from embedb.engine.data import COUNT_STAR
from embedb.errors import InvalidArgumentError
from embedb.lifecycle import is_text_query
from embedb.query import OrderBy, order_rows, parse_order_by, with_order_fields
from embedb.schema import CollectionSchema, MetricType
from embedb.search import check_paging
from embedb.search.hybrid import checked_ranker, checked_requests, fuse


class ClusterSearch(ClusterPlacement):
    """query, search, hybrid_search and search_with over every shard."""

    def _query(self, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        check_paging(arguments.get("limit"), arguments.get("offset") or 0, maximum=None)
        arguments = self._shipped(arguments)
        output_fields = arguments.get("output_fields")
        if isinstance(output_fields, (list, tuple)) and COUNT_STAR in output_fields:  # as one node reads it
            answers = self._every("query", {**arguments, "order_by": None}, self._shards_for(arguments))
            return [{COUNT_STAR: sum(int(rows[0][COUNT_STAR]) for rows in answers)}]
        if arguments.get("order_by"):
            return self._ordered_query(arguments)
        limit, offset = arguments.get("limit"), arguments.get("offset") or 0
        widened = {**arguments, "offset": 0, "limit": None if limit is None else limit + offset}
        answers = self._every("query", widened, self._shards_for(arguments))
        primary = self._primary(arguments["collection_name"])
        rows = sorted((row for rows in answers for row in rows), key=lambda row: row[primary])
        return rows[offset:] if limit is None else rows[offset : offset + limit]

    def _experiment_search(self, arguments: dict[str, Any]) -> list[list[dict[str, Any]]] | None:
        """A text search of a field in a running experiment, routed here once (``ClusterExperiments``); else None."""
        data = arguments["data"]
        if arguments.get("group_by_field") or not is_text_query(data):
            return None
        collection, field = arguments["collection_name"], arguments.get("anns_field")
        key = ("experiment", collection, field or "")
        running = self._cached(
            key,
            lambda: self._answer(self._read_with(0, lambda shard: shard.running_experiment.remote(collection, field))),
        )
        if running is None:
            return None
        record, indexes = running

        def search_arm(texts: list[str], version: str, limit: int, offset: int) -> list[list[dict[str, Any]]]:
            return self._search(
                {**arguments, "data": texts, "limit": limit, "offset": offset, "embedding_version": version}
            )

        return self._experiments.search(
            record,
            [data] if isinstance(data, str) else list(data),
            search_arm=search_arm,
            indexes=indexes,
            limit=arguments.get("limit", 10),
            offset=arguments.get("offset") or 0,
            user_key=arguments.get("user_key"),
        )

    def _search_with(self, arguments: dict[str, Any]) -> list[list[dict[str, Any]]]:
        check_paging(arguments.get("limit", 10), arguments.get("offset") or 0, maximum=None)
        collection, config = arguments["collection_name"], arguments["config"]
        resolved = self._answer(self._read_with(0, lambda shard: shard.search_config.remote(collection, config)))
        return search_with_on_cluster(
            arguments,
            resolved,
            config_of=lambda uri: dict(self._read_with(0, lambda shard: shard.config_of.remote(uri))),
            search=self._search,
            hybrid_search=self._hybrid_search,
            experiments=self._experiments,
        )

    def _ordered_query(self, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """Each shard's first rows in the order asked; merged in that order, ties by primary key, as one node does."""
        ordering, schema = self._ordering(arguments["collection_name"], arguments["order_by"])
        fields, strip = with_order_fields(arguments.get("output_fields"), ordering)
        strip = [name for name in strip if name != schema.primary.name]  # a query row always holds its key
        limit, offset = arguments.get("limit"), arguments.get("offset") or 0
        widened = {
            **arguments,
            "output_fields": fields,
            "offset": 0,
            "limit": None if limit is None else limit + offset,
        }
        primary = schema.primary.name
        answers = self._every("query", widened, self._shards_for(arguments))
        rows = sorted((row for rows in answers for row in rows), key=lambda row: row[primary])
        rows = order_rows(rows, ordering, schema, fields_of=lambda row: row)
        rows = rows[offset:] if limit is None else rows[offset : offset + limit]
        return [{key: value for key, value in row.items() if key not in strip} for row in rows]

    def _ordering(self, collection_name: str, order_by: Any) -> tuple[OrderBy, CollectionSchema]:
        schema = self._schema(collection_name)
        return parse_order_by(order_by, schema), schema

    def _search(self, arguments: dict[str, Any]) -> list[list[dict[str, Any]]]:
        if arguments.get("group_by_field") and not arguments.get("order_by"):
            return self._grouped_search(arguments)
        if arguments.get("order_by"):  # the nearest hits over every shard, then ordered by the fields, as one node does
            ordering, schema = self._ordering(arguments["collection_name"], arguments["order_by"])
            fields, strip = with_order_fields(arguments.get("output_fields"), ordering)
            found = self._search({**arguments, "order_by": None, "output_fields": fields})
            ordered = [order_rows(hits, ordering, schema, fields_of=lambda hit: hit["entity"]) for hits in found]
            return [
                [{**hit, "entity": {k: v for k, v in hit["entity"].items() if k not in strip}} for hit in hits]
                for hits in ordered
            ]
        limit, offset = arguments.get("limit", 10), arguments.get("offset") or 0
        check_paging(limit, offset, maximum=None)
        routed = self._experiment_search(arguments) if arguments.get("embedding_version") is None else None
        if routed is not None:
            return routed
        started = time.perf_counter()
        closer = self._closer_first(arguments["collection_name"], arguments.get("anns_field"))
        answers, key = self._fanned_search({**arguments, "offset": 0, "limit": limit + offset})
        hits = merge_hits(answers, smaller_is_closer=closer, limit=limit, offset=offset)
        self._count(arguments, key, hits, started)
        return hits

    def _count(
        self, arguments: dict[str, Any], key: MonitorKey | None, hits: list[list[dict[str, Any]]], started: float
    ) -> None:
        """Count a search of a model-bound field for its version's monitoring (``ClusterMonitor``), as one node does."""
        if key is None:
            return
        metric = MetricType(self._metric(arguments["collection_name"], arguments.get("anns_field")))
        similarity = metric in (MetricType.COSINE, MetricType.IP)
        data = arguments["data"]
        self._monitor.record(
            key,
            queries=len(hits),
            empty=sum(1 for query in hits if not query),
            top_scores=[query[0]["distance"] if query and similarity else None for query in hits],
            latency_ms=(time.perf_counter() - started) * 1000.0,
            texts=([data] if isinstance(data, str) else list(data)) if is_text_query(data) else [],
        )

    def _grouped_search(self, arguments: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """Groups over every shard in two passes (``embedb.distributed.grouping``)."""
        limit, offset = arguments.get("limit", 10), arguments.get("offset") or 0
        check_paging(limit, offset, maximum=None)
        field = arguments["group_by_field"]
        started = time.perf_counter()
        closer = self._closer_first(arguments["collection_name"], arguments.get("anns_field"))
        with self.lock.reading():  # the second pass searches the same query vectors
            embedded = self._embedded_once(arguments)
        first, key = self._fanned_search({**embedded, "offset": 0, "limit": limit + offset})
        primary = self._primary(arguments["collection_name"])
        answer: list[list[dict[str, Any]]] = []
        for position in range(len(first[0]) if first else 0):
            groups = best_groups(
                [hits[position] for hits in first], field, limit + offset, smaller_is_closer=closer, primary=primary
            )
            if not groups:
                answer.append([])
                continue
            members, _ = self._fanned_search(
                {
                    **embedded,
                    "data": one_query(embedded["data"], position),
                    "filter": group_filter(field, arguments.get("filter"), groups),
                    "filter_params": {**(arguments.get("filter_params") or {}), GROUPS_PARAMETER: group_values(groups)},
                    "offset": 0,
                    "limit": len(groups),
                }
            )
            answer.append(
                merged_groups(
                    [hits[0] for hits in members],
                    field,
                    groups,
                    group_size=arguments.get("group_size") or 1,
                    offset=offset,
                    smaller_is_closer=closer,
                    primary=primary,
                )
            )
        self._count(arguments, key, answer, started)
        return answer

    def _fanned_search(self, arguments: dict[str, Any]) -> tuple[list[list[list[dict[str, Any]]]], MonitorKey | None]:
        """Every shard's own answer to a search (not merged), and what one node would count it under."""
        with self.lock.reading():
            arguments = self._shipped(self._embedded_once(arguments))
            outcomes = self._read_all(
                lambda shard: shard.search_monitored.remote(arguments), self._shards_for(arguments)
            )
        answers = [self._answer(outcome) for outcome in outcomes]
        keys = [key for _, key in answers if key is not None]
        return [hits for hits, _ in answers], tuple(keys[0]) if keys else None

    def _embedded_once(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A text search of a model-bound field as vectors pinned to the version that made them, embedded by one shard.

        Every shard then compares the same query vectors (one embedding per query, not one per shard); the
        pinned version is the one the text was embedded with, even if a promotion lands before the shards search.
        """
        if not is_text_query(arguments["data"]):
            return arguments
        embedded = self._answer(self.shards.read_any(lambda shard: shard.query_vectors.remote(arguments)))
        if embedded is None:  # BM25, sparse, or a field bound to no model: the shards answer (or refuse) the text
            return arguments
        version, vectors = embedded
        return {**arguments, "data": vectors, "embedding_version": version}

    def _hybrid_search(self, arguments: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """Each request searched over every shard, then fused here: ranks are the whole collection's, as on one node."""
        limit, offset = arguments.get("limit", 10), arguments.get("offset") or 0
        check_paging(limit, offset, maximum=None)
        requests = checked_requests(arguments["reqs"])
        checked_ranker(arguments.get("ranker"), len(requests))
        collection = arguments["collection_name"]
        metrics = [MetricType(self._metric(collection, request["anns_field"])) for request in requests]
        results = [
            self._search(
                {
                    "collection_name": collection,
                    "data": request["data"],
                    "filter": request.get("expr") or request.get("filter") or "",
                    "limit": request.get("limit") or offset + limit,
                    "offset": 0,
                    "output_fields": arguments.get("output_fields"),
                    "search_params": request.get("param"),
                    "anns_field": request["anns_field"],
                    "partition_names": arguments.get("partition_names"),
                    "filter_params": request.get("expr_params") or request.get("filter_params"),
                    "timezone": arguments.get("timezone"),
                }
            )
            for request in requests
        ]
        if len({len(result) for result in results}) != 1:
            raise InvalidArgumentError(
                f"every request of a hybrid search needs as many queries; got {[len(r) for r in results]}",
                argument="reqs",
            )
        return [hits[offset:] for hits in fuse(results, metrics, arguments.get("ranker"), offset + limit)]
