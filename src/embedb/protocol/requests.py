"""Request and response bodies of the REST API, as pydantic models (they make ``/openapi.json``).

Each request model mirrors one ``Backend`` method: the same argument names and
defaults, keyword arguments as JSON fields. Unknown fields are refused
(``extra="forbid"``) and types are strict (``"10"`` is not a number), so a bad
request is a 400 naming the field before the backend is called. Values whose
meaning depends on the collection's schema (``data``, ``ids``, ``schema``) are
only shaped here and checked by the backend, which raises the same typed error
embedded and over HTTP. Response models document the ``{"result": ...}``
envelope; the server does not re-validate what the backend returns.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

_PACKED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "PackedArray",
    "description": "A NumPy array: little-endian bytes of `dtype` in `shape`, base64-encoded.",
    "properties": {
        "dtype": {"type": "string", "enum": ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]},
        "shape": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
            "minItems": 1,
            "maxItems": 2,
        },
        "b64": {"type": "string", "format": "byte"},
    },
    "required": ["dtype", "shape", "b64"],
    "additionalProperties": False,
}
_VECTORS_SCHEMA: dict[str, Any] = {
    "title": "QueryVectors",
    "description": "Query vectors: a list of vectors, one vector, or a packed float32 matrix [nq, dim].",
    "anyOf": [
        {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        {"type": "array", "items": {"type": "number"}},
        _PACKED_SCHEMA,
    ],
}
_ROWS_SCHEMA: dict[str, Any] = {
    "title": "Rows",
    "description": (
        "Rows to write: a list of row objects (field -> value), or one object of columns "
        "(field -> list of values; a vector column may be a packed float32 matrix [n, dim])."
    ),
    "anyOf": [
        {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        {"type": "object", "additionalProperties": True},
    ],
}
_KEYS_SCHEMA: dict[str, Any] = {
    "title": "PrimaryKeys",
    "description": "Primary keys (integers or strings, as the collection's primary key), or one key.",
    "anyOf": [
        {"type": "array", "items": {"anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]}},
        {"type": "integer", "format": "int64"},
        {"type": "string"},
    ],
}

Vectors = Annotated[Any, WithJsonSchema(_VECTORS_SCHEMA)]
# A primary key in a result: INT64 (int64, not a generator's default int32) or VARCHAR.
Key = Annotated[
    int | str,
    WithJsonSchema({"title": "PrimaryKey", "anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]}),
]
Rows = Annotated[Any, WithJsonSchema(_ROWS_SCHEMA)]
Keys = Annotated[Any, WithJsonSchema(_KEYS_SCHEMA)]
AnyJson = Annotated[Any, WithJsonSchema({"description": "Any JSON value."})]
CollectionName = Annotated[str, Field(description="A collection name (or an alias of one).", examples=["docs"])]
Names = Annotated[list[str] | str | None, Field(description="Partition names (all partitions when absent).")]
OutputFields = Annotated[
    list[str] | None, Field(description='Fields to return; "*" for all scalar fields, "count(*)" to count (query).')
]
Filter = Annotated[str, Field(description='A Milvus boolean filter, e.g. `age > 30 and tag in ["a", "b"]`.')]


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ApiRequest(BaseModel):
    """Base of every request body: strict types, unknown fields refused.

    Integer fields must fit in 64 bits and float fields must be finite: no
    EmbeDB value can hold more, and refusing them here keeps a 2**70 or a NaN
    from reaching SQLite or NumPy (a 400 naming the field, never a 500).
    """

    model_config = ConfigDict(
        extra="forbid", strict=True, validate_by_name=True, validate_by_alias=True, allow_inf_nan=False
    )

    @field_validator("*", mode="after")
    @classmethod
    def _integers_fit_in_64_bits(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
            raise ValueError("must fit in a signed 64-bit integer")
        return value


class EmptyRequest(ApiRequest):
    """No arguments (send ``{}``)."""


class CollectionRequest(ApiRequest):
    collection_name: CollectionName


class CreateCollectionRequest(ApiRequest):
    """Quick setup from ``dimension``, or a full ``schema`` (as ``describe_collection`` returns its fields)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"collection_name": "docs", "dimension": 4}]})

    collection_name: Annotated[str, Field(examples=["docs"])]
    dimension: int | None = None
    primary_field_name: str = "id"
    id_type: Annotated[str, Field(description='"int" or "string".')] = "int"
    vector_field_name: str = "vector"
    metric_type: Annotated[str, Field(description="COSINE, IP or L2.")] = "COSINE"
    auto_id: bool = False
    max_length: int | None = None
    enable_dynamic_field: bool = True
    collection_schema: Annotated[
        dict[str, Any] | None,
        Field(alias="schema", description='{"fields": [...], "enable_dynamic_field": bool, "description": str}'),
    ] = None
    index_params: AnyJson = None
    description: str = ""
    properties: dict[str, AnyJson] | None = None
    num_shards: Annotated[
        int | None, Field(description="How many of a cluster's shards hold the rows (none: every shard).")
    ] = None


