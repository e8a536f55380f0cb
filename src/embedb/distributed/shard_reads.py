"""``ShardReads``: what a shard answers the router besides operations — checks, resolutions, samples, measurements.

A part of ``ShardServer`` (it runs in the shard's actor, on its engine): the
metric a field ranks by, a text query's vectors, drift samples, an index tuning's
measurement, a model made on gathered rows, the running experiment of a field, search configurations, and the
checks a decision needs of every shard's rows. Each answers a value or ``Failed``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from embedb.backends.local import LocalBackend
from embedb.distributed.gathered import DeferredRegistration, GatheredRows, RowsWanted
from embedb.distributed.object_store import ObjectStore
from embedb.distributed.shard_base import CollectionView, ReadWriteLock, outcome_of
from embedb.engine.collections import altered_field, refuse_longer_values
from embedb.engine.drift import DriftOperation, DriftPlan, sample_kind
from embedb.engine.retraining import RetrainingOperation
from embedb.engine.samples import stored_sample
from embedb.engine.selection import SelectionOperation
from embedb.engine.tuning import check_tune_settings
from embedb.errors import InvalidArgumentError
from embedb.experiments import CONFIG_FLAVOR, ExperimentRecord, config_route
from embedb.schema import MetricType
from embedb.search import arm_indexes

# The catalog record of an index recipe one shard measured (``tune_measure``), adopted by every shard's index.
TUNED_INDEX = "tuned_index"
# The catalog record of a policy's step (``embedb.distributed.policies``), written by every shard's engine.
POLICY_STEP = "policy_step"
# What ``TuningOperation.measure`` takes of a ``tune_index`` request (``apply`` is the adoption's, ``progress`` stays at the router).
TUNE_SETTINGS = ("recall", "k", "trials", "sample_rows", "max_memory_mb", "max_build_s", "seed")  # its checks
TUNE_ARGUMENTS = (
    "recall", "k", "index_types", "trials", "sample_rows", "queries", "max_memory_mb", "max_build_s",
    "embedding_version", "seed",
)  # fmt: skip


class ShardReads:
    """The shard's answers to the router that are not contract operations."""

    backend: LocalBackend
    lock: ReadWriteLock
    store: ObjectStore
    directory: Path
    long_reads: int
    long_reads_guard: threading.Lock

    @contextmanager
    def outside_the_lock(self) -> Iterator[None]:
        """A long read (a training, a tuning, a drift sample) that does not hold the shard's lock — a decision
        waiting for it would hold every read of the shard behind it — but keeps the engine open: a snapshot,
        which closes it, is put off until the read ends."""
        with self.lock.reading(), self.long_reads_guard:  # no snapshot is under way when the read starts
            self.long_reads += 1
        try:
            yield
        finally:
            with self.long_reads_guard:
                self.long_reads -= 1

    def metric(self, collection_name: str, anns_field: str | None) -> Any:
        """The metric a search of this field ranks by (its ``MetricType`` value), or ``Failed``."""

        def metric_of() -> str:
            metadata = self.backend.database.metadata
            field = metadata.search_field(metadata.info(collection_name), anns_field)
            return (field.metric_type or MetricType.IP).value

        with self.lock.reading():
            return outcome_of(metric_of)

    def query_vectors(self, arguments: dict[str, Any]) -> Any:
        """A search's text embedded once for every shard (``SearchOperation.query_vectors``): (URI, vectors), None, or ``Failed``."""
        searching = self.backend.database.searching
        with self.lock.reading():
            return outcome_of(
                lambda: searching.query_vectors(
                    arguments["collection_name"],
                    arguments["data"],
                    arguments.get("anns_field"),
                    arguments.get("embedding_version"),
                )
            )

    def drift_plan(self, arguments: dict[str, Any]) -> Any:
        """A drift request checked as one node checks it (``DriftOperation.plan``), or ``Failed``."""
        with self.lock.reading():
            return outcome_of(lambda: self._drift_plan(arguments)[1])

    def drift_sample(self, arguments: dict[str, Any], role: str, seed: list[int]) -> Any:
        """A drift sample drawn on this shard with ``seed``: (vectors, keys or None, rows matched), or ``Failed``.

        A filter samples this shard's rows (``embedb.distributed.drifting`` merges the shards' draws); texts,
        vectors and logged windows are the same on every shard.
        """

        def sample() -> tuple[Any, list[Any] | None, int]:
            drifting, plan = self._drift_plan(arguments)
            rng = np.random.default_rng(seed)
            if sample_kind(arguments[role], role)[0] == "filter":
                return drifting.stored(plan, arguments[role]["filter"], role, rng)
            vectors, _ = drifting.sample(plan, arguments[role], role, rng)
            return vectors, None, len(vectors)

        # Outside the shard's lock: embedding thousands of texts takes a while. The sample reads the version it was given.
        with self.outside_the_lock():
            return outcome_of(sample)

    def _drift_plan(self, arguments: dict[str, Any]) -> tuple[DriftOperation, DriftPlan]:
        drifting = self.backend.database.drifting
        plan = drifting.plan(
            arguments["collection_name"],
            arguments["field_name"],
            tests=arguments["tests"],
            max_rows=arguments["max_rows"],
            embedding_version=arguments["embedding_version"],
            seed=arguments["seed"],
        )
        return drifting, plan

    def tune_sample(self, arguments: dict[str, Any], seed: list[int]) -> Any:
        """This shard's seeded sample for an index tuning (checked as one node checks the request):
        (vectors, keys, rows it holds), or ``Failed``; the router draws one sample of the collection from them."""
        tuning = self.backend.database.tuning

        def sample() -> tuple[Any, list[Any], int]:
            check_tune_settings(*(arguments[name] for name in TUNE_SETTINGS))
            return tuning.sample(
                arguments["collection_name"], arguments["field_name"], arguments["embedding_version"],
                arguments["sample_rows"], seed,
            )  # fmt: skip

        with self.lock.reading():
            return outcome_of(sample)

    def tune_measure(self, arguments: dict[str, Any], rows: Any) -> Any:
        """An index tuning measured on ``rows`` (the router's sample of every shard), nothing written:
        (report, adoption), or ``Failed``; every shard adopts the recipe through the catalog (``TUNED_INDEX``)."""
        measured = {name: arguments[name] for name in TUNE_ARGUMENTS}
        # Outside the shard's lock: a tuning takes minutes. The engine is thread-safe, as on one node.
        with self.outside_the_lock():
            return outcome_of(
                lambda: self.backend.database.tuning.measure(
                    arguments["collection_name"], arguments["field_name"], rows=rows, **measured
                )
            )

    def sample_keys(self, collection_name: str, column_key: str, rows: int, seed: list[int]) -> Any:
        """This shard's seeded sample of ``rows`` rows holding ``column_key``: (an empty column per row, keys,
        rows it holds), or ``Failed``; the router draws one sample of the collection from them."""

        def sample() -> tuple[Any, list[Any], int]:
            metadata = self.backend.database.metadata
            info = metadata.info(collection_name)
            rng = np.random.default_rng(seed)
            _, keys, total = stored_sample(metadata, info, column_key, 0, "", rows, rng)
            return np.empty((len(keys), 0)), keys, total

        with self.lock.reading():
            return outcome_of(sample)

    def make_model(
        self,
        operation: str,
        arguments: dict[str, Any],
        texts: dict[tuple[str, str], dict[Any, str | None]],
        samples: dict[tuple[Any, ...], list[Any]],
    ) -> Any:
        """``fine_tune`` or ``select_model`` on the rows the router gathered (``embedb.distributed.gathered``):
        ("wanted", request) while it needs more, ("made", report, deferred registrations) once it ran, or ``Failed``."""

        def run() -> tuple[Any, ...]:
            database = self.backend.database  # the engine open now (a snapshot reopens it)
            rows = GatheredRows(texts, samples)
            registration = DeferredRegistration(self.store, self.directory / "made")
            making: SelectionOperation | RetrainingOperation
            if operation == "select_model":
                making = SelectionOperation(database.metadata, database.models, rows, registration)
            else:
                making = RetrainingOperation(
                    database.metadata, database.models, rows, registration, database.experiments
                )
            try:
                report = getattr(making, operation)(**arguments)
            except RowsWanted as wanted:
                return "wanted", wanted.request
            return "made", report, registration.pending

        # Outside the shard's lock: a training takes minutes. What it registers is a decision the router logs after.
        with self.outside_the_lock():
            return outcome_of(run)

    def policy_read(self, what: str, collection_name: str, field: str | None) -> Any:
        """What the router's policy loop reads: the collection's ``name`` (an alias resolved), a field's policy
        ``row`` (config, state, data) or the version ``serving`` it; or ``Failed``."""
        policies = self.backend.database.policies

        def read() -> Any:
            info = policies.metadata.info(collection_name)
            if what == "name":
                return info.name
            if what == "serving":
                return policies._serving(info, str(field))
            return policies._row(info, str(field))

        with self.lock.reading():
            return outcome_of(read)

    def running_experiment(self, collection_name: str, anns_field: str | None) -> Any:
        """The experiment routing searches of this field (with its arms' index descriptions), None, or ``Failed``."""

        def running() -> tuple[ExperimentRecord, dict[str, str]] | None:
            database = self.backend.database
            info = database.metadata.info(collection_name)
            field = database.metadata.search_field(info, anns_field).name
            record = database.experiments.routes.get(info.id, {}).get(field)
            if record is None:
                return None
            return record, arm_indexes(database.indexes.collection(info), record)

        with self.lock.reading():
            return outcome_of(running)

    def measure_ann(self, collection_name: str, field_name: str, ref: str, texts: list[str], k: int) -> Any:
        """This shard's index on version ``ref`` against exact search, for ``texts`` (an evaluation's ANN check)."""
        with self.lock.reading():
            return outcome_of(
                lambda: self.backend.database.evaluation.ann_of_texts(collection_name, field_name, ref, texts, k)
            )

    def version_uri(self, collection_name: str, field_name: str, ref: str) -> Any:
        """The URI of the model version ``ref`` names, checked to be held by the field, or ``Failed``."""

        def uri() -> str:
            database = self.backend.database
            info = database.metadata.info(collection_name)
            field = database.metadata.search_field(info, field_name)
            return database.evaluation.field_version(info, field.name, ref).uri

        with self.lock.reading():
            return outcome_of(uri)

    def check_field_change(self, collection_name: str, field_name: str, field_params: dict[str, Any]) -> Any:
        """``Failed`` with the error one node raises if a row of this shard breaks the field's new limits, else None."""

        def check() -> None:
            metadata = self.backend.database.metadata
            info = metadata.info(collection_name)
            altered = altered_field(info.schema, field_name, field_params)
            if altered is not None:
                refuse_longer_values(metadata.store(info).snapshot(), altered)

        with self.lock.reading():
            return outcome_of(check)

    def search_config(self, collection_name: str, config: str) -> Any:
        """What ``search_with`` runs: the configuration ``config`` names, and the experiment routing it (or None)."""

        def resolved() -> dict[str, Any]:
            database = self.backend.database
            info = database.metadata.info(collection_name)
            version = database.models.resolve(config)
            if version.flavor != CONFIG_FLAVOR:
                raise InvalidArgumentError(
                    f"{version.uri} is a {version.flavor} model, not a search configuration", argument="config"
                )
            record = database.experiments.routes.get(info.id, {}).get(config_route(version.name))
            routed = record if record is not None and record.champion_version == version.uri else None
            return {"config": self.config_of(version.uri), "experiment": routed}

        with self.lock.reading():
            return outcome_of(resolved)

    def registered_config(self, ref: str) -> Any:
        """(version URI, configuration) of a registered search configuration, or ``Failed``."""

        def resolved() -> tuple[str, dict[str, Any]]:
            version = self.backend.database.models.resolve(ref)
            if version.flavor != CONFIG_FLAVOR:
                raise InvalidArgumentError(
                    f"configs: {ref!r} is a {version.flavor} model, not a search configuration", field="configs"
                )
            return version.uri, self.config_of(version.uri)

        with self.lock.reading():
            return outcome_of(resolved)

    def config_of(self, uri: str) -> dict[str, Any]:
        """The configuration a search configuration version holds."""
        config: dict[str, Any] = self.backend.database.models.load(uri).search_config
        return config

    def collection_view(self, collection_name: str) -> Any:
        """The router's ``CollectionView`` of a collection, or ``Failed``."""

        def read() -> CollectionView:
            metadata = self.backend.database.metadata
            info = metadata.info(collection_name)
            return CollectionView(info.schema, metadata.filter_context(info), info.id, info.num_shards)

        with self.lock.reading():
            return outcome_of(read)
