"""The Milvus RPCs that write and read rows (insert, upsert, delete, query, search) and manage indexes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from embedb.contract import milvus_rules
from embedb.errors import DataError, InvalidArgumentError
from embedb.schema import CollectionSchema, DataType
from embedb.server.milvus import columns
from embedb.server.milvus.plumbing import Call, RpcBase, flag, hybrid_now, integer, json_value, pairs
from embedb.server.milvus.status import ok
from embedb.text import term_id

_INDEX_STATES = {"Finished": common_pb2.Finished, "InProgress": common_pb2.InProgress, "Failed": common_pb2.Failed}
_COUNT = "count(*)"


class DataRpcs(RpcBase):
    """Insert, Upsert, Delete, Query, Search; CreateIndex, DescribeIndex, DropIndex."""

    # ------------------------------------------------------------- data

    def Insert(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._serve(request, context, milvus_pb2.MutationResult, lambda call: _write(call, request, "insert", {}))

    def Upsert(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            options: dict[str, Any] = {"partial_update": request.partial_update}
            if request.field_ops:
                names = schema_pb2.FieldPartialUpdateOp.OpType
                options["field_ops"] = {
                    op.field_name: names.Name(op.op).lower() if op.op in names.values() else str(op.op) for op in request.field_ops
                }
            return _write(call, request, "upsert", options)

        return self._serve(request, context, milvus_pb2.MutationResult, work)

    def RunAnalyzer(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            if request.with_detail:
                raise InvalidArgumentError("run_analyzer with_detail (offsets, positions) is not supported yet; with_hash is")
            try:
                texts = [value.decode("utf-8") for value in request.placeholder]
            except UnicodeDecodeError:
                raise DataError("a text to analyze is not valid UTF-8") from None
            params = columns.parse_json(request.analyzer_params, "analyzer_params") if request.analyzer_params else None
            arguments: dict[str, Any] = {"texts": texts, "analyzer_params": params}
            if request.collection_name or request.field_name:
                arguments.update(collection_name=request.collection_name or None, field_name=request.field_name or None)
            call.authorize("run_analyzer", arguments)
            analyzed = call.backend.run_analyzer(**arguments)
            results = [
                milvus_pb2.AnalyzerResult(
                    tokens=[milvus_pb2.AnalyzerToken(token=token, hash=term_id(token) if request.with_hash else 0) for token in tokens]
                )
                for tokens in analyzed
            ]
            return milvus_pb2.RunAnalyzerResponse(status=ok(), results=results)

        return self._serve(request, context, milvus_pb2.RunAnalyzerResponse, work)

    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            if not request.expr:
                raise InvalidArgumentError("delete needs a filter expression (pymilvus builds one from ids)", argument="expr")
            result = call.run(
                "delete",
                collection_name=request.collection_name,
                filter=_with_templates(request.expr, request.expr_template_values),
                partition_name=request.partition_name or None,
            )
            return milvus_pb2.MutationResult(status=ok(), delete_cnt=result["delete_count"], timestamp=hybrid_now())

        return self._serve(request, context, milvus_pb2.MutationResult, work)

    def Query(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            params = pairs(request.query_params)
            milvus_rules.refuse_time_fields(params.get("time_fields"))
            # Without output fields Milvus answers every field (EmbeDB's own API: keys only).
            output = list(request.output_fields) or ["*"]
            counting = [name.strip().lower() for name in output] == [_COUNT]
            if counting:
                output = [_COUNT]
            arguments = {
                "collection_name": request.collection_name,
                "filter": request.expr,
                "output_fields": output,
                "limit": integer(params, "limit", None),
                "offset": integer(params, "offset", 0),
                "partition_names": list(request.partition_names) or None,
                "filter_params": columns.template_values(request.expr_template_values) or None,
                "order_by": params["order_by_fields"].split(",") if params.get("order_by_fields") else None,
                "timezone": params.get("timezone") or None,
            }
            call.authorize("query", arguments)
            schema = call.schema(request.collection_name)
            rows = call.backend.query(**arguments)
            reply = milvus_pb2.QueryResults(status=ok(), collection_name=request.collection_name, primary_field_name=schema.primary.name)
            if counting:
                count = rows[0][_COUNT] if rows else 0
                reply.fields_data.append(schema_pb2.FieldData(type=int(DataType.INT64), field_name=_COUNT, scalars={"long_data": {"data": [count]}}))
                reply.output_fields.append(_COUNT)
                return reply
            names = _row_names(rows, schema, output)
            reply.fields_data.extend(columns.row_columns(rows, schema, names))
            reply.output_fields.extend(_reply_output_fields(reply.fields_data, output, schema))
            return reply

        return self._serve(request, context, milvus_pb2.QueryResults, work)

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            if request.sub_reqs or request.function_score.functions:
                raise InvalidArgumentError("function scores are not supported yet; use hybrid_search with RRFRanker or WeightedRanker")
            params, search_params, queries = _search_request(request)
            output = list(request.output_fields)
            limit = integer(params, "topk", 10)
            arguments = {
                "collection_name": request.collection_name,
                "data": queries,
                "filter": request.dsl,
                "limit": limit,
                "offset": integer(params, "offset", 0),
                "output_fields": output or None,
                "search_params": search_params,
                "anns_field": params.get("anns_field") or None,
                "partition_names": list(request.partition_names) or None,
                "filter_params": columns.template_values(request.expr_template_values) or None,
                "group_by_field": params.get("group_by_field") or None,
                "group_size": integer(params, "group_size", None),
                "strict_group_size": flag(params.get("strict_group_size")),
                "order_by": params["order_by_fields"].split(",") if params.get("order_by_fields") else None,
                "timezone": params.get("timezone") or None,
            }
            call.authorize("search", arguments)
            schema = call.schema(request.collection_name)
            hits = call.backend.search(**arguments)
            decimals = integer(params, "round_decimal", -1)
            return milvus_pb2.SearchResults(
                status=ok(),
                collection_name=request.collection_name,
                results=_search_result(hits, schema, output, limit or 0, -1 if decimals is None else decimals),
            )

        return self._serve(request, context, milvus_pb2.SearchResults, work)

    def HybridSearch(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            if request.function_score.functions:
                raise InvalidArgumentError("function scores are not supported yet; use RRFRanker or WeightedRanker")
            raw = pairs(request.rank_params)
            rank = {key: json_value(value) for key, value in raw.items()}
            if rank.get("group_by_field"):
                raise InvalidArgumentError("grouping (group_by_field) in a hybrid search is not supported yet")
            reqs = []
            for sub in request.requests:
                params, search_params, queries = _search_request(sub)
                reqs.append(
                    {
                        "data": queries,
                        "anns_field": params.get("anns_field") or None,
                        "param": search_params,
                        "limit": integer(params, "topk", None),
                        "expr": sub.dsl,
                        "expr_params": columns.template_values(sub.expr_template_values) or None,
                    }
                )
            output = list(request.output_fields)
            limit = integer(raw, "limit", 10)
            if limit is None or limit < 1:
                raise InvalidArgumentError(f"limit must be a whole number >= 1, got {raw.get('limit')!r}", argument="limit")
            arguments = {
                "collection_name": request.collection_name,
                "reqs": reqs,
                "ranker": {"strategy": rank["strategy"], "params": rank.get("params") or {}} if rank.get("strategy") else None,
                "limit": limit,
                "offset": integer(raw, "offset", 0),
                "output_fields": output or None,
                "partition_names": list(request.partition_names) or None,
            }
            call.authorize("hybrid_search", arguments)
            schema = call.schema(request.collection_name)
            hits = call.backend.hybrid_search(**arguments)
            decimals = integer(raw, "round_decimal", -1)
            decimals = -1 if decimals is None else decimals
            return milvus_pb2.SearchResults(
                status=ok(), collection_name=request.collection_name, results=_search_result(hits, schema, output, limit, decimals)
            )

        return self._serve(request, context, milvus_pb2.SearchResults, work)

    # ---------------------------------------------------------- indexes

    def CreateIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            extra = {key: json_value(value) for key, value in pairs(request.extra_params).items()}
            index_type = str(extra.pop("index_type", "") or "AUTOINDEX")
            metric = extra.pop("metric_type", None)
            params = extra.pop("params", None) or {}
            if not isinstance(params, dict):
                raise InvalidArgumentError(f"index params must be a JSON object, got {params!r}")
            params = {**extra, **params}
            # pymilvus waits for the build itself (describe_index until Finished).
            call.run(
                "create_index",
                collection_name=request.collection_name,
                field_name=request.field_name,
                index_type=index_type,
                metric_type=str(metric) if metric else None,
                params=params or None,
                index_name=request.index_name or None,
                sync=False,
            )

        return self._status(request, context, work)

    def DescribeIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            names = call.run("list_indexes", collection_name=request.collection_name, field_name=request.field_name or None)
            if request.index_name:
                names = [name for name in names if name == request.index_name]
            if not names:
                from embedb.errors import IndexNotFoundError

                wanted = request.index_name or request.field_name or "any"
                raise IndexNotFoundError(f"index {wanted!r} not found in {request.collection_name!r}")
            reply = milvus_pb2.DescribeIndexResponse(status=ok())
            for i, name in enumerate(names):
                reply.index_descriptions.append(_index_description(call.backend.describe_index(request.collection_name, name), i + 1))
            return reply

        return self._serve(request, context, milvus_pb2.DescribeIndexResponse, work)

    def AlterIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            arguments = {"collection_name": request.collection_name, "index_name": request.index_name}
            if request.extra_params:
                properties = {pair.key: json_value(pair.value) for pair in request.extra_params}
                call.run("alter_index_properties", properties=properties, **arguments)
            if request.delete_keys:
                call.run("drop_index_properties", property_keys=list(request.delete_keys), **arguments)

        return self._status(request, context, work)

    def DropIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            name = request.index_name
            if not name:
                names = call.run("list_indexes", collection_name=request.collection_name, field_name=request.field_name or None)
                name = names[0] if names else request.field_name
            arguments = {"collection_name": request.collection_name, "index_name": name}
            call.authorize("drop_index", arguments)
            milvus_rules.refuse_dropping_index_of_loaded_collection(call.backend, collection_name=request.collection_name)
            call.backend.drop_index(**arguments)

        return self._status(request, context, work)



def _with_templates(expr: str, templates: Any) -> str:
    if templates:
        raise InvalidArgumentError("filter templates in delete are not supported yet; put the values in the expression")
    return expr


def _write(call: Call, request: Any, method: str, options: dict[str, Any]) -> milvus_pb2.MutationResult:
    """An insert or upsert: the columns as rows of the collection's schema, and the keys written."""
    arguments = {"collection_name": request.collection_name, "partition_name": request.partition_name or None, **options}
    call.authorize(method, arguments)
    schema = call.schema(request.collection_name)
    data = columns.columns_from_fields(request.fields_data, request.num_rows, schema)
    result = getattr(call.backend, method)(data=data, **arguments)
    if method == "insert":
        keys, counts = result["ids"], {"insert_cnt": result["insert_count"]}
    else:
        keys, counts = _column_keys(request.fields_data, schema), {"upsert_cnt": result["upsert_count"]}
    written = next(iter(counts.values()))
    return milvus_pb2.MutationResult(
        status=ok(), IDs=columns.primary_keys(schema.primary, keys), succ_index=range(written), timestamp=hybrid_now(), **counts
    )


