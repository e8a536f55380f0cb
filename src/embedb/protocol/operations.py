"""The operation table: every ``Backend`` method the server exposes, in one place.

One row says which ``Backend`` method a route calls, its path, the role a
token needs, which request fields name the collections that role must cover,
the request model and the response shape. The REST router
(``embedb.server.routes``), the HTTP client (``embedb.backends.http``) and the
auth matrix test all read this table; a later protocol adapter (the Milvus gRPC
API) can reuse its roles and scopes. Adding a ``Backend`` method to the server
is one row here, one request model in ``requests.py`` and a one-line method in
``HttpBackend``.

Every operation is ``POST /v1/<group>/<verb>`` with a JSON body, as in
Milvus's REST API v2: names travel in bodies, never in URL paths, so no name
needs escaping and no name is interpreted by the router.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import BaseModel

from embedb.protocol import experiment_requests as xrq
from embedb.protocol import lifecycle_requests as lrq
from embedb.protocol import requests as rq


class Role(enum.IntEnum):
    """What a token may do; each role includes the ones below it."""

    # read: describe, list, get, query, search.
    READER = 1
    # write data: insert, upsert, delete, flush, compact, partitions, indexes.
    WRITER = 2
    # change collections and aliases, and everything else.
    ADMIN = 3

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        """A role from its name (``"reader"``, ``"writer"``, ``"admin"``); raises ``ValueError`` otherwise."""
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"role must be one of {[r.name.lower() for r in cls]}, got {value!r}") from None


class Returns(enum.Enum):
    """The shape of an operation's result, which decides how vectors in it can be packed."""

    # anything JSON: None, a bool, names, a dict.
    PLAIN = "plain"
    # a list of rows (get, query): vector fields may be packed.
    ROWS = "rows"
    # one list of hits per query (search): vector fields of each entity may be packed.
    HITS = "hits"


class Body(enum.Enum):
    """How the request body is encoded."""

    JSON = "json"
    # an Arrow IPC stream; the other arguments come as query parameters.
    ARROW = "arrow"


@dataclass(frozen=True)
class Operation:
    """One route: ``POST path`` calls ``Backend.<method>`` with the request's fields as arguments."""

    method: str
    path: str
    role: Role
    request: type[BaseModel]
    response: type[BaseModel]
    # Request fields naming collections or aliases the token's role must cover. A field that is
    # absent or null, or an empty tuple, means the operation needs a token valid for every collection.
    scope_args: tuple[str, ...] = ("collection_name",)
    # The result is a list of collection names: a token limited to some collections sees only those.
    listing: bool = False
    returns: Returns = Returns.PLAIN
    body: Body = Body.JSON
    # Request fields that may hold packed arrays (unpacked before the backend sees them).
    packed_args: tuple[str, ...] = ()
    # Backend parameters that cannot travel (callbacks such as a progress function): not in the request model.
    local_args: tuple[str, ...] = ()
    # Unique name of the route (OpenAPI operationId); defaults to the method name.
    operation_id: str = ""

    def __post_init__(self) -> None:
        if not self.operation_id:
            object.__setattr__(self, "operation_id", self.method)

    @property
    def group(self) -> str:
        """The path segment after ``/v1`` (collections, partitions, aliases, entities, ...)."""
        return self.path.split("/")[2]


READER, WRITER, ADMIN = Role.READER, Role.WRITER, Role.ADMIN

