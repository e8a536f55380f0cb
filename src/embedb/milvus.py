"""pymilvus compatibility: change ``from pymilvus import ...`` to ``from embedb.milvus import ...``.

``MilvusClient(uri)`` opens EmbeDB: a path (``"./milvus_demo.db"`` included —
that path becomes EmbeDB's data directory), ``":memory:"``, or an
``http://`` URI of ``embedb serve``. ``MilvusClient.create_schema()`` /
``add_field`` and ``prepare_index_params()`` / ``add_index`` build the same
objects pymilvus does. Keyword arguments that only steer a Milvus cluster
(``timeout``, ``consistency_level``, ``guarantee_timestamp``, ``graceful_time``,
``replica_number``, ...) are accepted and ignored; ``num_shards`` is kept (``create_collection``). docs/milvus-compatibility.md
lists every difference.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedb import __version__
from embedb.connection import connect
from embedb.contract import Backend, milvus_rules
from embedb.databases import DEFAULT_DATABASE, Databases
from embedb.errors import EmbedbError, InvalidArgumentError, SchemaError
from embedb.milvus_shapes import (
    AnnSearchRequest,
    FieldOp,
    FieldOpType,
    Function,
    FunctionType,
    Hit,
    IndexType,
    LoadState,
    RRFRanker,
    WeightedRanker,
    collection_description,
)
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType
from embedb.schema.functions import FunctionSchema

__all__ = [
    "AnnSearchRequest",
    "AsyncMilvusClient",
    "CollectionSchema",
    "DataType",
    "FieldOp",
    "FieldOpType",
    "FieldSchema",
    "Function",
    "FunctionType",
    "Hit",
    "IndexParams",
    "IndexType",
    "LoadState",
    "MetricType",
    "MilvusClient",
    "MilvusException",
    "MilvusSchema",
    "RRFRanker",
    "WeightedRanker",
]

# pymilvus code catches ``MilvusException``: every error EmbeDB raises on purpose is one.
MilvusException = EmbedbError

IGNORED_KWARGS = frozenset(
    {
        "timeout",
        "consistency_level",
        "guarantee_timestamp",
        "graceful_time",
        "num_shards",
        "num_partitions",
        "shards_num",
        "round_decimal",
        "using",
        "ignore_growing",
        "replica_number",
        "refresh",
        "_async",
        "_callback",
        "progress_bar",
    }
)


class MilvusSchema:
    """pymilvus's ``CollectionSchema`` builder: ``add_field`` returns the schema, as there."""

    def __init__(self, *, auto_id: bool = False, enable_dynamic_field: bool = False, description: str = "", **_: Any) -> None:
        self.auto_id = auto_id
        self.enable_dynamic_field = enable_dynamic_field
        self.description = description
        self.fields: list[FieldSchema] = []
        self.functions: list[FunctionSchema] = []

    def add_function(self, function: Function) -> MilvusSchema:
        """Add a function (``Function(..., function_type=FunctionType.BM25, ...)``); returns the schema."""
        self.functions.append(function.to_schema())
        return self

    def add_field(self, field_name: str, datatype: DataType | int | str, **kwargs: Any) -> MilvusSchema:
        """Add a field; options as in pymilvus (``is_primary``, ``max_length``, ``dim``, ``element_type``, ...)."""
        unknown = set(kwargs) - {
            "is_primary",
            "auto_id",
            "nullable",
            "default_value",
            "max_length",
            "element_type",
            "max_capacity",
            "dim",
            "description",
            "metric_type",
            "source",
            "model",
            "is_partition_key",
            "is_clustering_key",
            "enable_analyzer",
            "enable_tokenizer",  # the name pymilvus 2.5 betas used
            "analyzer_params",
            "enable_match",
            "mmap_enabled",
        }
        if unknown:
            raise SchemaError(f"add_field({field_name!r}): unknown options {sorted(unknown)}")
        element = kwargs.get("element_type")
        metric = kwargs.get("metric_type")
        is_primary = bool(kwargs.get("is_primary", False))
        self.fields.append(
            FieldSchema(
                name=field_name,
                dtype=DataType.parse(datatype),
                is_primary=is_primary,
                auto_id=bool(kwargs.get("auto_id", self.auto_id and is_primary)),
                nullable=bool(kwargs.get("nullable", False)),
                default_value=kwargs.get("default_value"),
                max_length=kwargs.get("max_length"),
                element_type=DataType.parse(element) if element is not None else None,
                max_capacity=kwargs.get("max_capacity"),
                dim=kwargs.get("dim"),
                metric_type=MetricType.parse(metric) if metric is not None else None,
                description=kwargs.get("description", "") or "",
                source=kwargs.get("source"),
                model=kwargs.get("model"),
                is_partition_key=bool(kwargs.get("is_partition_key", False)),
                is_clustering_key=bool(kwargs.get("is_clustering_key", False)),
                enable_analyzer=bool(kwargs.get("enable_analyzer", kwargs.get("enable_tokenizer", False))),
                analyzer_params=kwargs.get("analyzer_params"),
                enable_match=bool(kwargs.get("enable_match", False)),
            )
        )
        return self

    def to_schema(self) -> CollectionSchema:
        return CollectionSchema(
            tuple(self.fields),
            enable_dynamic_field=self.enable_dynamic_field,
            description=self.description,
            functions=tuple(self.functions),
        ).validate()


