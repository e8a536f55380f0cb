"""Request bodies of the experiment and evaluation operations (mirroring their ``Backend`` methods).

Kept beside ``requests.py`` (same base class, same rules: strict types, unknown
fields refused) so the lifecycle's routes are one file to read.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from embedb.protocol.requests import ApiRequest, CollectionName

ExperimentId = Annotated[int, Field(description="The id start_experiment returned.", examples=[1])]
ModelRef = Annotated[str, Field(description="A model version the field holds: name@alias or name/version.")]
DocId = Annotated[
    Any,
    WithJsonSchema({"title": "PrimaryKey", "anyOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]}),
]


class StartExperimentRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    champion: ModelRef
    challenger: ModelRef
    mode: Annotated[str, Field(description="shadow, split or interleave.")]
    split: Annotated[float, Field(description="Share of users the challenger serves (split mode).")] = 0.5
    k: Annotated[int, Field(description="Cutoff of the shadow overlap@k.")] = 10
    alpha: float = 0.05
    sequential: Annotated[bool, Field(description="mSPRT: the report may be read at any time.")] = True
    horizon: Annotated[int | None, Field(description="Planned sample size of a fixed-horizon test.")] = None


class ExperimentIdRequest(ApiRequest):
    experiment_id: ExperimentId


class TrajectoryRequest(ApiRequest):
    experiment_id: ExperimentId
    points: int = 20


class ListExperimentsRequest(ApiRequest):
    collection_name: Annotated[str | None, Field(description="Only experiments of this collection.")] = None


class PromoteExperimentRequest(ApiRequest):
    experiment_id: ExperimentId
    reason: str | None = None
    actor: str | None = None


class FeedbackRequest(ApiRequest):
    collection_name: CollectionName
    query_id: Annotated[str, Field(description="The query_id of the hits the feedback is about.")]
    doc_id: DocId
    kind: Annotated[str, Field(description="click or relevance.")] = "click"
    relevance: Annotated[float | None, Field(description="A graded relevance (kind becomes relevance).")] = None


class EvaluateRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    queries: Annotated[dict[str, str], Field(description="Query id -> text (BEIR queries).")]
    qrels: Annotated[dict[str, dict[str, float]], Field(description="Query id -> {doc id: grade} (BEIR qrels).")]
    versions: list[str] | None = None
    k: int = 10
    baseline: str | None = None
    candidate: str | None = None
    metric: str = "ndcg@10"
    min_delta: float = 0.0
    ann_check: bool = True


class SetPolicyRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    policy: dict[str, Any]


class PolicyRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str


class RunPolicyRequest(PolicyRequest):
    approve: bool = False
    actor: str | None = None


class SelectModelRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]
    candidates: list[str] | None = None
    make: list[str] | None = None
    corpus_rows: int = 5_000
    alpha: float = 0.05
    register_winner: bool = True
    model_name: str | None = None
    alias: str = "challenger"
    seed: int = 0


class MonitorRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    since: float | None = None
    until: float | None = None
    bucket_s: int = 3600
    low_similarity: float = 0.3


class DecayRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    version: str | None = None
    reference: list[float] | None = None
    current: list[float] | None = None
    alpha: float = 0.05
    low_similarity: float = 0.3


class DriftRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    reference: Annotated[dict[str, Any], Field(description='{"texts": [...]}, {"vectors": [...]} or {"filter": "..."}.')]
    current: Annotated[dict[str, Any], Field(description='{"texts": [...]}, {"vectors": [...]} or {"filter": "..."}.')]
    tests: list[str] | None = None
    alpha: float = 0.05
    max_rows: int = 1000
    permutations: int = 999
    embedding_version: str | None = None
    seed: int = 0


class TuneIndexRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    recall: float = 0.95
    k: int = 10
    index_types: list[str] | None = None
    trials: int = 20
    sample_rows: int = 20_000
    queries: Annotated[dict[str, Any] | None, Field(description='{"texts": [...]} or {"vectors": [...]}; default: held out.')] = None
    max_memory_mb: float | None = None
    max_build_s: float | None = None
    embedding_version: str | None = None
    apply: bool = False
    seed: int = 0


class FineTuneRequest(ApiRequest):
    collection_name: CollectionName
    field_name: str
    pairs: list[Any] | None = None
    experiment_ids: list[int] | None = None
    holdout: float = 0.2
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    model_name: str | None = None
    alias: str | None = None
    eval_rows: int = 2000
    seed: int = 0


class EvaluateSearchRequest(ApiRequest):
    collection_name: CollectionName
    queries: Annotated[dict[str, str], Field(description="Query id -> text (BEIR queries).")]
    qrels: Annotated[dict[str, dict[str, float]], Field(description="Query id -> {doc id: grade} (BEIR qrels).")]
    configs: Annotated[
        dict[str, dict[str, Any] | str],
        Field(
            description='Name -> {"anns_field": ...}, {"reqs": [{"anns_field": ...}, ...], "ranker": {...}},'
            ' or a registered search configuration version ("docs_search@champion").'
        ),
    ]
    k: int = 10
    baseline: str | None = None
    candidate: str | None = None
    metric: str = "ndcg@10"
    min_delta: float = 0.0
