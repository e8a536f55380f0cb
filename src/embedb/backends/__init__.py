"""The one contract every EmbeDB mode implements: ``Backend``.

``embedb.connect("./data")`` returns a ``LocalBackend`` (embedded), and
``embedb.connect("http://host:port", token=...)`` an ``HttpBackend``; both are
``Backend``s, and one contract test suite runs over both expecting the same
results and the same exception classes. Method names, parameters and result
shapes are those of pymilvus's ``MilvusClient``: the collection name comes
first, everything else is keyword-only, and results are plain dicts and lists
(JSON-ready) so that the server returns exactly what the embedded engine does.

What the contract does not do: it never retries, never creates a collection
implicitly, and never writes part of a request — a call that raises has
written nothing.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from embedb.errors import InvalidArgumentError
from embedb.schema import CollectionSchema

if TYPE_CHECKING:
    from embedb.collection import Collection

SearchHits = list[list[dict[str, Any]]]

# The most hits one search may return (``limit + offset``), as in Milvus.
MAX_SEARCH_LIMIT = 16_384


class Backend(ABC):
    """A connection to an EmbeDB database (embedded or over HTTP)."""

    # ------------------------------------------------------------ lifecycle

    @abstractmethod
    def close(self) -> None:
        """Release the database (flushes the WAL, stops background work); idempotent."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------- collections

    @abstractmethod
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

    @abstractmethod
    def list_collections(self) -> list[str]:
        """Names of every collection, sorted."""

    @abstractmethod
    def has_collection(self, collection_name: str) -> bool:
        """Whether a collection (not an alias) with that name exists."""

    @abstractmethod
    def describe_collection(self, collection_name: str) -> dict[str, Any]:
        """Schema, partitions, aliases and properties of a collection (name or alias)."""

    @abstractmethod
    def drop_collection(self, collection_name: str) -> None:
        """Drop a collection and its data; raises ``CollectionNotFoundError``."""

    @abstractmethod
    def rename_collection(self, old_name: str, new_name: str) -> None:
        """Rename a collection; aliases keep pointing at it."""

    @abstractmethod
    def get_collection_stats(self, collection_name: str) -> dict[str, Any]:
        """``{"row_count": live rows, ...}`` plus storage details."""

    # ----------------------------------------------------------- partitions

    @abstractmethod
    def create_partition(self, collection_name: str, partition_name: str) -> None:
        """Add a partition; raises ``PartitionAlreadyExistsError``."""

    @abstractmethod
    def drop_partition(self, collection_name: str, partition_name: str) -> None:
        """Delete a partition and every row in it."""

    @abstractmethod
    def has_partition(self, collection_name: str, partition_name: str) -> bool:
        """Whether the partition exists."""

    @abstractmethod
    def list_partitions(self, collection_name: str) -> list[str]:
        """Partition names, ``_default`` first."""

    # -------------------------------------------------------------- aliases

    @abstractmethod
    def create_alias(self, collection_name: str, alias: str) -> None:
        """Give a collection another name usable by every data call."""

    @abstractmethod
    def alter_alias(self, collection_name: str, alias: str) -> None:
        """Re-point an existing alias to another collection, atomically."""

    @abstractmethod
    def drop_alias(self, alias: str) -> None:
        """Remove an alias (the collection stays)."""

    @abstractmethod
    def list_aliases(self, collection_name: str | None = None) -> dict[str, Any]:
        """``{"aliases": [...], "collection_name": ...}`` (all aliases when no collection is named)."""

    @abstractmethod
    def describe_alias(self, alias: str) -> dict[str, Any]:
        """``{"alias": ..., "collection_name": ...}``; raises ``AliasNotFoundError``."""

    # ----------------------------------------------------------------- data

    @abstractmethod
    def insert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add rows (list of dicts, dict of columns, Arrow table or DataFrame).

        A model-bound vector field is embedded from its source text; vectors you
        bring for it must name their model version in ``embedding_versions``
        (``{"embedding": "models:/minilm/1"}``). Returns ``{"insert_count": n,
        "ids": [...]}``. Raises ``DataError`` (naming row and field) or
        ``DuplicateKeyError`` and then writes nothing.
        """

    @abstractmethod
    def upsert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Insert rows or replace those with the same primary key, atomically; ``{"upsert_count": n}``."""

    @abstractmethod
    def delete(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any | None = None,
        *,
        filter: str | None = None,
        partition_name: str | None = None,
    ) -> dict[str, Any]:
        """Delete by primary keys or by filter; ``{"delete_count": n}``."""

    @abstractmethod
    def get(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any,
        *,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows with the given primary keys, in that order; missing keys are skipped."""

    @abstractmethod
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
    ) -> list[dict[str, Any]]:
        """Rows matching a filter, ordered by primary key; ``output_fields=["count(*)"]`` counts."""

    @abstractmethod
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
    ) -> SearchHits:
        """Nearest neighbours: one list of hits per query, each ``{"id", "distance", "entity"}``.

        ``data`` is vectors, or query text for a model-bound field (embedded by the
        model version whose vectors it is compared to: the serving one, or
        ``embedding_version``). While an experiment runs on the field, text
        searches are routed by it (``user_key`` keeps a user in one arm) and each
        hit also carries ``query_id`` and ``arm``.
        """

    @abstractmethod
    def flush(self, collection_name: str) -> None:
        """Seal in-memory rows into segment files (data is already durable in the WAL)."""

    @abstractmethod
    def compact(self, collection_name: str) -> dict[str, Any]:
        """Merge small or deletion-heavy segments now; ``{"merged_segments": n}``."""

    # -------------------------------------------------------------- indexes

    @abstractmethod
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

    @abstractmethod
    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        """Index names of a collection (only the one on ``field_name`` when given)."""

    @abstractmethod
    def describe_index(self, collection_name: str, index_name: str) -> dict[str, Any]:
        """Type, metric, parameters and build progress (``state``: Finished / InProgress / Failed, ``indexed_rows``...).

        Raises ``IndexNotFoundError``.
        """

    @abstractmethod
    def drop_index(self, collection_name: str, index_name: str) -> None:
        """Remove an index and its files; searches scan exactly from then on. Raises ``IndexNotFoundError``."""

    def wait_for_index(self, collection_name: str, index_name: str, *, timeout: float | None = None) -> dict[str, Any]:
        """Poll ``describe_index`` until the index is not building any more (or ``timeout`` s passed); return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            description = self.describe_index(collection_name, index_name)
            if description["state"] != "InProgress" or not description.get("builds_enabled", True):
                return description
            if deadline is not None and time.monotonic() >= deadline:
                return description
            time.sleep(0.05)

    # --------------------------------------------- embedding versions, jobs

    @abstractmethod
    def add_embedding_version(
        self,
        collection_name: str,
        field_name: str,
        model: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Start a backfill: embed every row of a model-bound field with another model version.

        New writes carry both versions from this call on; search keeps serving the
        current one. Returns the job (``job_id``, ``state``, ``rows_done``,
        ``rows_total``, ``rows_per_second``, ``eta_seconds``...); with ``wait``
        returns when it stopped running. ``progress(done, total)`` is called as
        rows are embedded, waiting or not (over HTTP by a thread that polls the
        job until it stops running). Raises ``AlreadyExistsError`` if the field holds that
        version already.
        """

    @abstractmethod
    def drop_embedding_version(self, collection_name: str, field_name: str, model: str) -> dict[str, Any]:
        """Delete one version's vectors and indexes; ``InUseError`` while it serves, is the rollback
        target, has a model alias, or an experiment or job uses it."""

    @abstractmethod
    def list_jobs(self, collection_name: str | None = None) -> list[dict[str, Any]]:
        """Backfill jobs, oldest first."""

    @abstractmethod
    def get_job(self, job_id: int) -> dict[str, Any]:
        """One job with its progress; raises ``JobNotFoundError``."""

    @abstractmethod
    def wait_job(self, job_id: int, *, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job stops running (done, failed, paused, cancelled) or ``timeout`` passes."""

    @abstractmethod
    def pause_job(self, job_id: int) -> dict[str, Any]:
        """Stop a running job after its current chunk; ``InvalidStateError`` unless it is running."""

    @abstractmethod
    def resume_job(self, job_id: int) -> dict[str, Any]:
        """Continue a paused or failed job from its last finished segment."""

    @abstractmethod
    def cancel_job(self, job_id: int) -> dict[str, Any]:
        """Stop a job for good: its version is retired and the vectors it wrote are dropped."""

    @abstractmethod
    def promote(
        self, collection_name: str, field_name: str, model: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Serve ``model``'s vectors (and index) for the field and move its model alias, in one transaction.

        Raises ``FailedPreconditionError`` unless the version's vectors are complete
        and indexed. Returns ``from_version``, ``to_version``, ``elapsed_ms``.
        """

    @abstractmethod
    def rollback(
        self, collection_name: str, field_name: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Serve the previous version again (the one before the last promotion), in one transaction."""

    @abstractmethod
    def serving_history(self, collection_name: str, field_name: str | None = None) -> list[dict[str, Any]]:
        """Every promotion and rollback of a collection's fields, oldest first."""

    # ------------------------------------------------------- model registry

    @abstractmethod
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
    ) -> dict[str, Any]:
        """Store a model as the next immutable version of ``name``; return the version.

        ``source``: a model object (embedded only), a local path (a sentence-transformers
        directory, an ONNX file; over HTTP a path on the server), an import path
        ``"package.module:callable"``, or an MLflow ``models:/`` URI.
        """

    @abstractmethod
    def list_models(self) -> list[dict[str, Any]]:
        """Registered models with their aliases and latest version."""

    @abstractmethod
    def describe_model(self, name: str) -> dict[str, Any]:
        """One registered model; raises ``ModelNotFoundError``."""

    @abstractmethod
    def list_model_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a model, oldest first."""

    @abstractmethod
    def describe_model_version(self, model: str) -> dict[str, Any]:
        """The version a URI names (``models:/name/3``, ``name@champion``, ``name``)."""

    @abstractmethod
    def set_model_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """Point an alias at a READY version (recorded in the alias history); return that version."""

    @abstractmethod
    def delete_model_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        """Remove an alias (recorded in the alias history)."""

    @abstractmethod
    def model_alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        """Every alias move of a model (or of one alias), oldest first: who, when, why, from, to."""

    @abstractmethod
    def set_model_tag(self, name: str, key: str, value: str, *, version: int | None = None) -> None:
        """Set a tag on a model or on one of its versions."""

    @abstractmethod
    def delete_model_version(self, name: str, version: int) -> dict[str, Any]:
        """Delete a version; ``InUseError`` while an alias points at it or a collection holds its vectors."""

    # ---------------------------------------------- experiments, evaluation

    @abstractmethod
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
    ) -> dict[str, Any]:
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

    @abstractmethod
    def get_experiment(self, experiment_id: int) -> dict[str, Any]:
        """An experiment's settings and state; raises ``ExperimentNotFoundError``."""

    @abstractmethod
    def list_experiments(self, collection_name: str | None = None) -> list[dict[str, Any]]:
        """Experiments, oldest first (only one collection's when named)."""

    @abstractmethod
    def experiment_report(self, experiment_id: int) -> dict[str, Any]:
        """The experiment's verdict (``decision``: promote / keep / undecided, ``reason``, the numbers) plus ``arms``.

        Live while it runs (pending logs are written first), frozen once it ended.
        Raises ``ExperimentNotFoundError``.
        """

    @abstractmethod
    def stop_experiment(self, experiment_id: int) -> dict[str, Any]:
        """End a running experiment without promoting (its logs and final report stay); raises ``InvalidStateError``."""

    @abstractmethod
    def promote_experiment(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Promote the challenger (serving version and model alias, one transaction) and end the experiment.

        Returns what moved plus ``experiment`` and its final ``report``. Raises
        ``InvalidStateError`` (not running) and ``FailedPreconditionError`` (the
        challenger's index is not built yet).
        """

    @abstractmethod
    def feedback(
        self, collection_name: str, query_id: str, doc_id: Any, *, kind: str = "click", relevance: float | None = None
    ) -> dict[str, Any]:
        """Join a click (``kind="click"``) or a graded ``relevance`` to a logged experiment query; return the event.

        A click must be on a hit the query returned. Raises ``InvalidArgumentError``,
        ``ExperimentNotFoundError`` (no such query) and ``InvalidStateError`` (ended).
        """

    @abstractmethod
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
    ) -> dict[str, Any]:
        """Score model versions of a field on labelled queries (BEIR ``queries``/``qrels``) and gate the candidate.

        Per version: recall@k, nDCG@10, MRR@10 (and, with ``ann_check``, its index's
        recall@k against exact search and its p50/p99 latency). Each other version is
        compared with ``baseline`` (default: the first) on ``metric`` by a paired
        randomization test and a bootstrap interval; ``gate.passed`` is False when
        ``candidate`` (default: the second) is significantly worse by more than
        ``min_delta``. Writes nothing. Raises ``InvalidArgumentError`` and not-found errors.
        """

    # -------------------------------------------------- Milvus compatibility

    def load_collection(self, collection_name: str, **_: Any) -> None:
        """Kept for pymilvus code: collections are always loaded (checks the name exists)."""
        self.describe_collection(collection_name)

    def release_collection(self, collection_name: str, **_: Any) -> None:
        """Kept for pymilvus code: a no-op (memory maps are released by the OS)."""
        self.describe_collection(collection_name)

    def get_load_state(self, collection_name: str, **_: Any) -> dict[str, Any]:
        self.describe_collection(collection_name)
        return {"state": "Loaded"}

    # ---------------------------------------------------------- conveniences

    def collection(self, name: str) -> Collection:
        """A handle on one collection with the same methods minus the name."""
        from embedb.collection import Collection

        self.describe_collection(name)
        return Collection(self, name)

    def query_iterator(
        self,
        collection_name: str,
        *,
        batch_size: int = 1000,
        limit: int = -1,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> QueryIterator:
        """Page through every matching row in primary-key order without holding them all."""
        return QueryIterator(
            self,
            collection_name,
            batch_size=batch_size,
            limit=limit,
            filter=filter,
            output_fields=output_fields,
            partition_names=partition_names,
        )

    def search_iterator(
        self,
        collection_name: str,
        data: Any,
        *,
        batch_size: int = 1000,
        limit: int = -1,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> SearchIterator:
        """Page through the hits of one query, closest first, by a distance cursor (not capped like ``search``)."""
        return SearchIterator(
            self,
            collection_name,
            data,
            batch_size=batch_size,
            limit=limit,
            filter=filter,
            output_fields=output_fields,
            search_params=search_params,
            anns_field=anns_field,
            partition_names=partition_names,
        )


def _check_batch_size(batch_size: int, limit: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < -1:
        raise InvalidArgumentError(f"limit must be -1 (no limit) or a non-negative integer, got {limit!r}")


class QueryIterator:
    """pymilvus-style iterator: ``next()`` returns the next page (empty at the end); also iterable."""

    def __init__(
        self,
        backend: Backend,
        collection_name: str,
        *,
        batch_size: int,
        limit: int,
        filter: str,
        output_fields: Sequence[str] | None,
        partition_names: Sequence[str] | None,
    ) -> None:
        _check_batch_size(batch_size, limit)
        self._backend = backend
        self._name = collection_name
        self._batch_size = batch_size
        self._remaining = limit
        self._filter = filter
        self._output_fields = list(output_fields or [])
        self._partitions = partition_names
        primary = backend.describe_collection(collection_name)["primary_field"]
        self._primary = primary
        self._last_key: Any = None
        self._closed = False

    def next(self) -> list[dict[str, Any]]:
        if self._closed or self._remaining == 0:
            return []
        size = self._batch_size if self._remaining < 0 else min(self._batch_size, self._remaining)
        conditions = [f"({self._filter})"] if self._filter.strip() else []
        params: dict[str, Any] = {}
        if self._last_key is not None:
            conditions.append(f"{self._primary} > {{__after}}")
            params["__after"] = self._last_key
        page = self._backend.query(
            self._name,
            " and ".join(conditions),
            output_fields=self._output_fields,
            limit=size,
            partition_names=self._partitions,
            filter_params=params or None,
        )
        if page:
            self._last_key = page[-1][self._primary]
            if self._remaining > 0:
                self._remaining -= len(page)
        else:
            self._closed = True
        return page

    def close(self) -> None:
        self._closed = True

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        while page := self.next():
            yield page


class SearchIterator:
    """Pages of hits for one query, closest first; ``next()`` is empty at the end.

    Pages by a cursor, as pymilvus's iterator does, not by offset: each page
    after the first is a range search (``radius``/``range_filter``) bounded by
    the last distance returned so far, minus the ids already returned at exactly
    that distance. So every page costs about the same, and the iteration is not
    capped by the most hits one search may return. Rows written while it runs
    may or may not be returned; a row is never returned twice.
    """

    def __init__(
        self,
        backend: Backend,
        collection_name: str,
        data: Any,
        *,
        batch_size: int,
        limit: int,
        filter: str,
        search_params: dict[str, Any] | None,
        anns_field: str | None,
        **search: Any,
    ) -> None:
        _check_batch_size(batch_size, limit)
        if batch_size > MAX_SEARCH_LIMIT:
            raise InvalidArgumentError(f"batch_size must be at most {MAX_SEARCH_LIMIT}, got {batch_size}")
        if not isinstance(filter, str):
            raise InvalidArgumentError(f"filter must be a string, got {type(filter).__name__}")
        if search_params is not None and not isinstance(search_params, dict):
            raise InvalidArgumentError(f"search_params must be a dict, got {type(search_params).__name__}")
        described = backend.describe_collection(collection_name)
        self._backend = backend
        self._name = collection_name
        self._data = data
        self._batch_size = batch_size
        self._remaining = limit
        self._filter = filter
        self._search_params = search_params or {}
        self._anns_field = anns_field
        self._search = search
        self._primary: str = described["primary_field"]
        self._lower_is_closer = _field_metric(described, anns_field) == "L2"
        self._boundary: float | None = None  # the distance of the last hit returned so far
        self._at_boundary: list[Any] = []  # ids returned at exactly that distance
        self._closed = False

    def next(self) -> list[dict[str, Any]]:
        if self._closed or self._remaining == 0:
            return []
        size = self._batch_size if self._remaining < 0 else min(self._batch_size, self._remaining)
        conditions = [f"({self._filter})"] if self._filter.strip() else []
        params: dict[str, Any] = {}
        if self._at_boundary:
            conditions.append(f"{self._primary} not in {{__returned}}")
            params["__returned"] = self._at_boundary
        hits = self._backend.search(
            self._name,
            self._data,
            limit=size,
            filter=" and ".join(conditions),
            filter_params=params or None,
            search_params=self._page_params(),
            anns_field=self._anns_field,
            **self._search,
        )
        if len(hits) != 1:
            raise InvalidArgumentError("search_iterator takes exactly one query")
        page = hits[0]
        for hit in page:
            if hit["distance"] != self._boundary:
                self._boundary = hit["distance"]
                self._at_boundary = []
            self._at_boundary.append(hit["id"])
        if self._remaining > 0:
            self._remaining -= len(page)
        if len(page) < size:
            self._closed = True
        return page

    def _page_params(self) -> dict[str, Any]:
        """The caller's search parameters, with the range narrowed to what lies at or beyond the boundary."""
        if self._boundary is None:
            return self._search_params
        nested = self._search_params.get("params")
        inner = dict(nested) if isinstance(nested, dict) else dict(self._search_params)
        radius = inner.get("radius")
        range_filter = inner.get("range_filter")
        if self._lower_is_closer:  # L2 keeps range_filter <= distance < radius
            inner["radius"] = _FARTHEST if radius is None else radius
            if self._boundary > 0:  # a distance shown as 0 may hide a tiny negative one: no lower bound then
                inner["range_filter"] = self._boundary if range_filter is None else max(range_filter, self._boundary)
        else:  # IP and COSINE keep radius < distance <= range_filter
            inner["radius"] = -_FARTHEST if radius is None else radius
            inner["range_filter"] = self._boundary if range_filter is None else min(range_filter, self._boundary)
        if isinstance(nested, dict):
            return {**self._search_params, "params": inner}
        return inner

    def close(self) -> None:
        self._closed = True

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        while page := self.next():
            yield page


# A bound no distance reaches: float32's largest value (scores are float32).
_FARTHEST = 3.4028234663852886e38


def _field_metric(described: dict[str, Any], anns_field: str | None) -> str:
    """The metric of the vector field a search reads (the only one when ``anns_field`` is None)."""
    vectors = [field for field in described["fields"] if field.get("metric_type")]
    chosen = [field for field in vectors if anns_field is None or field["name"] == anns_field]
    if len(chosen) != 1:
        return ""  # let the search raise the error it raises for a bad anns_field
    return str(chosen[0]["metric_type"]).upper()
