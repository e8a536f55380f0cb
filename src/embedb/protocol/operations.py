"""The route table: where each operation of the contract travels over REST, and in what shape.

One row says which contract operation a route carries, its path, its request
model, how its body is encoded and how vectors in its result are packed. Who
may call it (the role, the collections it must cover, whether it lists
collections) and which parameters stay in-process are not repeated here: they
are read from the operation's declaration in ``embedb.contract``. The REST
router (``embedb.server.routes``), the HTTP client (``embedb.backends.http``)
and the auth matrix test read this table; ``tests/unit/protocol`` fails when a
contract operation has no route or a request model differs from its signature.
Adding an operation to the server is its declaration in the contract, one row
here and one request model in ``requests.py``.

Every operation is ``POST /v1/<group>/<verb>`` with a JSON body, as in
Milvus's REST API v2: names travel in bodies, never in URL paths, so no name
needs escaping and no name is interpreted by the router.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import BaseModel

from embedb.contract import OPERATIONS as CONTRACT
from embedb.contract import OperationSpec, Role
from embedb.protocol import experiment_requests as xrq
from embedb.protocol import lifecycle_requests as lrq
from embedb.protocol import requests as rq


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
    request: type[BaseModel]
    response: type[BaseModel]
    returns: Returns = Returns.PLAIN
    body: Body = Body.JSON
    # Request fields that may hold packed arrays (unpacked before the backend sees them).
    packed_args: tuple[str, ...] = ()
    # Unique name of the route (OpenAPI operationId); defaults to the method name.
    operation_id: str = ""

    def __post_init__(self) -> None:
        if not self.operation_id:
            object.__setattr__(self, "operation_id", self.method)

    @property
    def spec(self) -> OperationSpec:
        """The operation's declaration in the contract."""
        return CONTRACT[self.method]

    @property
    def role(self) -> Role:
        """The role a token needs (declared in the contract)."""
        return self.spec.access.role

    @property
    def scope_args(self) -> tuple[str, ...]:
        """Request fields naming the collections the token's role must cover (declared in the contract)."""
        return self.spec.access.scope

    @property
    def listing(self) -> bool:
        """The result lists collections: a token limited to some sees only those."""
        return self.spec.access.listing

    @property
    def local_args(self) -> tuple[str, ...]:
        """Parameters that never travel (callbacks): absent from the request model."""
        return self.spec.access.local

    @property
    def group(self) -> str:
        """The path segment after ``/v1`` (collections, partitions, aliases, entities, ...)."""
        return self.path.split("/")[2]


