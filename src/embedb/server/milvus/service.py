"""``milvus.proto.milvus.MilvusService`` over a ``Backend``: each RPC a thin call of one contract operation.

A handler reads the request message, checks the caller's token and role as
the REST server does (the same ``TokenStore``, ``Authorizer`` and operation
table), calls the backend and writes the reply message. Failures are answered
in the reply's ``status`` (``embedb.server.milvus.status``), as a Milvus server
does. RPCs EmbeDB has no counterpart for are left to the generated base class,
which answers gRPC ``UNIMPLEMENTED``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2

from embedb import __version__
from embedb.contract import Backend
from embedb.contract.milvus_rules import refuse_dropping_loaded_partition
from embedb.errors import DataError, EmbedbError, InvalidArgumentError, NotFoundError, UnauthenticatedError
from embedb.protocol import operation
from embedb.schema import CollectionSchema, DataType
from embedb.server.auth import Authorizer, Principal, TokenStore, attribute_actor
from embedb.server.milvus import columns
from embedb.server.milvus.schemas import schema_from_proto, schema_to_proto
from embedb.server.milvus.status import error_status, ok

log = logging.getLogger("embedb.server")

Reply = TypeVar("Reply")
DEFAULT_DATABASE = "default"
_INDEX_STATES = {"Finished": common_pb2.Finished, "InProgress": common_pb2.InProgress, "Failed": common_pb2.Failed}
_COUNT = "count(*)"


class DatabaseNotFoundError(NotFoundError):
    """A database other than ``default`` (EmbeDB has one database per data directory)."""

    wire_name = "database_not_found"


def _pairs(pairs: Sequence[common_pb2.KeyValuePair]) -> dict[str, str]:
    return {pair.key: pair.value for pair in pairs}


def _json_value(text: str) -> Any:
    """A value pymilvus sent as text: JSON (numbers, objects, lists) or, failing that, the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _flag(text: str | None) -> bool | None:
    """pymilvus sends booleans as ``str(value)``: ``"True"`` / ``"False"``."""
    if text is None:
        return None
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0", ""):
        return False
    raise InvalidArgumentError(f"expected a boolean, got {text!r}")


def _integer(params: dict[str, str], key: str, default: int | None) -> int | None:
    text = params.get(key)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"{key} must be an integer, got {text!r}", argument=key) from None


