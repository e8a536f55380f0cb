"""What each operation of the contract returns: JSON-ready typed dicts.

Results are plain dicts and lists (so the server sends exactly what the
embedded engine returns, and pymilvus-shaped code keeps indexing them by key),
described here as ``TypedDict``s: a type checker sees every key, and the
contract suite checks every result of every operation, embedded and over HTTP,
against these declarations (``embedb.contract.check_result``) — a key added,
dropped or renamed on one side fails it.

Rows of ``get`` and ``query`` and the ``entity`` of a hit depend on the
collection's schema, so they are ``dict[str, Any]``. Times are seconds since
the epoch; model versions are URIs (``models:/minilm/2``).
"""


from typing import Any, NotRequired, TypedDict

Row = dict[str, Any]
"""One entity: its primary key and the requested fields (schema-dependent)."""


class Hit(TypedDict):
    """One search result. ``query_id`` and ``arm`` appear while an experiment routes the search."""

    id: Any
    distance: float
    entity: Row
    query_id: NotRequired[str]
    arm: NotRequired[str]


SearchHits = list[list[Hit]]
"""One list of hits per query, closest first."""


class CollectionDescription(TypedDict):
    collection_name: str
    collection_id: int
    description: str
    fields: list[dict[str, Any]]
    functions: list[dict[str, Any]]  # BM25 functions: name, type, input_field_names, output_field_names, params
    primary_field: str
    auto_id: bool
    enable_dynamic_field: bool
    partitions: list[str]
    num_partitions: int
    num_shards: int  # the shards that hold its rows (one node: what creation asked for, else 1)
    aliases: list[str]
    properties: dict[str, Any]
    created_at: float
    # per model-bound field: each version it holds, its state, its rows, whether it serves
    embedding_versions: dict[str, list[dict[str, Any]]]


class CollectionStats(TypedDict):
    row_count: int
    deleted_rows: int
    growing_rows: int
    sealed_segments: int
    wal_bytes: int
    last_lsn: int
    checkpoint_lsn: int


class LoadState(TypedDict):
    state: str  # "Loaded" or "NotLoad", as Milvus names them


class AliasList(TypedDict):
    aliases: list[str]
    collection_name: str


class AliasDescription(TypedDict):
    alias: str
    collection_name: str


class InsertResult(TypedDict):
    insert_count: int
    ids: list[Any]


class UpsertResult(TypedDict):
    upsert_count: int


class DeleteResult(TypedDict):
    delete_count: int


class CompactResult(TypedDict):
    merged_segments: int


class IndexDescription(TypedDict):
    """An index and its build progress."""

    index_name: str
    field_name: str
    index_type: str
    requested_index_type: str
    library: str
    metric_type: str
    params: dict[str, Any]
    # Finished, InProgress or Failed
    state: str
    builds_enabled: bool
    total_rows: int
    indexed_rows: int
    pending_index_rows: int
    exact_rows: int
    index_bytes: int
    # sealed segments per build state (pending, building, ready, small, failed)
    segments: dict[str, int]
    failures: list[dict[str, Any]]
    # what alter_index_properties set
    properties: NotRequired[dict[str, Any]]
    # model versions' own indexes (tuned recipes), by column key: index_type, params, search_params
    version_indexes: NotRequired[dict[str, dict[str, Any]]]
    # the index type's own parameters, also in ``params`` (Milvus shows them at top level too)
    M: NotRequired[int]
    efConstruction: NotRequired[int]
    nlist: NotRequired[int]
    m: NotRequired[int]
    nbits: NotRequired[int]
    n_trees: NotRequired[int]


class Job(TypedDict):
    """A backfill job and its progress."""

    job_id: int
    kind: str
    collection_name: str | None
    field: str
    model_version: str
    # pending, running, paused, done, failed, cancelled
    state: str
    rows_total: int
    rows_done: int
    rows_without_source: int
    segments_done: int
    progress: float
    rows_per_second: float | None
    eta_seconds: float | None
    error: str | None
    created_at: float
    finished_at: float | None


class DroppedVersion(TypedDict):
    collection_name: str
    field: str
    dropped_version: str
    segments: int


class ServingChange(TypedDict):
    """What a promotion or a rollback moved."""

    action: str
    collection_name: str
    field: str
    from_version: str | None
    to_version: str
    alias: str | None
    elapsed_ms: float


class ServingHistoryEntry(TypedDict):
    action: str
    field: str
    from_version: str | None
    to_version: str
    alias: str | None
    reason: str | None
    actor: str | None
    time: float


class ModelVersionInfo(TypedDict):
    name: str
    version: int
    uri: str
    # registering, ready, failed, deleted
    status: str
    flavor: str
    artifact_hash: str | None
    dimension: int | None
    metric: str | None
    normalize: bool
    max_input_length: int | None
    input_unit: str | None
    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]
    lineage: dict[str, Any]
    description: str | None
    created_at: float
    status_message: str | None
    aliases: list[str]