class RenameCollectionRequest(ApiRequest):
    old_name: Annotated[str, Field(examples=["docs"])]
    new_name: Annotated[str, Field(examples=["articles"])]


class AlterPropertiesRequest(ApiRequest):
    collection_name: CollectionName
    properties: Annotated[dict[str, AnyJson], Field(examples=[{"team": "search"}])]


class DropPropertiesRequest(ApiRequest):
    collection_name: CollectionName
    property_keys: Annotated[list[str], Field(examples=[["team"]])]


class AlterFieldRequest(ApiRequest):
    collection_name: CollectionName
    field_name: Annotated[str, Field(examples=["title"])]
    field_params: Annotated[dict[str, AnyJson], Field(examples=[{"max_length": 512}])]


class IndexPropertiesRequest(ApiRequest):
    collection_name: CollectionName
    index_name: Annotated[str, Field(examples=["vector"])]
    properties: Annotated[dict[str, AnyJson], Field(examples=[{"mmap.enabled": True}])]


class DropIndexPropertiesRequest(ApiRequest):
    collection_name: CollectionName
    index_name: Annotated[str, Field(examples=["vector"])]
    property_keys: Annotated[list[str], Field(examples=[["mmap.enabled"]])]


class PartitionRequest(ApiRequest):
    collection_name: CollectionName
    partition_name: Annotated[str, Field(examples=["recent"])]


class PartitionsRequest(ApiRequest):
    collection_name: CollectionName
    partition_names: Annotated[list[str], Field(examples=[["recent"]])]


class LoadStateRequest(ApiRequest):
    collection_name: CollectionName
    partition_name: Annotated[str | None, Field(description="One partition's state; the collection's when absent.")] = None


class AliasRequest(ApiRequest):
    collection_name: CollectionName
    alias: Annotated[str, Field(examples=["docs_live"])]


class AliasNameRequest(ApiRequest):
    alias: Annotated[str, Field(examples=["docs_live"])]


class ListAliasesRequest(ApiRequest):
    collection_name: Annotated[str | None, Field(description="Only aliases of this collection.")] = None


class WriteRequest(ApiRequest):
    """Rows for insert or upsert."""

    collection_name: CollectionName
    data: Rows
    partition_name: str | None = None
    embedding_versions: Annotated[
        dict[str, str] | None, Field(description="For vectors you bring to a model-bound field: the model version of each.")
    ] = None


class UpsertRequest(WriteRequest):
    """Rows for upsert; with ``partial_update`` each row names its key and only the fields to change."""

    partial_update: bool = False
    field_ops: Annotated[
        dict[str, str] | None, Field(description='ARRAY fields to append to or remove from: {"tags": "array_append"}.')
    ] = None


class DeleteRequest(ApiRequest):
    """Delete by ``ids`` or by ``filter`` (exactly one)."""

    collection_name: CollectionName
    ids: Keys = None
    filter: Filter | None = None
    partition_name: str | None = None


class GetRequest(ApiRequest):
    collection_name: CollectionName
    ids: Keys
    output_fields: OutputFields = None
    partition_names: Names = None


class QueryRequest(ApiRequest):
    collection_name: CollectionName
    filter: Filter = ""
    output_fields: OutputFields = None
    limit: int | None = None
    offset: int = 0
    partition_names: Names = None
    ids: Keys = None
    filter_params: Annotated[dict[str, Any] | None, Field(description="Values for {placeholders} in the filter.")] = (
        None
    )
    order_by: Annotated[list[str] | None, Field(description='Scalar fields to order by, e.g. ["price:desc", "year"].')] = None
    timezone: Annotated[str | None, Field(description="IANA zone of ISO '...' instants without an offset in the filter.")] = None