class MilvusService(milvus_pb2_grpc.MilvusServiceServicer):
    """The Milvus gRPC service of ``embedb serve --milvus-port``."""

    def __init__(self, backend: Backend, tokens: TokenStore | None) -> None:
        self._backend = backend
        self._tokens = tokens
        self._authorizer = Authorizer(backend)
        self._compactions: dict[int, str] = {}
        self._next_compaction = itertools.count(int(time.time() * 1000) << 8)

    # ------------------------------------------------------------ plumbing

    def _principal(self, context: grpc.ServicerContext) -> Principal:
        """The caller, from the ``authorization`` metadata pymilvus and the Node SDK send (base64 of the token)."""
        metadata = dict(context.invocation_metadata())
        database = metadata.get("dbname")
        if isinstance(database, str) and database not in ("", DEFAULT_DATABASE):
            raise DatabaseNotFoundError(f"database {database!r} not found; EmbeDB serves the database {DEFAULT_DATABASE!r}")
        if self._tokens is None:
            return Principal.open_access()
        header = metadata.get("authorization")
        if not isinstance(header, str) or not header:
            raise UnauthenticatedError("this server needs an API token: MilvusClient(uri, token='edb_...')")
        try:
            token = base64.b64decode(header, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UnauthenticatedError("the authorization metadata is not base64 of a token") from None
        # user:password credentials carry the token as the password (the user names nobody).
        user, colon, password = token.partition(":")
        return self._tokens.authenticate(f"Bearer {password if colon else user}")

    def _authorize(self, principal: Principal, method: str, arguments: dict[str, Any]) -> None:
        spec = operation(method)
        self._authorizer.check(principal, spec, arguments)
        attribute_actor(principal, spec, arguments)

    def _call(self, principal: Principal, method: str, **arguments: Any) -> Any:
        """Authorize and run one contract operation."""
        self._authorize(principal, method, arguments)
        return getattr(self._backend, method)(**arguments)

    def _schema(self, collection_name: str) -> CollectionSchema:
        """A collection's schema (call only after the caller was authorized for it)."""
        description = self._backend.describe_collection(collection_name)
        return CollectionSchema.from_dict(
            {"fields": description["fields"], "enable_dynamic_field": description["enable_dynamic_field"]}
        )

    def _serve(self, context: grpc.ServicerContext, reply_type: type[Reply], work: Callable[[Principal], Reply]) -> Reply:
        """Run ``work`` for the authenticated caller; any failure becomes the reply's status."""
        try:
            return work(self._principal(context))
        except Exception as error:
            if not isinstance(error, EmbedbError):
                log.exception("Milvus gRPC call failed")
            status = error_status(error)
            if reply_type is common_pb2.Status:
                return status
            return reply_type(status=status)  # type: ignore[call-arg]

    def _status(self, context: grpc.ServicerContext, work: Callable[[Principal], object]) -> common_pb2.Status:
        """For RPCs whose reply is a bare ``Status``."""

        def run(principal: Principal) -> common_pb2.Status:
            work(principal)
            return ok()

        return self._serve(context, common_pb2.Status, run)

    # ---------------------------------------------------------- the server

    def Connect(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            info = common_pb2.ServerInfo(build_tags=f"embedb-{__version__}", deploy_mode="EMBEDB", reserved={"engine": "embedb"})
            return milvus_pb2.ConnectResponse(status=ok(), server_info=info, identifier=1)

        return self._serve(context, milvus_pb2.ConnectResponse, work)

    def GetVersion(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._serve(context, milvus_pb2.GetVersionResponse, lambda _: milvus_pb2.GetVersionResponse(status=ok(), version=f"embedb-{__version__}"))

    def CheckHealth(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._serve(context, milvus_pb2.CheckHealthResponse, lambda _: milvus_pb2.CheckHealthResponse(status=ok(), isHealthy=True))

    def AllocTimestamp(self, request: Any, context: grpc.ServicerContext) -> Any:
        # A Milvus hybrid timestamp: milliseconds since the epoch, shifted past 18 logical bits.
        return self._serve(context, milvus_pb2.AllocTimestampResponse, lambda _: milvus_pb2.AllocTimestampResponse(status=ok(), timestamp=_hybrid_now()))

    def DescribeDatabase(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            if request.db_name not in ("", DEFAULT_DATABASE):
                raise DatabaseNotFoundError(f"database {request.db_name!r} not found")
            return milvus_pb2.DescribeDatabaseResponse(status=ok(), db_name=DEFAULT_DATABASE, dbID=1)

        return self._serve(context, milvus_pb2.DescribeDatabaseResponse, work)

    def ListDatabases(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._serve(context, milvus_pb2.ListDatabasesResponse, lambda _: milvus_pb2.ListDatabasesResponse(status=ok(), db_names=[DEFAULT_DATABASE]))

    # ------------------------------------------------------ collections

    def CreateCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> None:
            if request.db_name not in ("", DEFAULT_DATABASE):
                raise DatabaseNotFoundError(f"database {request.db_name!r} not found")
            schema = schema_from_proto(request.schema)
            self._call(principal, "create_collection", collection_name=request.collection_name, schema=schema)

        return self._status(context, work)

    def HasCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            found = self._call(principal, "has_collection", collection_name=request.collection_name)
            return milvus_pb2.BoolResponse(status=ok(), value=found)

        return self._serve(context, milvus_pb2.BoolResponse, work)

    def DescribeCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            d = self._call(principal, "describe_collection", collection_name=request.collection_name)
            schema = CollectionSchema.from_dict({"fields": d["fields"], "enable_dynamic_field": d["enable_dynamic_field"]})
            message = schema_to_proto(d["collection_name"], schema)
            message.description = d.get("description", "")
            created_ms = int(d.get("created_at", 0) * 1000)
            return milvus_pb2.DescribeCollectionResponse(
                status=ok(),
                schema=message,
                collectionID=int(d["collection_id"]),
                collection_name=d["collection_name"],
                aliases=list(d.get("aliases", [])),
                created_timestamp=created_ms << 18,
                created_utc_timestamp=created_ms,
                shards_num=1,
                num_partitions=int(d.get("num_partitions", 1)),
                consistency_level=common_pb2.Strong,
                db_name=DEFAULT_DATABASE,
                properties=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in d.get("properties", {}).items()],
            )

        return self._serve(context, milvus_pb2.DescribeCollectionResponse, work)

    def ShowCollections(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            names = principal.visible(self._call(principal, "list_collections"))
            return milvus_pb2.ShowCollectionsResponse(status=ok(), collection_names=names)

        return self._serve(context, milvus_pb2.ShowCollectionsResponse, work)

    def DropCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(context, lambda p: self._call(p, "drop_collection", collection_name=request.collection_name))

    def RenameCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> None:
            arguments = {"old_name": request.oldName, "new_name": request.newName}
            self._call(principal, "rename_collection", **arguments)

        return self._status(context, work)

    def GetCollectionStatistics(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            stats = self._call(principal, "get_collection_stats", collection_name=request.collection_name)
            pairs = [common_pb2.KeyValuePair(key="row_count", value=str(stats["row_count"]))]
            return milvus_pb2.GetCollectionStatisticsResponse(status=ok(), stats=pairs)

        return self._serve(context, milvus_pb2.GetCollectionStatisticsResponse, work)

    def LoadCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(context, lambda p: self._call(p, "load_collection", collection_name=request.collection_name))

    def ReleaseCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(context, lambda p: self._call(p, "release_collection", collection_name=request.collection_name))

    def GetLoadState(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            # pymilvus asks about one partition at a time (or none: the collection).
            partition = request.partition_names[0] if request.partition_names else None
            found = self._call(principal, "get_load_state", collection_name=request.collection_name, partition_name=partition)
            state = common_pb2.LoadStateLoaded if found["state"] == "Loaded" else common_pb2.LoadStateNotLoad
            return milvus_pb2.GetLoadStateResponse(status=ok(), state=state)

        return self._serve(context, milvus_pb2.GetLoadStateResponse, work)

    def GetLoadingProgress(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            found = self._call(principal, "get_load_state", collection_name=request.collection_name)
            progress = 100 if found["state"] == "Loaded" else 0
            return milvus_pb2.GetLoadingProgressResponse(status=ok(), progress=progress, refresh_progress=progress)

        return self._serve(context, milvus_pb2.GetLoadingProgressResponse, work)

    def Flush(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            reply = milvus_pb2.FlushResponse(status=ok(), db_name=DEFAULT_DATABASE)
            for name in request.collection_names:
                self._call(principal, "flush", collection_name=name)
                reply.coll_segIDs[name].CopyFrom(schema_pb2.LongArray())
                reply.flush_coll_segIDs[name].CopyFrom(schema_pb2.LongArray())
                reply.coll_flush_ts[name] = 1
            return reply

        return self._serve(context, milvus_pb2.FlushResponse, work)

    def GetFlushState(self, request: Any, context: grpc.ServicerContext) -> Any:
        # flush returns once the rows are in segment files: every flush is over.
        return self._serve(context, milvus_pb2.GetFlushStateResponse, lambda _: milvus_pb2.GetFlushStateResponse(status=ok(), flushed=True))

    def ManualCompaction(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            self._call(principal, "compact", collection_name=request.collection_name)
            job = next(self._next_compaction)
            self._compactions[job] = request.collection_name
            return milvus_pb2.ManualCompactionResponse(status=ok(), compactionID=job, compactionPlanCount=1)

        return self._serve(context, milvus_pb2.ManualCompactionResponse, work)

    def GetCompactionState(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            if request.compactionID not in self._compactions:
                raise InvalidArgumentError(f"no compaction {request.compactionID} was started on this server", argument="compaction_id")
            # compact returns once the segments are merged.
            return milvus_pb2.GetCompactionStateResponse(status=ok(), state=common_pb2.Completed, completedPlanNo=1)

        return self._serve(context, milvus_pb2.GetCompactionStateResponse, work)

    # ------------------------------------------------------- partitions

    def CreatePartition(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(
            context, lambda p: self._call(p, "create_partition", collection_name=request.collection_name, partition_name=request.partition_name)
        )

    def DropPartition(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> None:
            arguments = {"collection_name": request.collection_name, "partition_name": request.partition_name}
            self._authorize(principal, "drop_partition", arguments)
            refuse_dropping_loaded_partition(self._backend, **arguments)
            self._backend.drop_partition(**arguments)

        return self._status(context, work)

    def HasPartition(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            found = self._call(principal, "has_partition", collection_name=request.collection_name, partition_name=request.partition_name)
            return milvus_pb2.BoolResponse(status=ok(), value=found)

        return self._serve(context, milvus_pb2.BoolResponse, work)

    def GetPartitionStatistics(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            arguments = {"collection_name": request.collection_name, "filter": "", "output_fields": [_COUNT], "partition_names": [request.partition_name]}
            rows = self._call(principal, "query", **arguments)
            pairs = [common_pb2.KeyValuePair(key="row_count", value=str(rows[0][_COUNT] if rows else 0))]
            return milvus_pb2.GetPartitionStatisticsResponse(status=ok(), stats=pairs)

        return self._serve(context, milvus_pb2.GetPartitionStatisticsResponse, work)

    def ShowPartitions(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            names = self._call(principal, "list_partitions", collection_name=request.collection_name)
            return milvus_pb2.ShowPartitionsResponse(status=ok(), partition_names=names, partitionIDs=list(range(1, len(names) + 1)))

        return self._serve(context, milvus_pb2.ShowPartitionsResponse, work)

    def LoadPartitions(self, request: Any, context: grpc.ServicerContext) -> Any:
        arguments = {"collection_name": request.collection_name, "partition_names": list(request.partition_names)}
        return self._status(context, lambda p: self._call(p, "load_partitions", **arguments))

    def ReleasePartitions(self, request: Any, context: grpc.ServicerContext) -> Any:
        arguments = {"collection_name": request.collection_name, "partition_names": list(request.partition_names)}
        return self._status(context, lambda p: self._call(p, "release_partitions", **arguments))

    # ---------------------------------------------------------- aliases

    def CreateAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(context, lambda p: self._call(p, "create_alias", collection_name=request.collection_name, alias=request.alias))

    def AlterAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(context, lambda p: self._call(p, "alter_alias", collection_name=request.collection_name, alias=request.alias))

    def DropAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(context, lambda p: self._call(p, "drop_alias", alias=request.alias))

    def DescribeAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            found = self._call(principal, "describe_alias", alias=request.alias)
            return milvus_pb2.DescribeAliasResponse(status=ok(), db_name=DEFAULT_DATABASE, alias=found["alias"], collection=found["collection_name"])

        return self._serve(context, milvus_pb2.DescribeAliasResponse, work)

    def ListAliases(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            found = self._call(principal, "list_aliases", collection_name=request.collection_name or None)
            return milvus_pb2.ListAliasesResponse(
                status=ok(), db_name=DEFAULT_DATABASE, collection_name=request.collection_name, aliases=list(found["aliases"])
            )

        return self._serve(context, milvus_pb2.ListAliasesResponse, work)

    # ------------------------------------------------------------- data

    def Insert(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            arguments = {"collection_name": request.collection_name, "partition_name": request.partition_name or None}
            self._authorize(principal, "insert", arguments)
            schema = self._schema(request.collection_name)
            data = columns.columns_from_fields(request.fields_data, request.num_rows, schema)
            result = self._backend.insert(data=data, **arguments)
            return milvus_pb2.MutationResult(
                status=ok(),
                IDs=columns.primary_keys(schema.primary, result["ids"]),
                insert_cnt=result["insert_count"],
                succ_index=range(result["insert_count"]),
                timestamp=_hybrid_now(),
            )

        return self._serve(context, milvus_pb2.MutationResult, work)

    def Upsert(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            if request.partial_update:
                raise InvalidArgumentError("partial updates (upsert(..., partial_update=True)) are not supported yet")
            arguments = {"collection_name": request.collection_name, "partition_name": request.partition_name or None}
            self._authorize(principal, "upsert", arguments)
            schema = self._schema(request.collection_name)
            data = columns.columns_from_fields(request.fields_data, request.num_rows, schema)
            result = self._backend.upsert(data=data, **arguments)
            keys = _column_keys(request.fields_data, schema)
            return milvus_pb2.MutationResult(
                status=ok(),
                IDs=columns.primary_keys(schema.primary, keys),
                upsert_cnt=result["upsert_count"],
                succ_index=range(result["upsert_count"]),
                timestamp=_hybrid_now(),
            )

        return self._serve(context, milvus_pb2.MutationResult, work)

    def Delete(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            if not request.expr:
                raise InvalidArgumentError("delete needs a filter expression (pymilvus builds one from ids)", argument="expr")
            result = self._call(
                principal,
                "delete",
                collection_name=request.collection_name,
                filter=_with_templates(request.expr, request.expr_template_values),
                partition_name=request.partition_name or None,
            )
            return milvus_pb2.MutationResult(status=ok(), delete_cnt=result["delete_count"], timestamp=_hybrid_now())

        return self._serve(context, milvus_pb2.MutationResult, work)

    def Query(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            params = _pairs(request.query_params)
            # Without output fields Milvus answers every field (EmbeDB's own API: keys only).
            output = list(request.output_fields) or ["*"]
            arguments = {
                "collection_name": request.collection_name,
                "filter": request.expr,
                "output_fields": output,
                "limit": _integer(params, "limit", None),
                "offset": _integer(params, "offset", 0),
                "partition_names": list(request.partition_names) or None,
                "filter_params": columns.template_values(request.expr_template_values) or None,
            }
            self._authorize(principal, "query", arguments)
            schema = self._schema(request.collection_name)
            rows = self._backend.query(**arguments)
            reply = milvus_pb2.QueryResults(status=ok(), collection_name=request.collection_name, primary_field_name=schema.primary.name)
            if [name.strip().lower() for name in output] == [_COUNT]:
                count = rows[0][_COUNT] if rows else 0
                reply.fields_data.append(schema_pb2.FieldData(type=int(DataType.INT64), field_name=_COUNT, scalars={"long_data": {"data": [count]}}))
                reply.output_fields.append(_COUNT)
                return reply
            names = _row_names(rows, schema, output)
            reply.fields_data.extend(columns.row_columns(rows, schema, names))
            reply.output_fields.extend(_reply_output_fields(reply.fields_data, output, schema))
            return reply

        return self._serve(context, milvus_pb2.QueryResults, work)

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            if request.sub_reqs or request.function_score.functions:
                raise InvalidArgumentError("rankers and function scores are not supported yet")
            params = _pairs(request.search_params)
            inner = _json_value(params.get("params", "{}")) or {}
            if not isinstance(inner, dict):
                raise InvalidArgumentError(f"search params must be a JSON object, got {params.get('params')!r}")
            search_params: dict[str, Any] = dict(inner)
            if params.get("metric_type"):
                search_params = {"metric_type": params["metric_type"], "params": inner}
            if request.HasField("ids") or request.search_by_primary_keys:
                raise InvalidArgumentError("searching by primary keys is not supported yet; send query vectors")
            output = list(request.output_fields)
            limit = _integer(params, "topk", 10)
            arguments = {
                "collection_name": request.collection_name,
                "data": columns.query_vectors(request.placeholder_group),
                "filter": request.dsl,
                "limit": limit,
                "offset": _integer(params, "offset", 0),
                "output_fields": output or None,
                "search_params": search_params,
                "anns_field": params.get("anns_field") or None,
                "partition_names": list(request.partition_names) or None,
                "filter_params": columns.template_values(request.expr_template_values) or None,
                "group_by_field": params.get("group_by_field") or None,
                "group_size": _integer(params, "group_size", None),
                "strict_group_size": _flag(params.get("strict_group_size")),
            }
            self._authorize(principal, "search", arguments)
            schema = self._schema(request.collection_name)
            hits = self._backend.search(**arguments)
            decimals = _integer(params, "round_decimal", -1)
            return milvus_pb2.SearchResults(
                status=ok(),
                collection_name=request.collection_name,
                results=_search_result(hits, schema, output, limit or 0, -1 if decimals is None else decimals),
            )

        return self._serve(context, milvus_pb2.SearchResults, work)

    # ---------------------------------------------------------- indexes

    def CreateIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> None:
            extra = {key: _json_value(value) for key, value in _pairs(request.extra_params).items()}
            index_type = str(extra.pop("index_type", "") or "AUTOINDEX")
            metric = extra.pop("metric_type", None)
            params = extra.pop("params", None) or {}
            if not isinstance(params, dict):
                raise InvalidArgumentError(f"index params must be a JSON object, got {params!r}")
            params = {**extra, **params}
            # pymilvus waits for the build itself (describe_index until Finished).
            self._call(
                principal,
                "create_index",
                collection_name=request.collection_name,
                field_name=request.field_name,
                index_type=index_type,
                metric_type=str(metric) if metric else None,
                params=params or None,
                index_name=request.index_name or None,
                sync=False,
            )

        return self._status(context, work)

    def DescribeIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> Any:
            names = self._call(principal, "list_indexes", collection_name=request.collection_name, field_name=request.field_name or None)
            if request.index_name:
                names = [name for name in names if name == request.index_name]
            if not names:
                from embedb.errors import IndexNotFoundError

                wanted = request.index_name or request.field_name or "any"
                raise IndexNotFoundError(f"index {wanted!r} not found in {request.collection_name!r}")
            reply = milvus_pb2.DescribeIndexResponse(status=ok())
            for i, name in enumerate(names):
                reply.index_descriptions.append(_index_description(self._backend.describe_index(request.collection_name, name), i + 1))
            return reply

        return self._serve(context, milvus_pb2.DescribeIndexResponse, work)

    def DropIndex(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> None:
            name = request.index_name
            if not name:
                names = self._call(principal, "list_indexes", collection_name=request.collection_name, field_name=request.field_name or None)
                name = names[0] if names else request.field_name
            self._call(principal, "drop_index", collection_name=request.collection_name, index_name=name)

        return self._status(context, work)


def _hybrid_now() -> int:
    return time.time_ns() // 1_000_000 << 18


def _with_templates(expr: str, templates: Any) -> str:
    if templates:
        raise InvalidArgumentError("filter templates in delete are not supported yet; put the values in the expression")
    return expr


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