class RegisteredModelInfo(TypedDict):
    name: str
    uri: str
    description: str | None
    tags: dict[str, str]
    created_at: float
    latest_version: int | None
    aliases: dict[str, int]


class AliasChangeInfo(TypedDict):
    sequence: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    reason: str | None
    time: float


class ExperimentInfo(TypedDict):
    experiment_id: int
    collection_name: str
    field: str
    # shadow, split, interleave
    mode: str
    # running, stopped, promoted
    state: str
    champion: str
    challenger: str
    champion_version: str
    challenger_version: str
    split: float
    k: int
    alpha: float
    sequential: bool
    horizon: int | None
    created_at: float
    ended_at: float | None


class ExperimentReportInfo(TypedDict):
    """A verdict (``decision``: promote / keep / undecided, ``reason``, the numbers) and what it rests on."""

    decision: str
    reason: str
    metric: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    ci: list[float] | None
    p_value: float | None
    n: int
    test: str
    alpha: float
    details: dict[str, Any]
    arms: dict[str, Any]
    experiment: ExperimentInfo
    queries: int
    feedback: int
    # routed queries the query log could not write: not 0 means the report rests on incomplete logs
    dropped_queries: int


class TrajectoryPoint(TypedDict):
    """The verdict of an experiment as it stood at one moment: on the queries answered and feedback given by then."""

    time: float
    queries: int
    feedback: int
    decision: str
    delta: float | None
    ci: list[float] | None
    p_value: float | None


class ExperimentPromotion(ServingChange):
    experiment: ExperimentInfo
    report: ExperimentReportInfo


class FeedbackEvent(TypedDict):
    experiment_id: int
    query_id: str
    doc_id: Any
    kind: str
    relevance: float | None
    arm: str | None
    time: float


class DriftReport(TypedDict):
    """Whether a field's current sample drifted from the reference: each test's statistic and p-value."""

    collection_name: str
    field: str
    model_version: str | None
    reference_rows: int
    current_rows: int
    detected: bool
    p_value: float
    alpha: float
    tests: dict[str, dict[str, Any]]


class TuneReport(TypedDict):
    """Index tuning: the best recipe meeting the recall target, the Pareto front and every measured point."""

    collection_name: str
    field: str
    model_version: str | None
    recall_target: float
    k: int
    rows: int
    queries: int
    queries_from: str
    index_types: list[str]
    best: dict[str, Any] | None
    pareto: list[dict[str, Any]]
    points: list[dict[str, Any]]
    applied: bool
    seconds: float


class FineTuneReport(TypedDict):
    """A version fine-tuned on feedback: what it learnt from, and held-out scores of it and its parent."""

    collection_name: str
    field: str
    parent_version: str
    model_version: str
    pairs: int
    training_pairs: int
    heldout_queries: int
    eval_corpus: int
    before: dict[str, float]
    after: dict[str, float]
    device: str
    steps: int
    first_loss: float | None
    last_loss: float | None
    train_seconds: float
    seconds: float


class MonitorReport(TypedDict):
    """Per model version of a field: its searches and the feedback on them, bucketed in time, with totals."""

    collection_name: str
    field: str
    serving_version: str
    since: float
    until: float
    bucket_s: int
    low_similarity: float
    versions: dict[str, dict[str, Any]]


class DecayReport(TypedDict):
    """Whether a model version's click-through fell, or its empty or low-similarity rate rose, against its history."""

    collection_name: str
    field: str
    version: str
    reference: list[float]
    current: list[float]
    alpha: float
    decayed: bool
    signals: dict[str, dict[str, Any]]


class SelectionReport(TypedDict):
    """Candidate models scored on judged queries against the serving version; the winner, if one is better."""

    collection_name: str
    field: str
    serving_version: str
    queries: int
    corpus: int
    candidates: dict[str, dict[str, Any]]
    ranking: list[str]
    # the best embedding model significantly better than the serving version (registrable)
    winner: str | None
    # the best significantly better candidate of any kind (BM25 and hybrid included)
    best_overall: str | None
    # made candidates that could not be made, and why
    skipped: dict[str, str]
    registered: str | None
    seconds: float


class PolicyInfo(TypedDict):
    """A field's policy, where its loop stands, and its last steps."""

    collection_name: str
    field: str
    policy: dict[str, Any]
    state: str
    data: dict[str, Any]
    events: list[dict[str, Any]]


class PolicyStep(TypedDict):
    """One step of a policy: what it did (``acted``) or would do, and why."""

    collection_name: str
    field: str
    state: str
    action: str
    acted: bool
    detail: dict[str, Any]


class EvaluationReport(TypedDict):
    """Scores per version, comparisons with the baseline, the verdict and the CI gate."""

    collection_name: str
    field: str
    k: int
    metric: str
    min_delta: float
    alpha: float
    queries: int
    baseline: str
    candidate: str | None
    versions: dict[str, dict[str, Any]]
    comparisons: dict[str, dict[str, Any]]
    verdict: NotRequired[dict[str, Any]]
    gate: NotRequired[dict[str, Any]]
