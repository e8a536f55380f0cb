"""A handle on one collection: the client's data methods with the name filled in.

``db.collection("docs").search(...)`` is ``db.search("docs", ...)``. The handle
holds only the backend and the name; it does no validation and keeps no state
of its own, so it works the same embedded and over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from embedb.contract import Backend, SearchHits, results
from embedb.errors import JobNotFoundError
from embedb.experiment import Experiment
from embedb.iterators import QueryIterator, SearchIterator
from embedb.job import Job


class Collection:
    """One collection of a ``Backend``."""

    def __init__(self, backend: Backend, name: str) -> None:
        self.backend = backend
        self.name = name

    def __repr__(self) -> str:
        return f"Collection({self.name!r})"

    def describe(self) -> results.CollectionDescription:
        return self.backend.describe_collection(self.name)

    def stats(self) -> results.CollectionStats:
        return self.backend.get_collection_stats(self.name)

    def insert(
        self, data: Any, *, partition_name: str | None = None, embedding_versions: dict[str, str] | None = None
    ) -> results.InsertResult:
        return self.backend.insert(
            self.name, data, partition_name=partition_name, embedding_versions=embedding_versions
        )

    def upsert(
        self,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
        partial_update: bool = False,
        field_ops: dict[str, str] | None = None,
    ) -> results.UpsertResult:
        return self.backend.upsert(
            self.name,
            data,
            partition_name=partition_name,
            embedding_versions=embedding_versions,
            partial_update=partial_update,
            field_ops=field_ops,
        )

    def delete(self, ids: Sequence[Any] | Any | None = None, *, filter: str | None = None, partition_name: str | None = None) -> results.DeleteResult:
        return self.backend.delete(self.name, ids, filter=filter, partition_name=partition_name)

    def get(self, ids: Sequence[Any] | Any, **options: Any) -> list[results.Row]:
        return self.backend.get(self.name, ids, **options)

    def query(self, filter: str = "", **options: Any) -> list[results.Row]:
        return self.backend.query(self.name, filter, **options)

    def search(self, data: Any, **options: Any) -> SearchHits:
        return self.backend.search(self.name, data, **options)

    def search_with(self, config: str, data: str | list[str], **options: Any) -> SearchHits:
        """Search with query text as the search configuration version ``config`` says (``Backend.search_with``)."""
        return self.backend.search_with(self.name, config, data, **options)

    def drift(self, field_name: str, *, reference: dict[str, Any], current: dict[str, Any], **options: Any) -> results.DriftReport:
        """Test whether the field's ``current`` sample drifted from ``reference`` (``Backend.drift``)."""
        return self.backend.drift(self.name, field_name, reference=reference, current=current, **options)

    def tune_index(self, field_name: str, **options: Any) -> results.TuneReport:
        """The fastest index for ``field_name`` that meets a recall target (``Backend.tune_index``)."""
        return self.backend.tune_index(self.name, field_name, **options)

    def fine_tune(self, field_name: str, **options: Any) -> results.FineTuneReport:
        """Fine-tune the field's serving model on feedback; register the new version (``Backend.fine_tune``)."""
        return self.backend.fine_tune(self.name, field_name, **options)

    def monitor(self, field_name: str, **options: Any) -> results.MonitorReport:
        """The field's searches and feedback per model version over time (``Backend.monitor``)."""
        return self.backend.monitor(self.name, field_name, **options)

    def decay(self, field_name: str, **options: Any) -> results.DecayReport:
        """Whether a model version of the field decayed against its own history (``Backend.decay``)."""
        return self.backend.decay(self.name, field_name, **options)

    def select_model(self, field_name: str, **options: Any) -> results.SelectionReport:
        """Score candidate models for the field on judged queries (``Backend.select_model``)."""
        return self.backend.select_model(self.name, field_name, **options)

    def set_policy(self, field_name: str, policy: dict[str, Any]) -> results.PolicyInfo:
        """Set the policy of a model-bound field (``Backend.set_policy``)."""
        return self.backend.set_policy(self.name, field_name, policy)

    def run_policy(
        self,
        field_name: str,
        *,
        approve: bool = False,
        actor: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> results.PolicyStep:
        """Take or name the next step of the field's loop (``Backend.run_policy``)."""
        return self.backend.run_policy(self.name, field_name, approve=approve, actor=actor, progress=progress)

    def query_iterator(self, **options: Any) -> QueryIterator:
        return QueryIterator(self.backend, self.name, **options)

    def search_iterator(self, data: Any, **options: Any) -> SearchIterator:
        return SearchIterator(self.backend, self.name, data, **options)

    def count(self, filter: str = "") -> int:
        """Live rows matching ``filter`` (all rows when empty)."""
        return int(self.backend.query(self.name, filter, output_fields=["count(*)"])[0]["count(*)"])

    def flush(self) -> None:
        self.backend.flush(self.name)

    def compact(self) -> results.CompactResult:
        return self.backend.compact(self.name)

    def create_partition(self, partition_name: str) -> None:
        self.backend.create_partition(self.name, partition_name)

    def drop_partition(self, partition_name: str) -> None:
        self.backend.drop_partition(self.name, partition_name)

    def list_partitions(self) -> list[str]:
        return self.backend.list_partitions(self.name)

    def has_partition(self, partition_name: str) -> bool:
        return self.backend.has_partition(self.name, partition_name)

    # --------------------------------------------- embedding versions, jobs

    def add_embedding_version(
        self, field_name: str, model: str, *, progress: Callable[[int, int], None] | None = None
    ) -> Job:
        """Start a backfill of a model-bound field with another model version; return the job's handle."""
        started = self.backend.add_embedding_version(self.name, field_name, model, progress=progress)
        return Job(self.backend, int(started["job_id"]))

    def job(self, job_id: int) -> Job:
        """A handle on an existing backfill job of this collection (after a restart, say).

        Raises ``JobNotFoundError`` for an unknown id and for a job of another
        collection, ``InvalidArgumentError`` for an id that is not an integer.
        """
        found = self.backend.get_job(job_id)
        if found["collection_name"] != self.name and all(j["job_id"] != job_id for j in self.backend.list_jobs(self.name)):
            raise JobNotFoundError(f"job {job_id} is not a job of collection {self.name!r}", job_id=job_id)
        return Job(self.backend, job_id)

    def list_jobs(self) -> list[results.Job]:
        """This collection's backfill jobs, oldest first."""
        return self.backend.list_jobs(self.name)

    def drop_embedding_version(self, field_name: str, model: str) -> results.DroppedVersion:
        return self.backend.drop_embedding_version(self.name, field_name, model)

    def promote(self, field_name: str, model: str, *, reason: str | None = None, actor: str | None = None) -> results.ServingChange:
        """Serve ``model``'s vectors for the field and move its model alias, in one transaction."""
        return self.backend.promote(self.name, field_name, model, reason=reason, actor=actor)

    def rollback(self, field_name: str, *, reason: str | None = None, actor: str | None = None) -> results.ServingChange:
        """Serve the version before the last promotion again, in one transaction."""
        return self.backend.rollback(self.name, field_name, reason=reason, actor=actor)

    def serving_history(self, field_name: str | None = None) -> list[results.ServingHistoryEntry]:
        return self.backend.serving_history(self.name, field_name)

    # ---------------------------------------------- experiments, evaluation

    def start_experiment(self, field_name: str, *, champion: str, challenger: str, mode: str, **options: Any) -> Experiment:
        """Start an online experiment on a model-bound field (see ``Backend.start_experiment``); return its handle."""
        started = self.backend.start_experiment(
            self.name, field_name, champion=champion, challenger=challenger, mode=mode, **options
        )
        return Experiment(self.backend, int(started["experiment_id"]))

    def experiment(self, experiment_id: int) -> Experiment:
        """A handle on an existing experiment; raises ``ExperimentNotFoundError``."""
        self.backend.get_experiment(experiment_id)
        return Experiment(self.backend, experiment_id)

    def list_experiments(self) -> list[results.ExperimentInfo]:
        return self.backend.list_experiments(self.name)

    def feedback(self, query_id: str, doc_id: Any, *, kind: str = "click", relevance: float | None = None) -> results.FeedbackEvent:
        """Join a click or a graded relevance to the experiment query ``query_id`` (a hit's ``query_id``)."""
        return self.backend.feedback(self.name, query_id, doc_id, kind=kind, relevance=relevance)

    def evaluate(self, field_name: str, **options: Any) -> results.EvaluationReport:
        """Score model versions of a field on labelled queries (see ``Backend.evaluate``)."""
        return self.backend.evaluate(self.name, field_name, **options)