OPERATIONS: tuple[Operation, ...] = (
    # collections
    Operation("create_collection", "/v1/collections/create", ADMIN, rq.CreateCollectionRequest, rq.NullResult),
    Operation(
        "list_collections", "/v1/collections/list", READER, rq.EmptyRequest, rq.NamesResult, scope_args=(), listing=True
    ),
    Operation("has_collection", "/v1/collections/has", READER, rq.CollectionRequest, rq.BoolResult),
    Operation("describe_collection", "/v1/collections/describe", READER, rq.CollectionRequest, rq.ObjectResult),
    Operation("drop_collection", "/v1/collections/drop", ADMIN, rq.CollectionRequest, rq.NullResult),
    # a token limited to the old name would lose the collection, so renaming needs a global admin.
    Operation(
        "rename_collection", "/v1/collections/rename", ADMIN, rq.RenameCollectionRequest, rq.NullResult, scope_args=()
    ),
    Operation("get_collection_stats", "/v1/collections/get_stats", READER, rq.CollectionRequest, rq.ObjectResult),
    Operation("flush", "/v1/collections/flush", WRITER, rq.CollectionRequest, rq.NullResult),
    Operation("compact", "/v1/collections/compact", WRITER, rq.CollectionRequest, rq.ObjectResult),
    # indexes
    Operation("create_index", "/v1/indexes/create", WRITER, rq.CreateIndexRequest, rq.NullResult),
    Operation("list_indexes", "/v1/indexes/list", READER, rq.ListIndexesRequest, rq.NamesResult),
    Operation("describe_index", "/v1/indexes/describe", READER, rq.IndexNameRequest, rq.ObjectResult),
    Operation("drop_index", "/v1/indexes/drop", WRITER, rq.IndexNameRequest, rq.NullResult),
    # partitions
    Operation("create_partition", "/v1/partitions/create", WRITER, rq.PartitionRequest, rq.NullResult),
    Operation("drop_partition", "/v1/partitions/drop", WRITER, rq.PartitionRequest, rq.NullResult),
    Operation("has_partition", "/v1/partitions/has", READER, rq.PartitionRequest, rq.BoolResult),
    Operation("list_partitions", "/v1/partitions/list", READER, rq.CollectionRequest, rq.NamesResult),
    # aliases: moving an alias needs admin on the collection it points to now and on the new one.
    Operation("create_alias", "/v1/aliases/create", ADMIN, rq.AliasRequest, rq.NullResult),
    Operation(
        "alter_alias",
        "/v1/aliases/alter",
        ADMIN,
        rq.AliasRequest,
        rq.NullResult,
        scope_args=("collection_name", "alias"),
    ),
    Operation("drop_alias", "/v1/aliases/drop", ADMIN, rq.AliasNameRequest, rq.NullResult, scope_args=("alias",)),
    Operation("list_aliases", "/v1/aliases/list", READER, rq.ListAliasesRequest, rq.ObjectResult),
    Operation(
        "describe_alias", "/v1/aliases/describe", READER, rq.AliasNameRequest, rq.ObjectResult, scope_args=("alias",)
    ),
    # entities
    Operation("insert", "/v1/entities/insert", WRITER, rq.WriteRequest, rq.InsertResult, packed_args=("data",)),
    Operation("upsert", "/v1/entities/upsert", WRITER, rq.WriteRequest, rq.ObjectResult, packed_args=("data",)),
    Operation(
        "insert",
        "/v1/entities/insert_arrow",
        WRITER,
        rq.ArrowWriteParams,
        rq.InsertResult,
        operation_id="insert_arrow",
        body=Body.ARROW,
    ),
    Operation(
        "upsert",
        "/v1/entities/upsert_arrow",
        WRITER,
        rq.ArrowWriteParams,
        rq.ObjectResult,
        operation_id="upsert_arrow",
        body=Body.ARROW,
    ),
    Operation("delete", "/v1/entities/delete", WRITER, rq.DeleteRequest, rq.ObjectResult),
    Operation("get", "/v1/entities/get", READER, rq.GetRequest, rq.RowsResult, returns=Returns.ROWS),
    Operation("query", "/v1/entities/query", READER, rq.QueryRequest, rq.RowsResult, returns=Returns.ROWS),
    Operation(
        "search",
        "/v1/entities/search",
        READER,
        rq.SearchRequest,
        rq.HitsResult,
        returns=Returns.HITS,
        packed_args=("data",),
    ),
    # experiments and evaluation: an experiment id alone names no collection, so those need a global token.
    Operation("start_experiment", "/v1/experiments/start", ADMIN, xrq.StartExperimentRequest, rq.ObjectResult),
    Operation("get_experiment", "/v1/experiments/get", READER, xrq.ExperimentIdRequest, rq.ObjectResult, scope_args=()),
    Operation("list_experiments", "/v1/experiments/list", READER, xrq.ListExperimentsRequest, rq.RowsResult),
    Operation(
        "experiment_report", "/v1/experiments/report", READER, xrq.ExperimentIdRequest, rq.ObjectResult, scope_args=()
    ),
    Operation(
        "stop_experiment", "/v1/experiments/stop", ADMIN, xrq.ExperimentIdRequest, rq.ObjectResult, scope_args=()
    ),
    Operation(
        "promote_experiment",
        "/v1/experiments/promote",
        ADMIN,
        xrq.PromoteExperimentRequest,
        rq.ObjectResult,
        scope_args=(),
    ),
    Operation("feedback", "/v1/experiments/feedback", WRITER, xrq.FeedbackRequest, rq.ObjectResult),
    Operation("evaluate", "/v1/experiments/evaluate", READER, xrq.EvaluateRequest, rq.ObjectResult),
    # embedding versions and backfill jobs: a job id alone names no collection, so job control needs a global token.
    Operation(
        "add_embedding_version",
        "/v1/embeddings/add",
        ADMIN,
        lrq.AddEmbeddingVersionRequest,
        rq.ObjectResult,
        local_args=("progress",),
    ),
    Operation("drop_embedding_version", "/v1/embeddings/drop", ADMIN, lrq.EmbeddingVersionRequest, rq.ObjectResult),
    Operation("promote", "/v1/embeddings/promote", ADMIN, lrq.PromoteRequest, rq.ObjectResult),
    Operation("rollback", "/v1/embeddings/rollback", ADMIN, lrq.RollbackRequest, rq.ObjectResult),
    Operation("serving_history", "/v1/embeddings/history", READER, lrq.ServingHistoryRequest, rq.RowsResult),
    Operation("list_jobs", "/v1/jobs/list", READER, lrq.ListJobsRequest, rq.RowsResult),
    Operation("get_job", "/v1/jobs/get", READER, lrq.JobRequest, rq.ObjectResult, scope_args=()),
    Operation("wait_job", "/v1/jobs/wait", READER, lrq.WaitJobRequest, rq.ObjectResult, scope_args=()),
    Operation("pause_job", "/v1/jobs/pause", ADMIN, lrq.JobRequest, rq.ObjectResult, scope_args=()),
    Operation("resume_job", "/v1/jobs/resume", ADMIN, lrq.JobRequest, rq.ObjectResult, scope_args=()),
    Operation("cancel_job", "/v1/jobs/cancel", ADMIN, lrq.JobRequest, rq.ObjectResult, scope_args=()),
    # the model registry is shared by every collection: changing it needs a global admin token.
    Operation("register_model", "/v1/models/register", ADMIN, lrq.RegisterModelRequest, rq.ObjectResult, scope_args=()),
    Operation("list_models", "/v1/models/list", READER, lrq.EmptyModelRequest, rq.RowsResult, scope_args=()),
    Operation("describe_model", "/v1/models/describe", READER, lrq.ModelNameRequest, rq.ObjectResult, scope_args=()),
    Operation("list_model_versions", "/v1/models/versions", READER, lrq.ModelNameRequest, rq.RowsResult, scope_args=()),
    Operation(
        "describe_model_version",
        "/v1/models/describe_version",
        READER,
        lrq.ModelVersionRefRequest,
        rq.ObjectResult,
        scope_args=(),
    ),
    Operation(
        "set_model_alias", "/v1/models/set_alias", ADMIN, lrq.SetModelAliasRequest, rq.ObjectResult, scope_args=()
    ),
    Operation(
        "delete_model_alias",
        "/v1/models/delete_alias",
        ADMIN,
        lrq.DeleteModelAliasRequest,
        rq.NullResult,
        scope_args=(),
    ),
    Operation(
        "model_alias_history", "/v1/models/alias_history", READER, lrq.AliasHistoryRequest, rq.RowsResult, scope_args=()
    ),
    Operation("set_model_tag", "/v1/models/set_tag", ADMIN, lrq.SetModelTagRequest, rq.NullResult, scope_args=()),
    Operation(
        "delete_model_version",
        "/v1/models/delete_version",
        ADMIN,
        lrq.DeleteModelVersionRequest,
        rq.ObjectResult,
        scope_args=(),
    ),
)

BY_ID: dict[str, Operation] = {op.operation_id: op for op in OPERATIONS}


def operation(operation_id: str) -> Operation:
    """The operation with that id; raises ``KeyError`` when the server has no such route."""
    return BY_ID[operation_id]