class SearchRequest(ApiRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"collection_name": "docs", "data": [[0.1, 0.2, 0.3, 0.4]], "limit": 3}]}
    )

    collection_name: CollectionName
    data: Vectors
    filter: Filter = ""
    limit: int = 10
    offset: int = 0
    output_fields: OutputFields = None
    search_params: Annotated[dict[str, Any] | None, Field(description="Index search parameters, e.g. {'ef': 64}.")] = (
        None
    )
    anns_field: str | None = None
    partition_names: Names = None
    filter_params: dict[str, Any] | None = None
    group_by_field: str | None = None
    group_size: int | None = None
    strict_group_size: bool | None = None
    embedding_version: Annotated[
        str | None, Field(description="Search this model version's vectors (default: the serving one).")
    ] = None
    user_key: Annotated[str | None, Field(description="Keeps a user in one arm of a split experiment.")] = None
    order_by: Annotated[list[str] | None, Field(description='Order each query\'s hits by scalar fields, e.g. ["price:desc"].')] = None
    timezone: Annotated[str | None, Field(description="IANA zone of ISO '...' instants without an offset in the filter.")] = None


class CreateIndexRequest(ApiRequest):
    """``create_index``: ``index_params`` as a list of index dicts (pymilvus IndexParams), or the direct form."""

    collection_name: CollectionName
    index_params: AnyJson = None
    field_name: str | None = None
    index_type: Annotated[
        str | None, Field(description="FLAT, HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSWLIB, ANNOY or AUTOINDEX.")
    ] = None
    metric_type: str | None = None
    params: Annotated[
        dict[str, Any] | None, Field(description="Build parameters, e.g. {'M': 16, 'efConstruction': 200}.")
    ] = None
    index_name: str | None = None
    sync: bool = True
    timeout: float | None = None


class ListIndexesRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str | None = None


class IndexNameRequest(ApiRequest):
    collection_name: CollectionName
    index_name: Annotated[str, Field(examples=["vector"])]


class ArrowWriteParams(ApiRequest):
    """Query parameters of an Arrow IPC insert or upsert (the body is the stream)."""

    collection_name: CollectionName
    partition_name: str | None = None


# --------------------------------------------------------------- responses


class ErrorBody(BaseModel):
    wire_name: Annotated[str, Field(description="Names the EmbeDB error class, e.g. collection_not_found.")]
    message: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    """Every 4xx/5xx: the wire name maps back to the same exception class in every client."""

    error: ErrorBody


class HybridSearchRequest(ApiRequest):
    """Several searches fused by a ranker (RRF by default); each request's ``data`` may be packed arrays."""

    collection_name: CollectionName
    reqs: list[dict[str, AnyJson]]
    ranker: dict[str, AnyJson] | None = None
    limit: int = 10
    offset: int = 0
    output_fields: list[str] | None = None
    partition_names: list[str] | None = None
    timezone: str | None = None


class SearchWithRequest(ApiRequest):
    """Query text searched the way a registered search configuration version says."""

    collection_name: CollectionName
    config: str
    data: AnyJson  # query text; anything else is refused by the operation, as embedded
    limit: int = 10
    offset: int = 0
    output_fields: list[str] | None = None
    user_key: str | None = None


class RunAnalyzerRequest(ApiRequest):
    """Texts to analyze with ``analyzer_params``, or with the analyzer of a collection's field."""

    texts: str | list[str]
    analyzer_params: dict[str, Any] | None = None
    collection_name: str | None = None
    field_name: str | None = None


class ListResult(BaseModel):
    result: list[Any]


class NullResult(BaseModel):
    """The operation returns nothing (``{"result": null}``)."""

    # Described as "any" rather than {"type": "null"}, which client generators cannot map to a type.
    result: Annotated[None, WithJsonSchema({"description": "Always null."})] = None


class BoolResult(BaseModel):
    result: bool


class NamesResult(BaseModel):
    result: list[str]


class ObjectResult(BaseModel):
    result: dict[str, Any]


class InsertCounts(BaseModel):
    insert_count: int
    ids: list[Key]


class InsertResult(BaseModel):
    result: InsertCounts


class RowsResult(BaseModel):
    """Rows as objects; with ``vector_encoding=base64`` each vector is a packed float32 array."""

    result: list[dict[str, Any]]


class Hit(BaseModel):
    id: Key
    distance: float
    entity: dict[str, Any]


class HitsResult(BaseModel):
    """One list of hits per query vector, closest first."""

    result: list[list[Hit]]
