"""``Backend``: every operation of EmbeDB, declared once (see ``embedb.contract`` and docs/architecture.md).

Names, parameters and result shapes follow pymilvus's ``MilvusClient``: the
collection name first, everything else keyword-only, JSON-ready results typed
in ``embedb.contract.results``. Each body hands its arguments to the adapter's
``_dispatch``. The contract never retries, never creates a collection
implicitly, and never writes part of a request: a call that raises has written nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from embedb.contract import results
from embedb.contract.declare import Role, arguments_of, operation
from embedb.schema import CollectionSchema

# The most hits one search may return (``limit + offset``), as in Milvus.
MAX_SEARCH_LIMIT = 16_384


class Backend(ABC):
    """A connection to an EmbeDB database (embedded or remote): every operation of the contract."""

    @abstractmethod
    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        """Carry out operation ``name`` with ``arguments`` (its parameters by name, ``self`` left out)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release the database (flushes the WAL, stops background work); idempotent."""

    # ---------------------------------------------------------- collections

    @operation(Role.ADMIN)
    def create_collection(
        self,
        collection_name: str,
        dimension: int | None = None,
        *,
        primary_field_name: str = "id",
        id_type: str = "int",
        vector_field_name: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        max_length: int | None = None,
        enable_dynamic_field: bool = True,
        schema: CollectionSchema | dict[str, Any] | None = None,
        index_params: Any = None,
        description: str = "",
    ) -> None:
        """Create a collection: quick setup from ``dimension``, or from a full ``schema``.

        Raises ``CollectionAlreadyExistsError``, ``SchemaError``, ``InvalidNameError``.
        """
        self._dispatch("create_collection", arguments_of(locals()))

    @operation(Role.READER, scope=(), listing=True)
    def list_collections(self) -> list[str]:
        """Names of every collection, sorted."""
        return self._dispatch("list_collections", arguments_of(locals()))

    @operation(Role.READER)
    def has_collection(self, collection_name: str) -> bool:
        """Whether a collection (not an alias) with that name exists."""
        return self._dispatch("has_collection", arguments_of(locals()))

    @operation(Role.READER)
    def describe_collection(self, collection_name: str) -> results.CollectionDescription:
        """Schema, partitions, aliases and properties of a collection (name or alias)."""
        return self._dispatch("describe_collection", arguments_of(locals()))

    @operation(Role.ADMIN)
    def drop_collection(self, collection_name: str) -> None:
        """Drop a collection and its data; raises ``CollectionNotFoundError``."""
        self._dispatch("drop_collection", arguments_of(locals()))

    # A token limited to the old name would lose the collection, so renaming needs a global admin.
    @operation(Role.ADMIN, scope=())
    def rename_collection(self, old_name: str, new_name: str) -> None:
        """Rename a collection; aliases keep pointing at it."""
        self._dispatch("rename_collection", arguments_of(locals()))

    @operation(Role.READER)
    def get_collection_stats(self, collection_name: str) -> results.CollectionStats:
        """``{"row_count": live rows, ...}`` plus storage details."""
        return self._dispatch("get_collection_stats", arguments_of(locals()))

    # ----------------------------------------------------------- partitions

    @operation(Role.WRITER)
    def create_partition(self, collection_name: str, partition_name: str) -> None:
        """Add a partition; raises ``PartitionAlreadyExistsError``."""
        self._dispatch("create_partition", arguments_of(locals()))

    @operation(Role.WRITER)
    def drop_partition(self, collection_name: str, partition_name: str) -> None:
        """Delete a partition and every row in it."""
        self._dispatch("drop_partition", arguments_of(locals()))

    @operation(Role.READER)
    def has_partition(self, collection_name: str, partition_name: str) -> bool:
        """Whether the partition exists."""
        return self._dispatch("has_partition", arguments_of(locals()))

    @operation(Role.READER)
    def list_partitions(self, collection_name: str) -> list[str]:
        """Partition names, ``_default`` first."""
        return self._dispatch("list_partitions", arguments_of(locals()))

    # ----------------------------------------------------------- load state
    # EmbeDB serves every collection once created; releasing one (Milvus's rule) makes reads refuse it.

    @operation(Role.WRITER)
    def load_collection(self, collection_name: str) -> None:
        """Serve every partition of the collection again after a release (a no-op when it is served)."""
        self._dispatch("load_collection", arguments_of(locals()))

    @operation(Role.WRITER)
    def release_collection(self, collection_name: str) -> None:
        """Stop serving reads of the collection until ``load_collection``: get, query and search then raise
        ``CollectionNotLoadedError``. Writes still go in. Kept across restarts."""
        self._dispatch("release_collection", arguments_of(locals()))

    @operation(Role.WRITER)
    def load_partitions(self, collection_name: str, partition_names: Sequence[str]) -> None:
        """Serve these partitions again; raises ``PartitionNotFoundError``."""
        self._dispatch("load_partitions", arguments_of(locals()))

    @operation(Role.WRITER)
    def release_partitions(self, collection_name: str, partition_names: Sequence[str]) -> None:
        """Stop serving these partitions: reads naming one raise ``PartitionNotLoadedError``, others skip them."""
        self._dispatch("release_partitions", arguments_of(locals()))

    @operation(Role.READER)
    def get_load_state(self, collection_name: str, partition_name: str | None = None) -> results.LoadState:
        """``{"state": "Loaded"}`` or ``"NotLoad"``, of the collection (loaded while any partition is) or one partition."""
        return self._dispatch("get_load_state", arguments_of(locals()))

    # -------------------------------------------------------------- aliases

    @operation(Role.ADMIN)
    def create_alias(self, collection_name: str, alias: str) -> None:
        """Give a collection another name usable by every data call."""
        self._dispatch("create_alias", arguments_of(locals()))

    # Moving an alias needs admin on the collection it points to now and on the new one.
    @operation(Role.ADMIN, scope=("collection_name", "alias"))
    def alter_alias(self, collection_name: str, alias: str) -> None:
        """Re-point an existing alias to another collection, atomically."""
        self._dispatch("alter_alias", arguments_of(locals()))

    @operation(Role.ADMIN, scope=("alias",))
    def drop_alias(self, alias: str) -> None:
        """Remove an alias (the collection stays)."""
        self._dispatch("drop_alias", arguments_of(locals()))

    @operation(Role.READER)
    def list_aliases(self, collection_name: str | None = None) -> results.AliasList:
        """``{"aliases": [...], "collection_name": ...}`` (all aliases when no collection is named)."""
        return self._dispatch("list_aliases", arguments_of(locals()))

    @operation(Role.READER, scope=("alias",))
    def describe_alias(self, alias: str) -> results.AliasDescription:
        """``{"alias": ..., "collection_name": ...}``; raises ``AliasNotFoundError``."""
        return self._dispatch("describe_alias", arguments_of(locals()))

    # ----------------------------------------------------------------- data

    @operation(Role.WRITER)
    def insert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> results.InsertResult:
        """Add rows (list of dicts, dict of columns, Arrow table or DataFrame).

        A model-bound vector field is embedded from its source text; vectors you
        bring for it must name their model version in ``embedding_versions``
        (``{"embedding": "models:/minilm/1"}``). Returns ``{"insert_count": n,
        "ids": [...]}``. Raises ``DataError`` (naming row and field) or
        ``DuplicateKeyError`` and then writes nothing.
        """
        return self._dispatch("insert", arguments_of(locals()))

    @operation(Role.WRITER)
    def upsert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> results.UpsertResult:
        """Insert rows or replace those with the same primary key, atomically; ``{"upsert_count": n}``."""
        return self._dispatch("upsert", arguments_of(locals()))

    @operation(Role.WRITER)
    def delete(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any | None = None,
        *,
        filter: str | None = None,
        partition_name: str | None = None,
    ) -> results.DeleteResult:
        """Delete by primary keys or by filter; ``{"delete_count": n}``."""
        return self._dispatch("delete", arguments_of(locals()))

    @operation(Role.READER)
    def get(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any,
        *,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[results.Row]:
        """Rows with the given primary keys, in that order; missing keys are skipped."""
        return self._dispatch("get", arguments_of(locals()))

    @operation(Role.READER)
    def query(
        self,
        collection_name: str,
        filter: str = "",
        *,
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        partition_names: Sequence[str] | None = None,
        ids: Sequence[Any] | None = None,
        filter_params: dict[str, Any] | None = None,
    ) -> list[results.Row]:
        """Rows matching a filter, ordered by primary key; ``output_fields=["count(*)"]`` counts."""
        return self._dispatch("query", arguments_of(locals()))

    @operation(Role.READER)
    def search(
        self,
        collection_name: str,
        data: Any,
        *,
        filter: str = "",
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        partition_names: Sequence[str] | None = None,
        filter_params: dict[str, Any] | None = None,
        group_by_field: str | None = None,
        group_size: int | None = None,
        strict_group_size: bool | None = None,
        embedding_version: str | None = None,
        user_key: str | None = None,
    ) -> results.SearchHits:
        """Nearest neighbours: one list of hits per query, each ``{"id", "distance", "entity"}``.

        ``data`` is vectors, or query text for a model-bound field (embedded by the
        model version whose vectors it is compared to: the serving one, or
        ``embedding_version``). While an experiment runs on the field, text
        searches are routed by it (``user_key`` keeps a user in one arm) and each
        hit also carries ``query_id`` and ``arm``.
        """
        return self._dispatch("search", arguments_of(locals()))

    @operation(Role.WRITER)
    def flush(self, collection_name: str) -> None:
        """Seal in-memory rows into segment files (data is already durable in the WAL)."""
        self._dispatch("flush", arguments_of(locals()))

    @operation(Role.WRITER)
    def compact(self, collection_name: str) -> results.CompactResult:
        """Merge small or deletion-heavy segments now; ``{"merged_segments": n}``."""
        return self._dispatch("compact", arguments_of(locals()))

    # -------------------------------------------------------------- indexes

    @operation(Role.WRITER)
    def create_index(
        self,
        collection_name: str,
        index_params: Any = None,
        *,
        field_name: str | None = None,
        index_type: str | None = None,
        metric_type: str | None = None,
        params: dict[str, Any] | None = None,
        index_name: str | None = None,
        sync: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Index a vector field: pymilvus ``IndexParams`` (or a list of dicts), or ``field_name=``/``index_type=``/``params=``.

        Types: FLAT, HNSW (``M``, ``efConstruction``), IVF_FLAT and IVF_SQ8
        (``nlist``), IVF_PQ (``nlist``, ``m``, ``nbits``), HNSWLIB, ANNOY
        (``n_trees``), and AUTOINDEX (HNSW; ``describe_index`` shows the pick).
        Sealed segments are indexed in the background; with ``sync`` (the
        default, as in pymilvus) the call returns once they are. Creating the
        same index again is a no-op. Raises ``InvalidArgumentError`` (unknown
        type, parameter out of range, wrong metric), ``FieldNotFoundError`` or
        ``IndexAlreadyExistsError`` — and then defines nothing.
        """
        self._dispatch("create_index", arguments_of(locals()))

    @operation(Role.READER)
    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        """Index names of a collection (only the one on ``field_name`` when given)."""
        return self._dispatch("list_indexes", arguments_of(locals()))

    @operation(Role.READER)
    def describe_index(self, collection_name: str, index_name: str) -> results.IndexDescription:
        """Type, metric, parameters and build progress (``state``: Finished / InProgress / Failed, ``indexed_rows``...).

        Raises ``IndexNotFoundError``.
        """
        return self._dispatch("describe_index", arguments_of(locals()))

    @operation(Role.WRITER)
    def drop_index(self, collection_name: str, index_name: str) -> None:
        """Remove an index and its files; searches scan exactly from then on. Raises ``IndexNotFoundError``."""
        self._dispatch("drop_index", arguments_of(locals()))

    # --------------------------------------------- embedding versions, jobs
    # A job id alone names no collection, so job control needs a token valid for every collection.

    @operation(Role.ADMIN, local=("progress",))
    def add_embedding_version(
        self,
        collection_name: str,
        field_name: str,
        model: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> results.Job:
        """Start a backfill: embed every row of a model-bound field with another model version.

        New writes carry both versions from this call on; search keeps serving the
        current one. Returns the job (``job_id``, ``state``, ``rows_done``,
        ``rows_total``, ``rows_per_second``, ``eta_seconds``...); with ``wait``
        returns when it stopped running. ``progress(done, total)`` is called as
        rows are embedded. Raises ``AlreadyExistsError`` if the field holds that
        version already.
        """
        return self._dispatch("add_embedding_version", arguments_of(locals()))

    @operation(Role.ADMIN)
    def drop_embedding_version(self, collection_name: str, field_name: str, model: str) -> results.DroppedVersion:
        """Delete one version's vectors and indexes; ``InUseError`` while it serves, is the rollback
        target, has a model alias, or an experiment or job uses it."""
        return self._dispatch("drop_embedding_version", arguments_of(locals()))

    @operation(Role.READER)
    def list_jobs(self, collection_name: str | None = None) -> list[results.Job]:
        """Backfill jobs, oldest first."""
        return self._dispatch("list_jobs", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def get_job(self, job_id: int) -> results.Job:
        """One job with its progress; raises ``JobNotFoundError``."""
        return self._dispatch("get_job", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def wait_job(self, job_id: int, *, timeout: float | None = None) -> results.Job:
        """Block until the job stops running (done, failed, paused, cancelled) or ``timeout`` passes."""
        return self._dispatch("wait_job", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def pause_job(self, job_id: int) -> results.Job:
        """Stop a running job after its current chunk; ``InvalidStateError`` unless it is running."""
        return self._dispatch("pause_job", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def resume_job(self, job_id: int) -> results.Job:
        """Continue a paused or failed job from its last committed chunk."""
        return self._dispatch("resume_job", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def cancel_job(self, job_id: int) -> results.Job:
        """Stop a job for good: its version is retired and the vectors it wrote are dropped."""
        return self._dispatch("cancel_job", arguments_of(locals()))

    @operation(Role.ADMIN)
    def promote(
        self, collection_name: str, field_name: str, model: str, *, reason: str | None = None, actor: str | None = None
    ) -> results.ServingChange:
        """Serve ``model``'s vectors (and index) for the field and move its model alias, in one transaction.

        Raises ``FailedPreconditionError`` unless the version's vectors are complete
        and indexed. Returns ``from_version``, ``to_version``, ``elapsed_ms``.
        """
        return self._dispatch("promote", arguments_of(locals()))

    @operation(Role.ADMIN)
    def rollback(
        self, collection_name: str, field_name: str, *, reason: str | None = None, actor: str | None = None
    ) -> results.ServingChange:
        """Serve the previous version again (the one before the last promotion), in one transaction."""
        return self._dispatch("rollback", arguments_of(locals()))

    @operation(Role.READER)
    def serving_history(self, collection_name: str, field_name: str | None = None) -> list[results.ServingHistoryEntry]:
        """Every promotion and rollback of a collection's fields, oldest first (over a server, ``actor`` is the token's name)."""
        return self._dispatch("serving_history", arguments_of(locals()))

    # ------------------------------------------------------- model registry
    # The registry is shared by every collection: changing it needs a global admin token.

    @operation(Role.ADMIN, scope=())
    def register_model(
        self,
        name: str,
        source: Any,
        *,
        flavor: str | None = None,
        alias: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        lineage: dict[str, Any] | None = None,
        actor: str | None = None,
        dimension: int | None = None,
        metric: str | None = None,
        normalize: bool | None = None,
    ) -> results.ModelVersionInfo:
        """Store a model as the next immutable version of ``name``; return the version.

        ``source``: a model object (embedded only), a local path (a sentence-transformers
        directory, an ONNX file; over HTTP a path on the server), an import path
        ``"package.module:callable"``, or an MLflow ``models:/`` URI.
        """
        return self._dispatch("register_model", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def list_models(self) -> list[results.RegisteredModelInfo]:
        """Registered models with their aliases and latest version."""
        return self._dispatch("list_models", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def describe_model(self, name: str) -> results.RegisteredModelInfo:
        """One registered model; raises ``ModelNotFoundError``."""
        return self._dispatch("describe_model", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def list_model_versions(self, name: str) -> list[results.ModelVersionInfo]:
        """Every version of a model, oldest first."""
        return self._dispatch("list_model_versions", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def describe_model_version(self, model: str) -> results.ModelVersionInfo:
        """The version a URI names (``models:/name/3``, ``name@champion``, ``name``)."""
        return self._dispatch("describe_model_version", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def set_model_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None, reason: str | None = None
    ) -> results.ModelVersionInfo:
        """Point an alias at a READY version (recorded in the alias history); return that version."""
        return self._dispatch("set_model_alias", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def delete_model_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Remove an alias (recorded in the alias history)."""
        self._dispatch("delete_model_alias", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def model_alias_history(self, name: str, alias: str | None = None) -> list[results.AliasChangeInfo]:
        """Every alias move of a model (or one alias), oldest first: who (over a server the token's name), when, why, from, to."""
        return self._dispatch("model_alias_history", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def set_model_tag(self, name: str, key: str, value: str, *, version: int | None = None) -> None:
        """Set a tag on a model or on one of its versions."""
        self._dispatch("set_model_tag", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def delete_model_version(self, name: str, version: int) -> results.ModelVersionInfo:
        """Delete a version; ``InUseError`` while an alias points at it or a collection holds its vectors."""
        return self._dispatch("delete_model_version", arguments_of(locals()))

    # ---------------------------------------------- experiments, evaluation
    # An experiment id alone names no collection, so those calls need a token valid for every collection.

    @operation(Role.ADMIN)
    def start_experiment(
        self,
        collection_name: str,
        field_name: str,
        *,
        champion: str,
        challenger: str,
        mode: str,
        split: float = 0.5,
        k: int = 10,
        alpha: float = 0.05,
        sequential: bool = True,
        horizon: int | None = None,
    ) -> results.ExperimentInfo:
        """Start an online experiment on a model-bound field; return it (``experiment_id``, ``state``...).

        ``mode`` is ``shadow`` (the champion answers, the challenger runs off the
        response path), ``split`` (a ``split`` share of users, by a salted hash of
        ``search(user_key=)``, is served by the challenger) or ``interleave`` (team
        draft; each hit names its arm). While it runs, every text search on the field
        is routed by it: each hit gains ``query_id`` and ``arm``, and the query is
        logged. Vector searches are not routed (they go to the champion, unlogged).
        ``sequential`` (an mSPRT, safe to look at any time) or a fixed ``horizon``
        decide when the report may conclude; ``k`` is the cutoff of shadow overlap.
        Raises ``InvalidArgumentError`` (bad mode or settings), not-found errors for
        the versions, ``FailedPreconditionError`` (the champion does not serve the
        field, the challenger is still backfilling, another experiment runs on the field).
        """
        return self._dispatch("start_experiment", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def get_experiment(self, experiment_id: int) -> results.ExperimentInfo:
        """An experiment's settings and state; raises ``ExperimentNotFoundError``."""
        return self._dispatch("get_experiment", arguments_of(locals()))

    @operation(Role.READER)
    def list_experiments(self, collection_name: str | None = None) -> list[results.ExperimentInfo]:
        """Experiments, oldest first (only one collection's when named)."""
        return self._dispatch("list_experiments", arguments_of(locals()))

    @operation(Role.READER, scope=())
    def experiment_report(self, experiment_id: int) -> results.ExperimentReportInfo:
        """The experiment's verdict (``decision``: promote / keep / undecided, ``reason``, the numbers) plus ``arms``.

        Live while it runs (pending logs are written first), frozen once it ended.
        Raises ``ExperimentNotFoundError``.
        """
        return self._dispatch("experiment_report", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def stop_experiment(self, experiment_id: int) -> results.ExperimentInfo:
        """End a running experiment without promoting (its logs and final report stay); raises ``InvalidStateError``."""
        return self._dispatch("stop_experiment", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())
    def promote_experiment(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> results.ExperimentPromotion:
        """Promote the challenger (serving version and model alias, one transaction) and end the experiment.

        Returns what moved plus ``experiment`` and its final ``report``. Raises
        ``InvalidStateError`` (not running) and ``FailedPreconditionError`` (the
        challenger's index is not built yet).
        """
        return self._dispatch("promote_experiment", arguments_of(locals()))

    @operation(Role.WRITER)
    def feedback(
        self, collection_name: str, query_id: str, doc_id: Any, *, kind: str = "click", relevance: float | None = None
    ) -> results.FeedbackEvent:
        """Join a click (``kind="click"``) or a graded ``relevance`` to a logged experiment query; return the event.

        A click must be on a hit the query returned. Raises ``InvalidArgumentError``,
        ``ExperimentNotFoundError`` (no such query) and ``InvalidStateError`` (ended).
        """
        return self._dispatch("feedback", arguments_of(locals()))

    @operation(Role.READER, local=("progress",))
    def evaluate(
        self,
        collection_name: str,
        field_name: str,
        *,
        queries: dict[str, str],
        qrels: dict[str, dict[str, float]],
        versions: list[str] | None = None,
        k: int = 10,
        baseline: str | None = None,
        candidate: str | None = None,
        metric: str = "ndcg@10",
        min_delta: float = 0.0,
        ann_check: bool = True,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> results.EvaluationReport:
        """Score model versions of a field on labelled queries (BEIR ``queries``/``qrels``) and gate the candidate.

        Per version: recall@k, nDCG@10, MRR@10 (and, with ``ann_check``, its index's
        recall@k against exact search and its p50/p99 latency). Each other version is
        compared with ``baseline`` (default: the first) on ``metric`` by a paired
        randomization test and a bootstrap interval; ``gate.passed`` is False when
        ``candidate`` (default: the second) is significantly worse by more than
        ``min_delta``. ``progress(stage, done, total)`` is called as queries are embedded
        and searched (in-process only: over HTTP the call is not reported). Writes nothing.
        Raises ``InvalidArgumentError`` and not-found errors.
        """
        return self._dispatch("evaluate", arguments_of(locals()))
