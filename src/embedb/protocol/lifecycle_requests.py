"""Request bodies of the embedding-version, job and model-registry operations.

Beside ``requests.py`` (same base class and rules: strict types, unknown fields
refused); each mirrors the ``Backend`` method of the same name.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from embedb.protocol.requests import ApiRequest, CollectionName

ModelRef = Annotated[str, Field(description="A model version: models:/name/3, name@alias, name/3 or name.")]
JobId = Annotated[int, Field(description="The job_id add_embedding_version returned.", examples=[1])]
ModelName = Annotated[str, Field(description="A registered model's name.", examples=["minilm"])]


class AddEmbeddingVersionRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    model: ModelRef
    wait: Annotated[bool, Field(description="Answer once the backfill stopped running.")] = False
    timeout: Annotated[float | None, Field(description="Seconds to wait at most.")] = None


class EmbeddingVersionRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    model: ModelRef


class ListJobsRequest(ApiRequest):
    collection_name: Annotated[str | None, Field(description="Only jobs of this collection.")] = None


class JobRequest(ApiRequest):
    job_id: JobId


class WaitJobRequest(ApiRequest):
    job_id: JobId
    timeout: Annotated[float | None, Field(description="Seconds to wait at most.")] = None


class PromoteRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    model: ModelRef
    reason: str | None = None
    actor: str | None = None


class RollbackRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    reason: str | None = None
    actor: str | None = None


class ServingHistoryRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str | None = None


class RegisterModelRequest(ApiRequest):
    name: ModelName
    source: Annotated[
        str | dict[str, Any],
        Field(
            description="On the server: a model directory or file path, an import path 'pkg.mod:fn', or an MLflow URI;"
            " or analyzer_params (an object) for an analyzer version of a BM25 field."
        ),
    ]
    flavor: str | None = None
    alias: str | None = None
    tags: dict[str, str] | None = None
    description: str | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    lineage: dict[str, Any] | None = None
    actor: str | None = None
    dimension: int | None = None
    metric: str | None = None
    normalize: bool | None = None


class EmptyModelRequest(ApiRequest):
    pass


class ModelNameRequest(ApiRequest):
    name: ModelName


class ModelVersionRefRequest(ApiRequest):
    model: ModelRef


class SetModelAliasRequest(ApiRequest):
    name: ModelName
    alias: str
    version: int
    actor: str | None = None
    reason: str | None = None


class DeleteModelAliasRequest(ApiRequest):
    name: ModelName
    alias: str
    actor: str | None = None
    reason: str | None = None


class AliasHistoryRequest(ApiRequest):
    name: ModelName
    alias: str | None = None


class SetModelTagRequest(ApiRequest):
    name: ModelName
    key: str
    value: str
    version: int | None = None


class DeleteModelVersionRequest(ApiRequest):
    name: ModelName
    version: int