OPERATIONS: tuple[Operation, ...] = (
    # collections
    Operation("create_collection", "/v1/collections/create", rq.CreateCollectionRequest, rq.NullResult),
    Operation("list_collections", "/v1/collections/list", rq.EmptyRequest, rq.NamesResult),
    Operation("has_collection", "/v1/collections/has", rq.CollectionRequest, rq.BoolResult),
    Operation("describe_collection", "/v1/collections/describe", rq.CollectionRequest, rq.ObjectResult),
    Operation("drop_collection", "/v1/collections/drop", rq.CollectionRequest, rq.NullResult),
    Operation("rename_collection", "/v1/collections/rename", rq.RenameCollectionRequest, rq.NullResult),
    Operation("get_collection_stats", "/v1/collections/get_stats", rq.CollectionRequest, rq.ObjectResult),
    Operation("alter_collection_properties", "/v1/collections/alter_properties", rq.AlterPropertiesRequest, rq.NullResult),
    Operation("drop_collection_properties", "/v1/collections/drop_properties", rq.DropPropertiesRequest, rq.NullResult),
    Operation("alter_collection_field", "/v1/collections/alter_field", rq.AlterFieldRequest, rq.NullResult),
    Operation("truncate_collection", "/v1/collections/truncate", rq.CollectionRequest, rq.NullResult),
    Operation("flush", "/v1/collections/flush", rq.CollectionRequest, rq.NullResult),
    Operation("compact", "/v1/collections/compact", rq.CollectionRequest, rq.ObjectResult),
    Operation("run_analyzer", "/v1/analyzers/run", rq.RunAnalyzerRequest, rq.ListResult),
    # indexes
    Operation("create_index", "/v1/indexes/create", rq.CreateIndexRequest, rq.NullResult),
    Operation("list_indexes", "/v1/indexes/list", rq.ListIndexesRequest, rq.NamesResult),
    Operation("tune_index", "/v1/indexes/tune", xrq.TuneIndexRequest, rq.ObjectResult, packed_args=("queries",)),
    Operation("describe_index", "/v1/indexes/describe", rq.IndexNameRequest, rq.ObjectResult),
    Operation("drop_index", "/v1/indexes/drop", rq.IndexNameRequest, rq.NullResult),
    Operation("alter_index_properties", "/v1/indexes/alter_properties", rq.IndexPropertiesRequest, rq.NullResult),
    Operation("drop_index_properties", "/v1/indexes/drop_properties", rq.DropIndexPropertiesRequest, rq.NullResult),
    # partitions
    Operation("create_partition", "/v1/partitions/create", rq.PartitionRequest, rq.NullResult),
    Operation("drop_partition", "/v1/partitions/drop", rq.PartitionRequest, rq.NullResult),
    Operation("has_partition", "/v1/partitions/has", rq.PartitionRequest, rq.BoolResult),
    Operation("list_partitions", "/v1/partitions/list", rq.CollectionRequest, rq.NamesResult),
    # load state
    Operation("load_collection", "/v1/collections/load", rq.CollectionRequest, rq.NullResult),
    Operation("release_collection", "/v1/collections/release", rq.CollectionRequest, rq.NullResult),
    Operation("get_load_state", "/v1/collections/get_load_state", rq.LoadStateRequest, rq.ObjectResult),
    Operation("load_partitions", "/v1/partitions/load", rq.PartitionsRequest, rq.NullResult),
    Operation("release_partitions", "/v1/partitions/release", rq.PartitionsRequest, rq.NullResult),
    # aliases
    Operation("create_alias", "/v1/aliases/create", rq.AliasRequest, rq.NullResult),
    Operation(
        "alter_alias",
        "/v1/aliases/alter",
        rq.AliasRequest,
        rq.NullResult,
    ),
    Operation("drop_alias", "/v1/aliases/drop", rq.AliasNameRequest, rq.NullResult),
    Operation("list_aliases", "/v1/aliases/list", rq.ListAliasesRequest, rq.ObjectResult),
    Operation("describe_alias", "/v1/aliases/describe", rq.AliasNameRequest, rq.ObjectResult),
    # entities
    Operation("insert", "/v1/entities/insert", rq.WriteRequest, rq.InsertResult, packed_args=("data",)),
    Operation("upsert", "/v1/entities/upsert", rq.UpsertRequest, rq.ObjectResult, packed_args=("data",)),
    Operation(
        "insert",
        "/v1/entities/insert_arrow",
        rq.ArrowWriteParams,
        rq.InsertResult,
        operation_id="insert_arrow",
        body=Body.ARROW,
    ),
    Operation(
        "upsert",
        "/v1/entities/upsert_arrow",
        rq.ArrowWriteParams,
        rq.ObjectResult,
        operation_id="upsert_arrow",
        body=Body.ARROW,
    ),
    Operation("delete", "/v1/entities/delete", rq.DeleteRequest, rq.ObjectResult),
    Operation("get", "/v1/entities/get", rq.GetRequest, rq.RowsResult, returns=Returns.ROWS),
    Operation(
        "query", "/v1/entities/query", rq.QueryRequest, rq.RowsResult, returns=Returns.ROWS, packed_args=("filter_params",)
    ),
    Operation(
        "search",
        "/v1/entities/search",
        rq.SearchRequest,
        rq.HitsResult,
        returns=Returns.HITS,
        packed_args=("data", "filter_params"),
    ),
    Operation(
        "hybrid_search",
        "/v1/entities/hybrid_search",
        rq.HybridSearchRequest,
        rq.HitsResult,
        returns=Returns.HITS,
        packed_args=("reqs",),
    ),
    Operation("search_with", "/v1/entities/search_with", rq.SearchWithRequest, rq.HitsResult, returns=Returns.HITS),
    # experiments and evaluation
    Operation("start_experiment", "/v1/experiments/start", xrq.StartExperimentRequest, rq.ObjectResult),
    Operation("get_experiment", "/v1/experiments/get", xrq.ExperimentIdRequest, rq.ObjectResult),
    Operation("list_experiments", "/v1/experiments/list", xrq.ListExperimentsRequest, rq.RowsResult),
    Operation("experiment_report", "/v1/experiments/report", xrq.ExperimentIdRequest, rq.ObjectResult),
    Operation("experiment_trajectory", "/v1/experiments/trajectory", xrq.TrajectoryRequest, rq.RowsResult),
    Operation("stop_experiment", "/v1/experiments/stop", xrq.ExperimentIdRequest, rq.ObjectResult),
    Operation(
        "promote_experiment",
        "/v1/experiments/promote",
        xrq.PromoteExperimentRequest,
        rq.ObjectResult,
    ),
    Operation("feedback", "/v1/experiments/feedback", xrq.FeedbackRequest, rq.ObjectResult),
    Operation("evaluate", "/v1/experiments/evaluate", xrq.EvaluateRequest, rq.ObjectResult),
    Operation("evaluate_search", "/v1/experiments/evaluate_search", xrq.EvaluateSearchRequest, rq.ObjectResult),
    Operation("fine_tune", "/v1/models/fine_tune", xrq.FineTuneRequest, rq.ObjectResult),
    Operation("select_model", "/v1/models/select", xrq.SelectModelRequest, rq.ObjectResult),
    Operation("set_policy", "/v1/policies/set", xrq.SetPolicyRequest, rq.ObjectResult),
    Operation("get_policy", "/v1/policies/get", xrq.PolicyRequest, rq.ObjectResult),
    Operation("run_policy", "/v1/policies/run", xrq.RunPolicyRequest, rq.ObjectResult),
    Operation("monitor", "/v1/monitoring/series", xrq.MonitorRequest, rq.ObjectResult),
    Operation("decay", "/v1/monitoring/decay", xrq.DecayRequest, rq.ObjectResult),
    Operation("drift", "/v1/monitoring/drift", xrq.DriftRequest, rq.ObjectResult, packed_args=("reference", "current")),
    # embedding versions and backfill jobs
    Operation(
        "add_embedding_version",
        "/v1/embeddings/add",
        lrq.AddEmbeddingVersionRequest,
        rq.ObjectResult,
    ),
    Operation("drop_embedding_version", "/v1/embeddings/drop", lrq.EmbeddingVersionRequest, rq.ObjectResult),
    Operation("promote", "/v1/embeddings/promote", lrq.PromoteRequest, rq.ObjectResult),
    Operation("rollback", "/v1/embeddings/rollback", lrq.RollbackRequest, rq.ObjectResult),
    Operation("serving_history", "/v1/embeddings/history", lrq.ServingHistoryRequest, rq.RowsResult),
    Operation("list_jobs", "/v1/jobs/list", lrq.ListJobsRequest, rq.RowsResult),
    Operation("get_job", "/v1/jobs/get", lrq.JobRequest, rq.ObjectResult),
    Operation("wait_job", "/v1/jobs/wait", lrq.WaitJobRequest, rq.ObjectResult),
    Operation("pause_job", "/v1/jobs/pause", lrq.JobRequest, rq.ObjectResult),
    Operation("resume_job", "/v1/jobs/resume", lrq.JobRequest, rq.ObjectResult),
    Operation("cancel_job", "/v1/jobs/cancel", lrq.JobRequest, rq.ObjectResult),
    # the model registry
    Operation("register_model", "/v1/models/register", lrq.RegisterModelRequest, rq.ObjectResult),
    Operation("list_models", "/v1/models/list", lrq.EmptyModelRequest, rq.RowsResult),
    Operation("describe_model", "/v1/models/describe", lrq.ModelNameRequest, rq.ObjectResult),
    Operation("list_model_versions", "/v1/models/versions", lrq.ModelNameRequest, rq.RowsResult),
    Operation(
        "describe_model_version",
        "/v1/models/describe_version",
        lrq.ModelVersionRefRequest,
        rq.ObjectResult,
    ),
    Operation("set_model_alias", "/v1/models/set_alias", lrq.SetModelAliasRequest, rq.ObjectResult),
    Operation(
        "delete_model_alias",
        "/v1/models/delete_alias",
        lrq.DeleteModelAliasRequest,
        rq.NullResult,
    ),
    Operation("model_alias_history", "/v1/models/alias_history", lrq.AliasHistoryRequest, rq.RowsResult),
    Operation("set_model_tag", "/v1/models/set_tag", lrq.SetModelTagRequest, rq.NullResult),
    Operation(
        "delete_model_version",
        "/v1/models/delete_version",
        lrq.DeleteModelVersionRequest,
        rq.ObjectResult,
    ),
)

BY_ID: dict[str, Operation] = {op.operation_id: op for op in OPERATIONS}


def operation(operation_id: str) -> Operation:
    """The operation with that id; raises ``KeyError`` when the server has no such route."""
    return BY_ID[operation_id]