class IndexParams:
    """pymilvus's ``IndexParams``: a list of index definitions for ``create_index``."""

    def __init__(self) -> None:
        self.indexes: list[dict[str, Any]] = []

    def add_index(
        self, field_name: str, index_type: str | IndexType = "AUTOINDEX", index_name: str = "", *, metric_type: str | None = None, params: dict[str, Any] | None = None, **extra: Any
    ) -> None:
        self.indexes.append(
            {
                "field_name": field_name,
                "index_type": _index_type_name(index_type),
                "index_name": index_name or field_name,
                "metric_type": metric_type,
                "params": {**(params or {}), **extra},
            }
        )

    def __iter__(self) -> Any:
        return iter(self.indexes)

    def __len__(self) -> int:
        return len(self.indexes)


def _index_type_name(index_type: Any) -> Any:
    """An ``IndexType`` member as the name EmbeDB knows (IVFLAT is IVF_FLAT); text as given; nothing as AUTOINDEX."""
    if isinstance(index_type, IndexType):
        return "IVF_FLAT" if index_type is IndexType.IVFLAT else index_type.name
    return index_type or "AUTOINDEX"


def _keyword_names(method: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments ``method`` takes (None when it takes any); read once per function, not per call."""
    return _keywords_of(getattr(method, "__func__", method))


@functools.cache
def _keywords_of(function: Callable[..., Any]) -> frozenset[str] | None:
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY) and p.name != "self")


def _with_order_by(kwargs: dict[str, Any]) -> dict[str, Any]:
    """pymilvus's ``order_by_fields`` (``[{"field": "price", "order": "desc"}]`` or ``["price:desc"]``) as ``order_by``."""
    fields = kwargs.pop("order_by_fields", None)
    if fields is None:
        return kwargs
    if isinstance(fields, str):
        fields = fields.split(",")
    kwargs["order_by"] = [f"{f.get('field', '')}:{f.get('order', 'asc')}" if isinstance(f, dict) else f for f in fields]
    return kwargs


class MilvusClient:
    """An EmbeDB connection that accepts pymilvus ``MilvusClient`` calls unchanged."""

    def __init__(self, uri: str | os.PathLike[str] = ":memory:", user: str = "", password: str = "", db_name: str = "", token: str = "", **kwargs: Any) -> None:
        text = os.fspath(uri)
        if not text.startswith(("http://", "https://")) and text != ":memory:" and Path(text).is_file():
            raise InvalidArgumentError(
                f"{text} is a file (a Milvus Lite database?); EmbeDB needs a directory path. "
                "Export the data with pymilvus and insert it into EmbeDB."
            )
        remote = text.startswith(("http://", "https://"))
        if remote and (user or password):
            token = token or f"{user}:{password}"
        options = {k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS}
        if remote and db_name not in ("", DEFAULT_DATABASE):
            raise InvalidArgumentError(
                "databases are served over Milvus's gRPC protocol (embedb serve --milvus-port) and embedded, not over REST"
            )
        # Milvus Lite ignores credentials; so does an embedded EmbeDB.
        default = connect(text, token=(token or None) if remote else None, **options)
        folder = None if remote or text == ":memory:" else Path(text)
        self._databases = Databases(default, folder, lambda path: connect(os.fspath(path) if path else ":memory:", **options))
        self._remote = remote
        self._database = DEFAULT_DATABASE
        try:
            self.use_database(db_name or DEFAULT_DATABASE)
        except EmbedbError:
            self.close()
            raise
        self._compactions: dict[int, str] = {}  # job id -> collection, for get_compaction_state

    @staticmethod
    def create_schema(**kwargs: Any) -> MilvusSchema:
        return MilvusSchema(**kwargs)

    @staticmethod
    def prepare_index_params(field_name: str = "", **kwargs: Any) -> IndexParams:
        params = IndexParams()
        if field_name:
            params.add_index(field_name, **kwargs)
        return params

    @property
    def backend(self) -> Backend:
        """The EmbeDB client behind this object (of the database in use), for EmbeDB-only features."""
        return self._backend

    @property
    def _backend(self) -> Backend:
        return self._databases.get(self._database)

    # ---------------------------------------------------------- databases
    # A database is a data directory beside the default one (embedb.databases).

    def create_database(self, db_name: str, properties: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """An empty database; raises ``DatabaseAlreadyExistsError``."""
        self._local_databases()
        self._databases.create(db_name, properties)

    def drop_database(self, db_name: str, **kwargs: Any) -> None:
        """Drop an empty database (Milvus refuses one with collections: ``InvalidStateError``); a missing one is a no-op."""
        self._local_databases()
        if db_name == self._database:
            self._database = DEFAULT_DATABASE
        self._databases.drop(db_name)

    def list_databases(self, **kwargs: Any) -> list[str]:
        return self._databases.names()

    def describe_database(self, db_name: str = "", **kwargs: Any) -> dict[str, Any]:
        """``{"name": ..., **properties}``, as pymilvus answers."""
        return {"name": db_name or DEFAULT_DATABASE, **self._databases.properties(db_name)}

    def alter_database_properties(self, db_name: str, properties: dict[str, Any], **kwargs: Any) -> None:
        """Set database properties (stored and described; EmbeDB acts on none of them)."""
        self._local_databases()
        self._databases.alter_properties(db_name, properties)

    def drop_database_properties(self, db_name: str, property_keys: list[str], **kwargs: Any) -> None:
        self._local_databases()
        self._databases.alter_properties(db_name, {}, property_keys)

    def use_database(self, db_name: str, **kwargs: Any) -> None:
        """Make ``db_name`` the database the following calls address; raises ``DatabaseNotFoundError``."""
        self._databases.get(db_name)
        self._database = db_name or DEFAULT_DATABASE

    using_database = use_database

    def _local_databases(self) -> None:
        if self._remote:
            raise InvalidArgumentError("databases are served over Milvus's gRPC protocol (embedb serve --milvus-port), not over REST")

    def create_collection(self, collection_name: str, dimension: int | None = None, **kwargs: Any) -> None:
        """pymilvus's create_collection: quick setup from ``dimension``, or the ``schema`` (which wins when both are given).

        ``num_shards`` (or the older ``shards_num``; 0 is Milvus's default) is EmbeDB's ``num_shards``.
        """
        shards = kwargs.get("num_shards")
        if shards is None:
            shards = kwargs.get("shards_num")
        kwargs = {k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS}
        if shards is not None and not (isinstance(shards, numbers.Integral) and not isinstance(shards, bool) and shards == 0):
            kwargs["num_shards"] = shards
        if kwargs.get("schema") is not None:
            dimension = None
        if isinstance(kwargs.get("index_params"), IndexParams):
            kwargs["index_params"] = list(kwargs["index_params"])
        self._backend.create_collection(collection_name, dimension, **kwargs)

    def create_index(self, collection_name: str, index_params: Any = None, **kwargs: Any) -> None:
        """pymilvus's create_index: waits until the index is built, as pymilvus does unless ``sync=False``."""
        kwargs = {k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS}
        if isinstance(index_params, IndexParams):
            index_params = list(index_params)
        self._backend.create_index(collection_name, index_params, **kwargs)

    def search(self, collection_name: str, data: Any = None, filter: str = "", limit: int = 10, output_fields: Any = None, search_params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """pymilvus's search: one list of ``Hit``s per query (``hit["id"]``, ``hit[<primary field>]``, ``hit.distance``...)."""
        milvus_rules.refuse_time_fields(kwargs.get("time_fields"))
        kwargs = _with_order_by({k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS})
        backend = self._backend
        found = backend.search(
            collection_name, data, filter=filter, limit=limit, output_fields=output_fields, search_params=search_params, **kwargs
        )
        primary = functools.cache(lambda: str(backend.describe_collection(collection_name)["primary_field"]))
        return [[Hit(hit, primary) for hit in hits] for hits in found]

    def query(self, collection_name: str, filter: str = "", output_fields: Any = None, **kwargs: Any) -> Any:
        """pymilvus's query: without ``output_fields`` every field comes back, as from Milvus (EmbeDB's own API: keys only)."""
        milvus_rules.refuse_time_fields(kwargs.get("time_fields"))
        kwargs = _with_order_by({k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS})
        return self._backend.query(collection_name, filter, output_fields=output_fields or ["*"], **kwargs)

    def hybrid_search(
        self, collection_name: str, reqs: list[Any], ranker: Any = None, limit: int = 10, output_fields: Any = None, **kwargs: Any
    ) -> Any:
        """pymilvus's hybrid_search: ``AnnSearchRequest``s fused by ``RRFRanker`` (the default) or ``WeightedRanker``."""
        requests = [request.to_dict() if isinstance(request, AnnSearchRequest) else request for request in reqs]
        ranking = ranker.dict() if hasattr(ranker, "dict") else ranker
        options = {k: v for k, v in kwargs.items() if k in ("offset", "partition_names", "timezone")}
        found = self._backend.hybrid_search(collection_name, requests, ranking, limit=limit, output_fields=output_fields, **options)
        primary = functools.cache(lambda: str(self._backend.describe_collection(collection_name)["primary_field"]))
        return [[Hit(hit, primary) for hit in hits] for hits in found]

    def run_analyzer(self, texts: str | list[str], analyzer_params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """The tokens of each text (a list for one text, a list of lists for several); ``with_detail`` is not supported yet."""
        if kwargs.get("with_detail"):
            raise InvalidArgumentError("run_analyzer with_detail (offsets, positions) is not supported yet")
        options = {k: v for k, v in kwargs.items() if k in ("collection_name", "field_name")}
        return self._backend.run_analyzer(texts, analyzer_params, **options)

    def describe_collection(self, collection_name: str, **kwargs: Any) -> dict[str, Any]:
        """pymilvus's shape: ``fields`` with ``type`` (a ``DataType``) and ``params`` (``dim``, ``max_length``...)."""
        return collection_description(self._backend.describe_collection(collection_name))

    def drop_collection(self, collection_name: str, **kwargs: Any) -> None:
        """As in Milvus, dropping a collection that does not exist is not an error (dropping one by an alias is)."""
        milvus_rules.drop_collection(self._backend, collection_name)

    def drop_partition(self, collection_name: str, partition_name: str, **kwargs: Any) -> None:
        """As in Milvus, only a released partition can be dropped (``release_partitions`` first)."""
        milvus_rules.refuse_dropping_loaded_partition(self._backend, collection_name=collection_name, partition_name=partition_name)
        self._backend.drop_partition(collection_name, partition_name)

    def drop_index(self, collection_name: str, index_name: str, **kwargs: Any) -> None:
        """As in Milvus, only a released collection's index can be dropped (``release_collection`` first)."""
        milvus_rules.refuse_dropping_index_of_loaded_collection(self._backend, collection_name=collection_name)
        self._backend.drop_index(collection_name, index_name)

    def describe_replica(self, collection_name: str, **kwargs: Any) -> list[dict[str, Any]]:
        """One process serves everything: one replica with one shard on node 1 (pymilvus returns ``ReplicaInfo``s)."""
        name = self._backend.describe_collection(collection_name)["collection_name"]
        shard = {"channel_name": f"{name}-dml_0", "shard_leader": 1, "shard_nodes": [1]}
        return [{"replica_id": 1, "shards": [shard], "nodes": [1], "resource_group": "__default_resource_group", "num_outbound_node": {}}]

    def get_partition_stats(self, collection_name: str, partition_name: str, **kwargs: Any) -> dict[str, Any]:
        """``{"row_count": n}``: the live rows of one partition."""
        counted = self._backend.query(collection_name, "", output_fields=["count(*)"], partition_names=[partition_name])
        return {"row_count": counted[0]["count(*)"]}

    def get_load_state(self, collection_name: str, partition_name: str = "", **kwargs: Any) -> dict[str, Any]:
        """``{"state": LoadState.Loaded}`` or ``LoadState.NotLoad``, as pymilvus answers."""
        found = self._backend.get_load_state(collection_name, partition_name or None)
        return {"state": LoadState[found["state"]]}

    def drop_alias(self, alias: str, **kwargs: Any) -> None:
        """As in Milvus, dropping an alias that does not exist is not an error."""
        milvus_rules.drop_alias(self._backend, alias)

    def compact(self, collection_name: str, **kwargs: Any) -> int:
        """pymilvus's compact: a job id. EmbeDB compacts before it returns, so the job is already completed."""
        self._backend.compact(collection_name)
        job_id = len(self._compactions) + 1
        self._compactions[job_id] = collection_name
        return job_id

    def get_compaction_state(self, job_id: int, **kwargs: Any) -> str:
        """``"Completed"`` for a job this client started (compaction runs to the end inside ``compact``)."""
        if job_id not in self._compactions:
            raise InvalidArgumentError(f"no compaction job {job_id!r} was started by this client", argument="job_id")
        return "Completed"

    def get_server_version(self, **kwargs: Any) -> str:
        """EmbeDB's version (pymilvus asks the Milvus server for its own)."""
        return f"embedb-{__version__}"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._backend, name)
        if not callable(method):
            return method

        accepted = _keyword_names(method)

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            # pymilvus's methods take **kwargs and leave out those they do not use; so does this facade.
            return method(*args, **{k: v for k, v in kwargs.items() if k not in IGNORED_KWARGS and (accepted is None or k in accepted)})

        return call

    def close(self) -> None:
        default = self._databases.get(DEFAULT_DATABASE)
        self._databases.close()
        default.close()

    def __enter__(self) -> MilvusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMilvusClient:
    """pymilvus's ``AsyncMilvusClient``: every ``MilvusClient`` call as a coroutine.

    Each call runs the synchronous client on a worker thread (``asyncio.to_thread``),
    so an event loop is never blocked by a search or an fsync; the client is
    thread-safe, so concurrent coroutines are concurrent calls. ``create_schema``
    and ``prepare_index_params`` stay synchronous, as in pymilvus.
    """

    create_schema = staticmethod(MilvusClient.create_schema)
    prepare_index_params = staticmethod(MilvusClient.prepare_index_params)

    def __init__(self, uri: str | os.PathLike[str] = ":memory:", **kwargs: Any) -> None:
        self._client = MilvusClient(uri, **kwargs)

    @property
    def backend(self) -> Backend:
        return self._client.backend

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    async def __aenter__(self) -> AsyncMilvusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