def _column_keys(fields: Sequence[schema_pb2.FieldData], schema: CollectionSchema) -> list[Any]:
    primary = schema.primary
    for field in fields:
        if field.field_name == primary.name:
            return list(field.scalars.string_data.data if primary.dtype is DataType.VARCHAR else field.scalars.long_data.data)
    raise DataError(f"upsert needs the primary key {primary.name!r} of every row", field=primary.name)


def _row_names(rows: Sequence[Mapping[str, Any]], schema: CollectionSchema, output: Sequence[str]) -> list[str]:
    """The keys the reply's columns cover: those of the rows, or for no rows the fields asked for."""
    if rows:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        return list(seen)
    if not output or "*" in output:
        return [field.name for field in schema.fields if not field.dtype.is_vector or "*" in output] or [schema.primary.name]
    return [schema.primary.name, *[name for name in output if schema.has_field(name)]]


def _reply_output_fields(fields: Sequence[schema_pb2.FieldData], output: Sequence[str], schema: CollectionSchema) -> list[str]:
    """``output_fields`` as Milvus answers them: the columns sent, and ``$meta`` when every dynamic key is wanted."""
    names = [field.field_name for field in fields if not field.is_dynamic]
    dynamic = [name for name in output if not schema.has_field(name) and name != "*"]
    if any(field.is_dynamic for field in fields):
        names.extend(dynamic if dynamic and "*" not in output else ["$meta"])
    return names


