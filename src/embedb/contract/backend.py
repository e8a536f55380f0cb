"""``Backend``: every operation of EmbeDB, declared once (see ``embedb.contract`` and docs/architecture.md).

Names, parameters and result shapes follow pymilvus's ``MilvusClient``: the
collection name first, everything else keyword-only, JSON-ready results typed
in ``embedb.contract.results``. Each body hands its arguments to the adapter's
``_dispatch``. The contract never retries, never creates a collection
implicitly, and never writes part of a request: a call that raises has written nothing.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from embedb.contract import results
from embedb.contract.data_contract import DataContract
from embedb.contract.declare import Role, arguments_of, operation


class Backend(DataContract):
    """A connection to an EmbeDB database (embedded or remote): every operation of the contract.

    The vector-database operations (collections to indexes) are declared in ``DataContract``.
    """

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Release the database (flushes the WAL, stops background work); idempotent."""

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
        ``"package.module:callable"``, an MLflow ``models:/`` URI, or ``analyzer_params``
        (a dict such as ``{"type": "english"}``): an analyzer version, which a BM25
        field bound to the model (``source=`` its text, ``model=``) counts terms with.
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

    @operation(Role.READER, scope=())
    def experiment_trajectory(self, experiment_id: int, *, points: int = 20) -> list[results.TrajectoryPoint]:
        """The verdict over time: at ``points`` moments (quantiles of the logged query times), the decision, the
        estimate and its confidence interval on the queries answered and the feedback given by then.

        Raises ``ExperimentNotFoundError``, and ``InvalidArgumentError`` for ``points`` outside [1, 200].
        """
        return self._dispatch("experiment_trajectory", arguments_of(locals()))

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

    @operation(Role.ADMIN)
    def set_policy(self, collection_name: str, field_name: str, policy: dict[str, Any]) -> results.PolicyInfo:
        """Set (or change) the policy of a model-bound field: ``mode`` ``off`` (paused) / ``suggest`` (default) /
        ``act``, ``triggers`` (``["decay", "drift"]``), ``window_hours`` (24: the recent window an alert looks at,
        against the week before it), ``on_alert`` (``retrain`` or ``evaluate``), ``rollback_days``, ``epochs`` (of a
        retraining), ``experiment_mode``, ``tune_recall`` (tune each challenger's own index to it), and ``gate``: judged ``{"queries", "qrels"}`` the challenger must not be
        worse on before a promotion."""
        return self._dispatch("set_policy", arguments_of(locals()))

    @operation(Role.READER)
    def get_policy(self, collection_name: str, field_name: str) -> results.PolicyInfo:
        """A field's policy, its state (idle, backfilling, experimenting, watching) and its last 50 steps."""
        return self._dispatch("get_policy", arguments_of(locals()))

    @operation(Role.ADMIN, local=("progress",))
    def run_policy(
        self,
        collection_name: str,
        field_name: str,
        *,
        approve: bool = False,
        actor: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> results.PolicyStep:
        """Take (``act``) or name (``suggest``) the next step of the field's loop: an alert (decay of the serving
        version, drift of the query stream) -> retrain and backfill (or an offline evaluation) -> experiment ->
        promote if the verdict and the offline gate agree (else stop) -> watch, roll back on decay.

        ``approve=True`` takes a ``suggest`` policy's step this once (a person's approval). ``actor`` (over
        HTTP: the token's name, whatever the body says) is who ran it: an alias move it makes records it.
        ``progress(stage, done, total)`` follows a retraining and its backfill to the end
        (embedded only; without it the backfill is left running for the next call).
        """
        return self._dispatch("run_policy", arguments_of(locals()))

    @operation(Role.ADMIN, scope=())  # registers model versions and moves aliases: global
    def select_model(
        self,
        collection_name: str,
        field_name: str,
        *,
        queries: dict[str, str],
        qrels: dict[str, dict[str, float]],
        candidates: list[str] | None = None,
        make: list[str] | None = None,
        corpus_rows: int = 5_000,
        alpha: float = 0.05,
        register_winner: bool = True,
        model_name: str | None = None,
        alias: str = "challenger",
        seed: int = 0,
    ) -> results.SelectionReport:
        """Score candidate embedding models for a field on judged queries; register and alias the winner.

        Candidates: the serving version, registered versions named in ``candidates``, and the ones
        made here (``make``, default all): ``lsa`` (TF-IDF + SVD fitted on the collection's texts),
        ``model2vec`` (distilled from a sentence-transformers serving version), ``bm25`` and
        ``hybrid`` (reciprocal rank fusion of the serving version and BM25). Each ranks the judged
        documents among ``corpus_rows`` other stored rows; nDCG/recall/MRR@10, milliseconds per
        query and bytes per vector are reported, and a paired randomization test against the
        serving version decides. The winner — the best embedding model significantly better
        (p < ``alpha``) — gets ``alias`` (a made one is registered as a new version of
        ``model_name``, by default the serving model); ``winner`` is None otherwise.
        ``best_overall`` names the best significantly better candidate of any kind (BM25 or hybrid
        are served by a BM25 field and a search configuration, not registered); ``skipped`` says
        which made candidates could not be made and why.
        """
        return self._dispatch("select_model", arguments_of(locals()))

    @operation(Role.READER)
    def monitor(
        self,
        collection_name: str,
        field_name: str,
        *,
        since: float | None = None,
        until: float | None = None,
        bucket_s: int = 3600,
        low_similarity: float = 0.3,
    ) -> results.MonitorReport:
        """Time series of a model-bound field's searches per model version (the last day by default).

        Per bucket of ``bucket_s`` seconds and in total: ``queries``, ``empty_rate`` (no hit),
        ``low_similarity_rate`` (top hit's similarity below ``low_similarity``, COSINE and IP
        fields), latency ``p50_ms``/``p95_ms``/``p99_ms`` (upper edges of histogram bins), and
        from the experiments' logs and feedback ``logged`` queries, ``clicks``, ``ctr`` and
        ``mrr`` (mean reciprocal rank of the best click). Minutes are kept 14 days.
        """
        return self._dispatch("monitor", arguments_of(locals()))

    @operation(Role.READER)
    def decay(
        self,
        collection_name: str,
        field_name: str,
        *,
        version: str | None = None,
        reference: list[float] | None = None,
        current: list[float] | None = None,
        alpha: float = 0.05,
        low_similarity: float = 0.3,
    ) -> results.DecayReport:
        """Test whether a model version (the serving one by default) decayed against its own history.

        ``current`` (default: the last 24 hours) is compared with ``reference`` (default: the 7
        days before it), each ``[since, until]`` in epoch seconds, on three signals: click-through
        of its experiment queries (decay: lower), the empty-answer rate and the low-similarity
        rate (decay: higher). Each is an always-valid mixture sequential test, so asking again
        and again does not raise the false-alarm rate; ``decayed`` when a signal moved the bad
        way with a p-value below ``alpha / signals``.
        """
        return self._dispatch("decay", arguments_of(locals()))

    @operation(Role.READER)
    def drift(
        self,
        collection_name: str,
        field_name: str,
        *,
        reference: dict[str, Any],
        current: dict[str, Any],
        tests: list[str] | None = None,
        alpha: float = 0.05,
        max_rows: int = 1000,
        permutations: int = 999,
        embedding_version: str | None = None,
        seed: int = 0,
    ) -> results.DriftReport:
        """Test whether the ``current`` sample of a vector field's embeddings drifted from the ``reference`` one.

        Each sample is ``{"texts": [...]}`` (query text, embedded with the serving version
        or ``embedding_version``), ``{"vectors": [...]}``, or ``{"filter": "expression"}``
        (stored rows), at most ``max_rows`` of it (a seeded sample). ``tests``: ``classifier``
        (held-out AUC of a linear domain classifier, permutation p-value), ``mmd`` (Gaussian
        kernel, permutation p-value) and ``ood`` (share of items whose nearest stored row is
        farther than the reference's 95th percentile, exact p-value); all three by default.
        ``detected`` when a test's p-value is below ``alpha / len(tests)`` (so a false alarm
        has probability at most ``alpha``); ``p_value`` is the Bonferroni-adjusted smallest.
        """
        return self._dispatch("drift", arguments_of(locals()))

    @operation(Role.WRITER, local=("progress",))
    def tune_index(
        self,
        collection_name: str,
        field_name: str,
        *,
        recall: float = 0.95,
        k: int = 10,
        index_types: list[str] | None = None,
        trials: int = 20,
        sample_rows: int = 20_000,
        queries: dict[str, Any] | None = None,
        max_memory_mb: float | None = None,
        max_build_s: float | None = None,
        embedding_version: str | None = None,
        apply: bool = False,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> results.TuneReport:
        """Find the fastest index for a vector field that meets ``recall``@``k``, on the collection's own vectors.

        Optuna searches ``index_types`` (HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ, and HNSWLIB when
        installed) and their parameters for ``trials`` builds on a seeded sample of
        ``sample_rows`` stored vectors; each build's search parameter (``ef``/``nprobe``) is
        raised until the recall is met. Queries are ``{"texts": [...]}``, ``{"vectors":
        [...]}``, by default the query texts the field's experiments logged (50 or more), else
        stored rows held out of the sample (``queries_from`` says which); recall is against
        their exact top k.
        ``max_memory_mb`` / ``max_build_s`` bound the index. Returns the ``best`` recipe
        (``index_type``, ``params``, ``search_params`` and what it measured; ``None`` when
        nothing met the target), the Pareto front (recall, QPS, memory, build time) and every
        point. ``apply=True`` indexes the tuned version's vectors with the recipe (their own
        index within the field's; the field's index itself when it has none). A bound field's
        model version keeps the recipe as the tag ``index_recipe:<collection>.<field>``.
        ``progress(trials_done, trials)`` runs embedded only.
        """
        return self._dispatch("tune_index", arguments_of(locals()))

    @operation(Role.ADMIN, scope=(), local=("progress",))  # registers a model version (and an alias): global
    def fine_tune(
        self,
        collection_name: str,
        field_name: str,
        *,
        pairs: list[Any] | None = None,
        experiment_ids: list[int] | None = None,
        holdout: float = 0.2,
        epochs: int = 1,
        batch_size: int = 32,
        learning_rate: float = 5e-5,
        model_name: str | None = None,
        alias: str | None = None,
        eval_rows: int = 2000,
        seed: int = 0,
        progress: Callable[[int, int], None] | None = None,
    ) -> results.FineTuneReport:
        """Fine-tune the field's serving sentence-transformers version on what users clicked; register the result.

        Pairs are (query text, document) from the positive feedback (clicks, grades above
        zero) of the field's experiments (``experiment_ids``: only those), or ``pairs`` given as
        ``{"query": text, "doc_id": key}``. A ``holdout`` share of the queries (seeded) is never
        trained on: the parent and the new version rank their documents among ``eval_rows``
        other rows, and nDCG/recall/MRR@10 of both are returned and kept in the new version's
        metrics. Training: in-batch negatives (MultipleNegativesRankingLoss), AdamW, on a GPU
        when present. The new version of ``model_name`` (default: the parent's model) records
        its parent and data in its lineage; it does not serve until added and promoted.
        ``progress(steps_done, steps)`` runs embedded only.
        """
        return self._dispatch("fine_tune", arguments_of(locals()))

    @operation(Role.READER, local=("progress",))
    def evaluate_search(
        self,
        collection_name: str,
        *,
        queries: dict[str, str],
        qrels: dict[str, dict[str, float]],
        configs: Mapping[str, dict[str, Any] | str],
        k: int = 10,
        baseline: str | None = None,
        candidate: str | None = None,
        metric: str = "ndcg@10",
        min_delta: float = 0.0,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> results.EvaluationReport:
        """Score search configurations (dense, BM25, hybrid with a ranker) on labelled queries and gate the candidate.

        ``configs`` name each configuration: ``{"anns_field": "sparse"}`` (the query
        text searched on one field: a BM25 output or a model-bound vector field, with
        optional ``search_params`` and ``filter``), or ``{"reqs": [{"anns_field":
        "dense"}, {"anns_field": "sparse", "limit": 100}], "ranker": {"strategy": "rrf"}}``
        (a hybrid search of the query text), or a registered search configuration version
        (``"docs_search@champion"``, ``"docs_search/2"``: see ``search_with``), whose entry
        then names its ``model_version``. Metrics, comparisons with ``baseline``,
        the verdict and the gate are those of ``evaluate``. Writes nothing.
        """
        return self._dispatch("evaluate_search", arguments_of(locals()))
