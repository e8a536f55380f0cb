"""The Milvus RPCs that manage the server, databases, collections, partitions and aliases."""

from __future__ import annotations

from typing import Any

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2, schema_pb2

from embedb import __version__
from embedb.contract import Role, milvus_rules
from embedb.databases import DEFAULT_DATABASE
from embedb.errors import CollectionNotFoundError, InvalidArgumentError, PermissionDeniedError
from embedb.schema import CollectionSchema
from embedb.server.milvus.plumbing import Call, RpcBase, hybrid_now, json_value
from embedb.server.milvus.schemas import schema_from_proto, schema_to_proto
from embedb.server.milvus.status import ok

_COUNT = "count(*)"


class AdminRpcs(RpcBase):
    """Connect, versions and health; databases; collections (load state, flush, compaction); partitions; aliases."""

    # ---------------------------------------------------------- the server

    def Connect(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            info = common_pb2.ServerInfo(build_tags=f"embedb-{__version__}", deploy_mode="EMBEDB", reserved={"engine": "embedb"})
            return milvus_pb2.ConnectResponse(status=ok(), server_info=info, identifier=1)

        return self._serve(request, context, milvus_pb2.ConnectResponse, work)

    def GetVersion(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._serve(request, context, milvus_pb2.GetVersionResponse, lambda _: milvus_pb2.GetVersionResponse(status=ok(), version=f"embedb-{__version__}"))

    def CheckHealth(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._serve(request, context, milvus_pb2.CheckHealthResponse, lambda _: milvus_pb2.CheckHealthResponse(status=ok(), isHealthy=True))

    def AllocTimestamp(self, request: Any, context: grpc.ServicerContext) -> Any:
        # A Milvus hybrid timestamp: milliseconds since the epoch, shifted past 18 logical bits.
        return self._serve(request, context, milvus_pb2.AllocTimestampResponse, lambda _: milvus_pb2.AllocTimestampResponse(status=ok(), timestamp=hybrid_now()))

    # -------------------------------------------------------- databases
    # A database is a data directory beside the default one (embedb.databases); managing them needs a global admin.

    def _database_admin(self, call: Call) -> None:
        if call.principal.role < Role.ADMIN or call.principal.collections is not None:
            raise PermissionDeniedError(f"token {call.principal.token_id}: databases are managed with a global admin token")

    def CreateDatabase(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            self._database_admin(call)
            self._databases.create(request.db_name, {pair.key: pair.value for pair in request.properties})

        # These name their database in the request: as a call, they address the default one.
        return self._status(request, context, work, database=DEFAULT_DATABASE)

    def DropDatabase(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            self._database_admin(call)
            self._databases.drop(request.db_name)

        return self._status(request, context, work, database=DEFAULT_DATABASE)

    def DescribeDatabase(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            if request.db_name not in ("", DEFAULT_DATABASE) and call.principal.collections is not None:
                raise PermissionDeniedError(f"token {call.principal.token_id} is limited to collections of the default database")
            properties = self._databases.properties(request.db_name)
            return milvus_pb2.DescribeDatabaseResponse(
                status=ok(),
                db_name=request.db_name or DEFAULT_DATABASE,
                properties=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in properties.items()],
            )

        return self._serve(request, context, milvus_pb2.DescribeDatabaseResponse, work, database=DEFAULT_DATABASE)

    def AlterDatabase(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            self._database_admin(call)
            changes = {pair.key: pair.value for pair in request.properties}
            self._databases.alter_properties(request.db_name, changes, list(request.delete_keys))

        return self._status(request, context, work, database=DEFAULT_DATABASE)

    def ListDatabases(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            names = self._databases.names() if call.principal.collections is None else [DEFAULT_DATABASE]
            return milvus_pb2.ListDatabasesResponse(status=ok(), db_names=names)

        return self._serve(request, context, milvus_pb2.ListDatabasesResponse, work, database=DEFAULT_DATABASE)

    # ------------------------------------------------------ collections

    def CreateCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            schema = schema_from_proto(request.schema)
            properties = {pair.key: pair.value for pair in request.properties} or None
            call.run(
                "create_collection",
                collection_name=request.collection_name,
                schema=schema,
                properties=properties,
                num_shards=request.shards_num if request.shards_num > 0 else None,  # 0 or less: Milvus's default
            )

        return self._status(request, context, work)

    def HasCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            found = call.run("has_collection", collection_name=request.collection_name)
            return milvus_pb2.BoolResponse(status=ok(), value=found)

        return self._serve(request, context, milvus_pb2.BoolResponse, work)

    def DescribeCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            d = call.run("describe_collection", collection_name=request.collection_name)
            schema = CollectionSchema.from_dict(
                {"fields": d["fields"], "enable_dynamic_field": d["enable_dynamic_field"], "functions": d.get("functions", [])}
            )
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
                shards_num=int(d.get("num_shards", 1)),
                num_partitions=int(d.get("num_partitions", 1)),
                consistency_level=common_pb2.Strong,
                db_name=request.db_name or DEFAULT_DATABASE,
                properties=[common_pb2.KeyValuePair(key=k, value=str(v)) for k, v in d.get("properties", {}).items()],
            )

        return self._serve(request, context, milvus_pb2.DescribeCollectionResponse, work)

    def ShowCollections(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            names = call.principal.visible(call.run("list_collections"))
            return milvus_pb2.ShowCollectionsResponse(status=ok(), collection_names=names)

        return self._serve(request, context, milvus_pb2.ShowCollectionsResponse, work)

    def DropCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            arguments = {"collection_name": request.collection_name}
            call.authorize("drop_collection", arguments)
            milvus_rules.drop_collection(call.backend, **arguments)

        return self._status(request, context, work)

    def TruncateCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            call.run("truncate_collection", collection_name=request.collection_name)
            return milvus_pb2.TruncateCollectionResponse(status=ok())

        return self._serve(request, context, milvus_pb2.TruncateCollectionResponse, work)

    def RenameCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            if request.newDBName not in ("", request.db_name or DEFAULT_DATABASE):
                raise InvalidArgumentError("renaming a collection into another database is not supported", argument="newDBName")
            arguments = {"old_name": request.oldName, "new_name": request.newName}
            call.run("rename_collection", **arguments)

        return self._status(request, context, work)

    def AlterCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            # pymilvus sends each value as text (JSON for dicts); they are stored as sent.
            if request.properties:
                properties = {pair.key: pair.value for pair in request.properties}
                call.run("alter_collection_properties", collection_name=request.collection_name, properties=properties)
            if request.delete_keys:
                call.run("drop_collection_properties", collection_name=request.collection_name, property_keys=list(request.delete_keys))

        return self._status(request, context, work)

    def AlterCollectionField(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            if request.delete_keys:
                raise InvalidArgumentError("a field's parameters cannot be removed, only changed", argument="delete_keys")
            params = {pair.key: json_value(pair.value) for pair in request.properties}
            call.run("alter_collection_field", collection_name=request.collection_name, field_name=request.field_name, field_params=params)

        return self._status(request, context, work)

    def GetCollectionStatistics(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            stats = call.run("get_collection_stats", collection_name=request.collection_name)
            pairs = [common_pb2.KeyValuePair(key="row_count", value=str(stats["row_count"]))]
            return milvus_pb2.GetCollectionStatisticsResponse(status=ok(), stats=pairs)

        return self._serve(request, context, milvus_pb2.GetCollectionStatisticsResponse, work)

    def LoadCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(request, context, lambda c: c.run("load_collection", collection_name=request.collection_name))

    def ReleaseCollection(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(request, context, lambda c: c.run("release_collection", collection_name=request.collection_name))

    def GetReplicas(self, request: Any, context: grpc.ServicerContext) -> Any:
        """One process serves everything: one replica, one shard, on node 1."""

        def work(call: Call) -> Any:
            name = request.collection_name
            if not name:  # pymilvus asks by collection id
                names = call.principal.visible(call.run("list_collections"))
                name = next((n for n in names if call.backend.describe_collection(n)["collection_id"] == request.collectionID), "")
                if not name:
                    raise CollectionNotFoundError(f"no collection has id {request.collectionID}")
            described = call.run("describe_collection", collection_name=name)
            shard = milvus_pb2.ShardReplica(leaderID=1, dm_channel_name=f"{described['collection_name']}-dml_0", node_ids=[1])
            replica = milvus_pb2.ReplicaInfo(
                replicaID=1,
                collectionID=int(described["collection_id"]),
                partition_ids=list(range(int(described.get("num_partitions", 1)))),
                shard_replicas=[shard],
                node_ids=[1],
                resource_group_name="__default_resource_group",
            )
            return milvus_pb2.GetReplicasResponse(status=ok(), replicas=[replica])

        return self._serve(request, context, milvus_pb2.GetReplicasResponse, work)

    def GetLoadState(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            # pymilvus asks about one partition at a time (or none: the collection).
            partition = request.partition_names[0] if request.partition_names else None
            found = call.run("get_load_state", collection_name=request.collection_name, partition_name=partition)
            state = common_pb2.LoadStateLoaded if found["state"] == "Loaded" else common_pb2.LoadStateNotLoad
            return milvus_pb2.GetLoadStateResponse(status=ok(), state=state)

        return self._serve(request, context, milvus_pb2.GetLoadStateResponse, work)

    def GetLoadingProgress(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            found = call.run("get_load_state", collection_name=request.collection_name)
            progress = 100 if found["state"] == "Loaded" else 0
            return milvus_pb2.GetLoadingProgressResponse(status=ok(), progress=progress, refresh_progress=progress)

        return self._serve(request, context, milvus_pb2.GetLoadingProgressResponse, work)

    def Flush(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            reply = milvus_pb2.FlushResponse(status=ok(), db_name=request.db_name or DEFAULT_DATABASE)
            for name in request.collection_names:
                call.run("flush", collection_name=name)
                reply.coll_segIDs[name].CopyFrom(schema_pb2.LongArray())
                reply.flush_coll_segIDs[name].CopyFrom(schema_pb2.LongArray())
                reply.coll_flush_ts[name] = 1
            return reply

        return self._serve(request, context, milvus_pb2.FlushResponse, work)

    def GetFlushState(self, request: Any, context: grpc.ServicerContext) -> Any:
        # flush returns once the rows are in segment files: every flush is over.
        return self._serve(request, context, milvus_pb2.GetFlushStateResponse, lambda _: milvus_pb2.GetFlushStateResponse(status=ok(), flushed=True))

    def ManualCompaction(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            call.run("compact", collection_name=request.collection_name)
            job = next(self._next_compaction)
            self._compactions[job] = request.collection_name
            return milvus_pb2.ManualCompactionResponse(status=ok(), compactionID=job, compactionPlanCount=1)

        return self._serve(request, context, milvus_pb2.ManualCompactionResponse, work)

    def GetCompactionState(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            if request.compactionID not in self._compactions:
                raise InvalidArgumentError(f"no compaction {request.compactionID} was started on this server", argument="compaction_id")
            # compact returns once the segments are merged.
            return milvus_pb2.GetCompactionStateResponse(status=ok(), state=common_pb2.Completed, completedPlanNo=1)

        return self._serve(request, context, milvus_pb2.GetCompactionStateResponse, work)

    # ------------------------------------------------------- partitions

    def CreatePartition(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(
            request, context, lambda c: c.run("create_partition", collection_name=request.collection_name, partition_name=request.partition_name)
        )

    def DropPartition(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            arguments = {"collection_name": request.collection_name, "partition_name": request.partition_name}
            call.authorize("drop_partition", arguments)
            milvus_rules.refuse_dropping_loaded_partition(call.backend, **arguments)
            call.backend.drop_partition(**arguments)

        return self._status(request, context, work)

    def HasPartition(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            found = call.run("has_partition", collection_name=request.collection_name, partition_name=request.partition_name)
            return milvus_pb2.BoolResponse(status=ok(), value=found)

        return self._serve(request, context, milvus_pb2.BoolResponse, work)

    def GetPartitionStatistics(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            arguments = {"collection_name": request.collection_name, "filter": "", "output_fields": [_COUNT], "partition_names": [request.partition_name]}
            rows = call.run("query", **arguments)
            pairs = [common_pb2.KeyValuePair(key="row_count", value=str(rows[0][_COUNT] if rows else 0))]
            return milvus_pb2.GetPartitionStatisticsResponse(status=ok(), stats=pairs)

        return self._serve(request, context, milvus_pb2.GetPartitionStatisticsResponse, work)

    def ShowPartitions(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            names = call.run("list_partitions", collection_name=request.collection_name)
            return milvus_pb2.ShowPartitionsResponse(status=ok(), partition_names=names, partitionIDs=list(range(1, len(names) + 1)))

        return self._serve(request, context, milvus_pb2.ShowPartitionsResponse, work)

    def LoadPartitions(self, request: Any, context: grpc.ServicerContext) -> Any:
        arguments = {"collection_name": request.collection_name, "partition_names": list(request.partition_names)}
        return self._status(request, context, lambda c: c.run("load_partitions", **arguments))

    def ReleasePartitions(self, request: Any, context: grpc.ServicerContext) -> Any:
        arguments = {"collection_name": request.collection_name, "partition_names": list(request.partition_names)}
        return self._status(request, context, lambda c: c.run("release_partitions", **arguments))

    # ---------------------------------------------------------- aliases

    def CreateAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(request, context, lambda c: c.run("create_alias", collection_name=request.collection_name, alias=request.alias))

    def AlterAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._status(request, context, lambda c: c.run("alter_alias", collection_name=request.collection_name, alias=request.alias))

    def DropAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> None:
            call.authorize("drop_alias", {"alias": request.alias})
            milvus_rules.drop_alias(call.backend, request.alias)

        return self._status(request, context, work)

    def DescribeAlias(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            found = call.run("describe_alias", alias=request.alias)
            return milvus_pb2.DescribeAliasResponse(status=ok(), db_name=request.db_name or DEFAULT_DATABASE, alias=found["alias"], collection=found["collection_name"])

        return self._serve(request, context, milvus_pb2.DescribeAliasResponse, work)

    def ListAliases(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(call: Call) -> Any:
            found = call.run("list_aliases", collection_name=request.collection_name or None)
            return milvus_pb2.ListAliasesResponse(
                status=ok(), db_name=DEFAULT_DATABASE, collection_name=request.collection_name, aliases=list(found["aliases"])
            )

        return self._serve(request, context, milvus_pb2.ListAliasesResponse, work)