def _search_result(hits: Sequence[Sequence[Mapping[str, Any]]], schema: CollectionSchema, output: Sequence[str], limit: int, decimals: int) -> schema_pb2.SearchResultData:
    result = schema_pb2.SearchResultData(num_queries=len(hits), top_k=limit, primary_field_name=schema.primary.name)
    flat = [hit for query in hits for hit in query]
    result.topks.extend(len(query) for query in hits)
    distances = [float(hit["distance"]) for hit in flat]
    if decimals >= 0:
        distances = [round(d, decimals) for d in distances]
    result.scores.extend(distances)
    result.ids.CopyFrom(columns.primary_keys(schema.primary, [hit["id"] for hit in flat]))
    if output:
        primary = schema.primary.name
        # As in Milvus, the primary key is a column when output_fields names it or "*"
        # (the Node SDK reads a hit's id only from the columns, pymilvus from result.ids).
        with_key = primary in output or "*" in output
        entities = [{primary: hit["id"], **hit.get("entity", {})} if with_key else hit.get("entity", {}) for hit in flat]
        names = _row_names(entities, schema, output) if entities else [n for n in output if schema.has_field(n)]
        names = [name for name in names if name != primary or with_key]
        result.fields_data.extend(columns.row_columns(entities, schema, names))
        result.output_fields.extend(_reply_output_fields(result.fields_data, output, schema))
    return result


def _index_description(found: Mapping[str, Any], index_id: int) -> milvus_pb2.IndexDescription:
    params = {"index_type": found["index_type"], "metric_type": found["metric_type"], "params": json.dumps(found.get("params", {}))}
    params.update({key: value if isinstance(value, str) else json.dumps(value) for key, value in found.get("properties", {}).items()})
    return milvus_pb2.IndexDescription(
        index_name=found["index_name"],
        indexID=index_id,
        field_name=found["field_name"],
        params=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in params.items()],
        state=_INDEX_STATES.get(found.get("state", "Finished"), common_pb2.InProgress),
        indexed_rows=int(found.get("indexed_rows", 0)),
        total_rows=int(found.get("total_rows", 0)),
        pending_index_rows=int(found.get("pending_index_rows", 0)),
        index_state_fail_reason="; ".join(str(f) for f in found.get("failures", [])),
    )


def _search_request(request: Any) -> tuple[dict[str, str], dict[str, Any], list[Any]]:
    """A search's parameters (as sent), its search params (pymilvus's nested form) and its query vectors or texts."""
    params = pairs(request.search_params)
    milvus_rules.refuse_time_fields(params.get("time_fields"))
    inner = json_value(params.get("params", "{}")) or {}
    if not isinstance(inner, dict):
        raise InvalidArgumentError(f"search params must be a JSON object, got {params.get('params')!r}")
    search_params: dict[str, Any] = dict(inner)
    if params.get("metric_type"):
        search_params = {"metric_type": params["metric_type"], "params": inner}
    if request.HasField("ids") or request.search_by_primary_keys:
        raise InvalidArgumentError("searching by primary keys is not supported yet; send query vectors")
    queries = columns.query_vectors(request.placeholder_group)
    if request.nq and request.nq != len(queries):
        raise InvalidArgumentError(f"nq is {request.nq} but {len(queries)} query vectors were sent", argument="nq")
    return params, search_params, queries
