"""The experiments of one data directory: start, route, log, join feedback, report, stop, promote.

One ``ExperimentService`` runs per database (``embedb.engine.Database``, which
every client of a data directory in one process shares). It keeps ``routes`` — the RUNNING experiments by collection id and
field — which the backend's search checks with one dict lookup; the dict is
replaced, never changed in place, so searches read it without a lock. RUNNING
experiments are loaded again when the data directory reopens, so routing and
logging survive restarts. Query logs go through a :class:`QueryLog` (batched, off
the search path); shadow searches of the challenger run on one background thread
with a bounded backlog, so a slow challenger never slows the answer. A routed
query the log could not write is counted per experiment (in the catalog, or in
memory until the catalog takes writes again), and every report says how many
its experiment lost.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from embedb.errors import (
    ExperimentNotFoundError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidStateError,
)
from embedb.evaluation import Decision
from embedb.experiments.configs import CONFIG_FLAVOR, Arms, config_arms, is_config_route
from embedb.experiments.query_log import QueryLog
from embedb.experiments.records import (
    Arm,
    ExperimentMode,
    ExperimentRecord,
    ExperimentState,
    ExperimentStore,
    Feedback,
    HorizonData,
    QueryLogEntry,
    check_settings,
)
from embedb.experiments.report import ExperimentReport, build_report
from embedb.experiments.routing import ArmSearch, Hits, RouteContext, route
from embedb.lifecycle import EmbeddingVersionState, LifecycleService
from embedb.models import ModelVersion, parse_model_uri
from embedb.storage import CollectionInfo

MAX_SHADOW_BACKLOG = 64
FEEDBACK_KINDS = ("click", "relevance")

log = logging.getLogger(__name__)


class ExperimentService:
    """Experiments of one engine, their routing table, their query log and their shadow executor."""

    def __init__(self, lifecycle: LifecycleService, *, read_only: bool) -> None:
        self.lifecycle = lifecycle
        self.catalog = lifecycle.catalog
        self.registry = lifecycle.registry
        self.pause_points = lifecycle.pause_points
        self.store = ExperimentStore(self.catalog)
        self.log: QueryLog[QueryLogEntry] = QueryLog(self.store.insert_queries, on_drop=self._count_dropped)
        # Lost log entries per experiment not yet counted in the catalog (it may be what failed).
        self._unrecorded_drops: Counter[int] = Counter()
        self._drops_lock = threading.Lock()
        self.routes: dict[int, dict[str, ExperimentRecord]] = {}
        # Lock order: ``_lock`` (one start or end at a time), then the catalog's, then ``_routes_lock``, which
        # is taken last and alone: a promotion ends experiments inside its catalog transaction.
        self._lock = threading.RLock()
        self._routes_lock = threading.Lock()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: set[concurrent.futures.Future[None]] = set()
        self._closed = False
        # Where an experiment's salt comes from: random here; a cluster's shard derives it from the catalog
        # position that started the experiment, so every shard (and every replay) assigns users alike.
        self.make_salt: Callable[[], str] = lambda: secrets.token_hex(8)
        if not read_only:  # a read-only client cannot log, so it never routes
            for record in self.store.select(state=ExperimentState.RUNNING):
                self._set_route(record, routed=True)

    # ------------------------------------------------------------- control

    def start(
        self,
        info: CollectionInfo,
        field: str,
        *,
        champion: str,
        challenger: str,
        mode: str,
        split: float,
        k: int,
        alpha: float,
        sequential: bool,
        horizon: int | None,
    ) -> ExperimentRecord:
        """Start routing text searches of ``field`` through a new experiment; return it.

        Raises ``InvalidArgumentError`` (bad mode or settings, the same version twice),
        the registry's not-found errors, and ``FailedPreconditionError`` when the champion
        does not serve the field, the challenger's vectors are not complete, or another
        experiment is running on the field.
        """
        parsed = ExperimentMode.parse(mode)
        check_settings(split=split, k=k, alpha=alpha, sequential=sequential, horizon=horizon)
        on_config = not info.schema.has_field(field)  # an experiment on a search configuration model's versions
        if not on_config:
            self.lifecycle.binding(info, field)  # a field that is not model-bound fails before any lookup
        champion_model = self.registry.resolve(champion)
        challenger_model = self.registry.resolve(challenger)
        if on_config and champion_model.flavor != CONFIG_FLAVOR:
            info.schema.field(field)  # neither a field nor a configuration experiment: FieldNotFoundError
        if not on_config and champion_model.flavor == CONFIG_FLAVOR:
            raise InvalidArgumentError(
                f"{field!r} is a field of {info.name!r}: an experiment on it compares the field's embedding versions, and "
                f"{champion_model.uri} is a search configuration (name its model instead; one named like a field cannot be used)",
                field="field_name",
            )
        routed: list[ExperimentRecord] = []
        with self._lock, self._unrouted_on_error(routed), self.catalog.transaction() as cursor:
            if on_config:
                arms = config_arms(field, champion_model, challenger_model)
            else:  # checked against what this transaction sees: a promotion or a drop that commits first is seen
                arms = self._field_arms(cursor, info, field, champion, champion_model, challenger_model)
            route_field, (champion_uri, champion_key), (challenger_uri, challenger_key) = arms
            running = [r for r in self.store.select(info.id, state=ExperimentState.RUNNING) if r.field == route_field]
            if running:
                raise FailedPreconditionError(
                    f"experiment {running[0].id} is already running on {route_field!r} of {info.name!r}; stop or promote it first"
                )
            experiment_id = self.store.create(
                cursor,
                collection_id=info.id,
                field=route_field,
                mode=parsed.value,
                champion=champion,
                challenger=challenger,
                champion_version=champion_uri,
                challenger_version=challenger_uri,
                champion_key=champion_key,
                challenger_key=challenger_key,
                split=float(split),
                k=k,
                alpha=float(alpha),
                sequential=int(sequential),
                horizon=horizon,
                salt=self.make_salt(),
            )
            self.catalog.record_event(
                cursor,
                "experiment.start",
                info.name,
                experiment=experiment_id,
                field=route_field,
                mode=parsed.value,
                champion=champion_uri,
                challenger=challenger_uri,
            )
            # Routed before the commit, under the catalog's lock: a promotion that ends it commits after this
            # and takes the route away, so it can never route after it ended.
            record = self.store.get(experiment_id)
            self._set_route(record, routed=True)
            routed.append(record)
            self.pause_points.reach("experiments.start.checked")
        self.pause_points.reach("experiments.start.committed")
        return record

    def _field_arms(
        self,
        cursor: sqlite3.Cursor,
        info: CollectionInfo,
        field: str,
        champion: str,
        champion_model: ModelVersion,
        challenger_model: ModelVersion,
    ) -> Arms:
        """The arms of an experiment on a model-bound field: the serving version against a READY one."""
        binding = self.lifecycle.binding_in(cursor, info, field)
        champion_version = binding.version(champion_model)
        challenger_version = binding.version(challenger_model)
        if champion_version.column_key == challenger_version.column_key:
            raise InvalidArgumentError(f"champion and challenger are both {champion_version.uri}", field="challenger")
        if champion_version.column_key != binding.serving_key:
            raise FailedPreconditionError(
                f"the champion must be the version serving field {field!r}: {binding.serving.uri} serves it, "
                f"{champion} is {champion_version.uri}"
            )
        if challenger_version.state is not EmbeddingVersionState.READY:
            raise FailedPreconditionError(
                f"{challenger_version.uri} of field {field!r} is {challenger_version.state.value}: wait for its backfill job"
            )
        return (
            field,
            (champion_version.uri, champion_version.column_key),
            (challenger_version.uri, challenger_version.column_key),
        )

    @contextlib.contextmanager
    def _unrouted_on_error(self, routed: list[ExperimentRecord]) -> Iterator[None]:
        """Take the routes in ``routed`` away again if the block raises (their transaction did not commit)."""
        try:
            yield
        except BaseException:
            for record in routed:
                self._set_route(record, routed=False)
            raise

    def end_on_serving_change(self, cursor: sqlite3.Cursor, info: CollectionInfo, field: str, why: str) -> list[int]:
        """Stop the experiments running on ``field`` inside the caller's transaction (a promotion or a rollback).

        Their champion no longer serves, so they stop routing at once; the reason is
        recorded in the catalog's events. Their reports are built from the logs they
        kept (no final report is frozen here: the log writer needs the catalog).
        """
        ended = []
        for record in self.store.select(info.id, state=ExperimentState.RUNNING):
            if record.field != field:
                continue
            self.store.transition(cursor, record.id, ExperimentState.STOPPED, final_report=None)
            self.catalog.record_event(cursor, "experiment.stopped", info.name, experiment=record.id, reason=why)
            self._set_route(record, routed=False)
            ended.append(record.id)
        return ended

    def stop(self, info: CollectionInfo, experiment_id: int) -> ExperimentRecord:
        """End a RUNNING experiment without promoting; keep its final report. Raises ``InvalidStateError``."""
        return self._end(info, experiment_id, ExperimentState.STOPPED, None)[0]

    def promote(
        self, info: CollectionInfo, experiment_id: int, *, reason: str | None, actor: str | None
    ) -> tuple[ExperimentRecord, ExperimentReport, dict[str, Any]]:
        """Promote the challenger and end the experiment, in one transaction.

        On a field: the challenger serves and the field's model alias follows it. On a
        search configuration model: the alias the champion was named by moves to the
        challenger. Returns the ended experiment, its final report and what moved.
        Raises ``InvalidStateError`` when it is not RUNNING and what
        ``LifecycleService.promote`` raises (an incomplete index, for one).
        """
        field = self._of_collection(info, experiment_id).field
        # Read before the transaction that ends the experiment (see LifecycleService.index_gaps).
        index_gaps = None if is_config_route(field) else self.lifecycle.index_gaps(info, field)

        def promote_challenger(record: ExperimentRecord, report: ExperimentReport) -> dict[str, Any]:
            why = reason or f"experiment {record.id} ({record.mode.value}): {report.verdict.reason}"
            if index_gaps is None:
                return self._move_config_alias(info, record, why, actor)
            return self.lifecycle.promote(
                info, record.field, record.challenger_version, reason=why, actor=actor, index_gaps=index_gaps
            )

        record, report, moved = self._end(info, experiment_id, ExperimentState.PROMOTED, promote_challenger)
        assert moved is not None
        return record, report, moved

    def _move_config_alias(
        self, info: CollectionInfo, record: ExperimentRecord, reason: str, actor: str | None
    ) -> dict[str, Any]:
        """Point the alias the champion was named by at the challenger, inside the caller's transaction."""
        started = time.perf_counter()
        ref = parse_model_uri(record.champion)
        if ref.alias is None:
            raise FailedPreconditionError(
                f"experiment {record.id} named its champion {record.champion!r} by version; promotion moves an alias, "
                f"so start it with the alias traffic uses (e.g. {ref.name}@champion)"
            )
        if self.registry.resolve(record.champion).uri != record.champion_version:
            raise FailedPreconditionError(
                f"{record.champion} no longer names the champion {record.champion_version}: the alias moved meanwhile"
            )
        challenger = self.registry.resolve(record.challenger_version)
        with self.catalog.transaction() as cursor:  # joins the transaction that ends the experiment
            self.registry.set_alias(ref.name, ref.alias, challenger.version, actor=actor, reason=reason, cursor=cursor)
            # The alias is the registry's, not the collection's: experiments on it elsewhere lose their champion.
            for other in self.store.select(state=ExperimentState.RUNNING):
                same_alias = other.field == record.field and parse_model_uri(other.champion).alias == ref.alias
                if same_alias and other.id != record.id:
                    self.store.transition(cursor, other.id, ExperimentState.STOPPED, final_report=None)
                    why = f"experiment {record.id} moved {ref.name}@{ref.alias} to {record.challenger_version}"
                    self.catalog.record_event(cursor, "experiment.stopped", info.name, experiment=other.id, reason=why)
                    self._set_route(other, routed=False)
        return {
            "collection_name": info.name,
            "field": record.field,
            "action": "promote",
            "from_version": record.champion_version,
            "to_version": record.challenger_version,
            "alias": f"{ref.name}@{ref.alias}",
            "elapsed_ms": (time.perf_counter() - started) * 1000.0,
        }

    def _end(
        self,
        info: CollectionInfo,
        experiment_id: int,
        target: ExperimentState,
        inside: Callable[[ExperimentRecord, ExperimentReport], dict[str, Any]] | None,
    ) -> tuple[ExperimentRecord, ExperimentReport, dict[str, Any] | None]:
        action = "promote" if target is ExperimentState.PROMOTED else "stop"
        with self._lock:
            record = self._of_collection(info, experiment_id)
            record.state.check_transition(target)
            self._set_route(record, routed=False)  # no new queries while it ends
            try:
                self.flush()
                report = self._build_report(info, record)
                with self.catalog.transaction() as cursor:
                    # Ended first, so the promotion inside does not stop this very experiment as a bystander.
                    self.store.transition(cursor, record.id, target, final_report=report.to_dict())
                    moved = inside(record, report) if inside is not None else None
                    self.catalog.record_event(
                        cursor,
                        f"experiment.{target.value.lower()}",
                        info.name,
                        experiment=record.id,
                        decision=report.verdict.decision.value,
                    )
                    self.pause_points.reach(f"experiments.{action}.checked")
            except BaseException:
                current = self.store.get(record.id)
                if current.state is ExperimentState.RUNNING:  # not if a promotion of its field ended it meanwhile
                    self._set_route(current, routed=True)
                raise
            self.pause_points.reach(f"experiments.{action}.committed")
            ended = self.store.get(record.id)
        final = ExperimentReport(
            report.verdict,
            report.arms,
            ended.to_dict(info.name),
            report.queries,
            report.feedback,
            report.dropped_queries,
        )
        return ended, final, moved

    # ------------------------------------------------------------- routing

    def route(
        self,
        record: ExperimentRecord,
        texts: list[str],
        *,
        search: ArmSearch,
        indexes: dict[str, str],
        limit: int,
        offset: int,
        user_key: str | None,
    ) -> list[Hits]:
        """Answer a text search inside ``record`` (see :mod:`embedb.experiments.routing`)."""
        context = RouteContext(record, search, self.log.append, self._submit, indexes)
        return route(context, texts, limit=limit, offset=offset, user_key=user_key)

    def _submit(self, task: Callable[[], None]) -> bool:
        with self._lock:
            if self._closed or len(self._pending) >= MAX_SHADOW_BACKLOG:
                return False
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="embedb-shadow"
                )
            future = self._executor.submit(task)
            self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return True

    def _set_route(self, record: ExperimentRecord, *, routed: bool) -> None:
        with self._routes_lock:
            routes = {collection: dict(fields) for collection, fields in self.routes.items()}
            fields = routes.setdefault(record.collection_id, {})
            if routed:
                fields[record.field] = record
            else:
                fields.pop(record.field, None)
            if not fields:
                del routes[record.collection_id]
            self.routes = routes

    # ------------------------------------------------------------ feedback

    def feedback(
        self, info: CollectionInfo, query_id: str, doc_id: Any, *, kind: str, relevance: float | None
    ) -> dict[str, Any]:
        """Join a click or a relevance grade to a logged query of a RUNNING experiment; return the event.

        Raises ``InvalidArgumentError`` (bad kind or grade, a click on a document the
        query did not return), ``ExperimentNotFoundError`` (no such query in this
        collection) and ``InvalidStateError`` (the experiment has ended).
        """
        if not isinstance(query_id, str) or not query_id:
            raise InvalidArgumentError(f"query_id must be a non-empty string, got {query_id!r}", field="query_id")
        if isinstance(doc_id, np.integer):
            doc_id = int(doc_id)
        if isinstance(doc_id, bool) or not isinstance(doc_id, int | str):
            raise InvalidArgumentError(
                f"doc_id must be a primary key (an integer or a string), got {doc_id!r}", field="doc_id"
            )
        if kind not in FEEDBACK_KINDS:
            raise InvalidArgumentError(f"kind must be one of {', '.join(FEEDBACK_KINDS)}, got {kind!r}", field="kind")
        if relevance is not None:
            if isinstance(relevance, bool) or not isinstance(relevance, int | float) or not math.isfinite(relevance):
                raise InvalidArgumentError(f"relevance must be a finite number, got {relevance!r}", field="relevance")
            kind = "relevance"
        elif kind == "relevance":
            raise InvalidArgumentError("kind='relevance' needs relevance=<grade>", field="relevance")
        entry = self.store.find_query(query_id)
        if entry is None:
            self.flush()  # it may still be queued
            entry = self.store.find_query(query_id)
        record = self.store.get(entry.experiment_id) if entry is not None else None
        if entry is None or record is None or record.collection_id != info.id:
            raise ExperimentNotFoundError(
                f"no experiment query {query_id!r} in collection {info.name!r}", query_id=query_id
            )
        if record.state is not ExperimentState.RUNNING:
            raise InvalidStateError(f"experiment {record.id} is {record.state.value}: it takes no more feedback")
        position = next((i for i, doc in enumerate(entry.returned_ids) if str(doc) == str(doc_id)), None)
        if position is None and kind == "click":
            raise InvalidArgumentError(
                f"doc_id {doc_id!r} is not among the hits of query {query_id!r}; a click must be on a returned hit",
                field="doc_id",
            )
        stored = entry.returned_ids[position] if position is not None else doc_id
        arm: str | None
        if position is not None and entry.teams is not None:
            arm = entry.teams[position]
        else:
            arm = entry.arm.value if entry.arm is not Arm.INTERLEAVED else None
        event = self.store.add_feedback(
            record.id, query_id, stored, kind, float(relevance) if relevance is not None else None
        )
        return {
            "experiment_id": record.id,
            "query_id": query_id,
            "doc_id": stored,
            "kind": event.kind,
            "relevance": event.relevance,
            "arm": arm,
            "time": event.time,
        }

    # -------------------------------------------------------------- report

    def report(self, info: CollectionInfo, record: ExperimentRecord) -> ExperimentReport:
        """The report of an experiment: live while it runs (logs flushed first), its final one once it ended."""
        if record.state is not ExperimentState.RUNNING and record.final_report is not None:
            return ExperimentReport.from_dict({**record.final_report, "experiment": record.to_dict(info.name)})
        self.flush()
        return self._build_report(info, record)

    def _build_report(self, info: CollectionInfo, record: ExperimentRecord) -> ExperimentReport:
        """The report from the logs; a fixed-horizon verdict, once reached, only ever sees the data it was reached on."""
        frozen, last_feedback, queries, feedback = self._counted(record)
        report = build_report(record, info.name, queries, feedback, dropped=self.dropped(record.id))
        if frozen is None and not record.sequential and report.verdict.decision is not Decision.UNDECIDED:
            self.store.freeze_horizon(record.id, queries, last_feedback)  # later queries and clicks never count
        return report

    def _counted(self, record: ExperimentRecord) -> tuple[HorizonData | None, int, list[QueryLogEntry], list[Feedback]]:
        """(frozen horizon, last counted feedback id, queries, feedback) a report counts: within a reached horizon."""
        frozen = self.store.horizon_data(record.id)
        last_feedback = frozen.last_feedback_id if frozen is not None else self.store.last_feedback_id(record.id)
        queries = self.store.queries(record.id)
        if frozen is not None:
            queries = [query for query in queries if frozen.keeps(query)]
        return frozen, last_feedback, queries, self.store.feedback(record.id, up_to_id=last_feedback)

    def trajectory(self, info: CollectionInfo, record: ExperimentRecord, points: int) -> list[dict[str, Any]]:
        """The verdict as it stood at ``points`` moments of the experiment (quantiles of its query times).

        Each point is the report of the queries answered by then and the feedback
        given by then: how the estimate and its confidence sequence narrowed.
        """
        if record.state is ExperimentState.RUNNING:
            self.flush()
        _, _, queries, feedback = self._counted(record)
        times = sorted(query.time for query in queries)
        cuts = (
            sorted({times[max(0, math.ceil(len(times) * step / points) - 1)] for step in range(1, points)})
            if times
            else []
        )
        if times:  # the last point is the report itself: every query and every click so far
            last = max([times[-1], *(event.time for event in feedback)])
            cuts = [*(cut for cut in cuts if cut < last), last]
        found = []
        for cut in cuts:
            answered = [query for query in queries if query.time <= cut]
            ids = {query.query_id for query in answered}
            given = [event for event in feedback if event.query_id in ids and event.time <= cut]
            verdict = build_report(record, info.name, answered, given).verdict
            found.append(
                {
                    "time": cut,
                    "queries": len(answered),
                    "feedback": len(given),
                    "decision": verdict.decision.value,
                    "delta": None if math.isnan(verdict.delta) else verdict.delta,
                    "ci": list(verdict.ci) if verdict.ci is not None else None,
                    "p_value": verdict.p_value,
                }
            )
        return found

    def flush(self, timeout: float = 60.0) -> None:
        """Wait for running shadow searches, then write every queued log entry."""
        pending = list(self._pending)
        if pending:
            concurrent.futures.wait(pending, timeout=timeout)
        self.log.flush(timeout)

    # ---------------------------------------------------------- lost logs

    def dropped(self, experiment_id: int) -> int:
        """How many routed queries of an experiment the log lost."""
        return self.dropped_by_experiment().get(experiment_id, 0)

    def dropped_by_experiment(self) -> dict[int, int]:
        """How many routed queries the log lost, by experiment (those that lost none are absent)."""
        counts = Counter(self.store.dropped() if self.store.available else {})
        with self._drops_lock:
            counts.update(self._unrecorded_drops)
        return dict(counts)

    def _count_dropped(self, entries: Sequence[QueryLogEntry]) -> None:
        """The query log lost ``entries``: count them per experiment, in the catalog when it takes the write."""
        with self._drops_lock:
            self._unrecorded_drops.update(entry.experiment_id for entry in entries)
            counts = dict(self._unrecorded_drops)
            try:
                self.store.add_dropped(counts)
            except Exception as error:  # the catalog may be what failed: keep counting in memory
                log.warning("could not record %d lost experiment log entries: %s", sum(counts.values()), error)
            else:
                self._unrecorded_drops.clear()

    # ------------------------------------------------------------ plumbing

    def users(self, info: CollectionInfo, field: str, key: str) -> list[str]:
        """The RUNNING experiments that use a field's version (``LifecycleService`` refuses to drop it then)."""
        return [
            f"running experiment {record.id} ({record.mode.value})"
            for record in self.routes.get(info.id, {}).values()
            if record.field == field and key in (record.champion_key, record.challenger_key)
        ]

    def version_users(self, uri: str) -> list[str]:
        """The RUNNING experiments with ``uri`` as an arm (the registry refuses to delete the version then)."""
        return [
            f"running experiment {record.id} ({record.mode.value})"
            for fields in self.routes.values()
            for record in fields.values()
            if uri in (record.champion_version, record.challenger_version)
        ]

    def _of_collection(self, info: CollectionInfo, experiment_id: int) -> ExperimentRecord:
        record = self.store.get(_checked_id(experiment_id))
        if record.collection_id != info.id:
            raise ExperimentNotFoundError(
                f"no experiment {experiment_id} in collection {info.name!r}", experiment_id=experiment_id
            )
        return record

    def close(self) -> None:
        """Finish queued shadow searches, write every log entry and stop the threads; idempotent."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self.log.close()


def _checked_id(experiment_id: Any) -> int:
    if isinstance(experiment_id, bool) or not isinstance(experiment_id, int):
        raise InvalidArgumentError(f"experiment_id must be an integer, got {experiment_id!r}", field="experiment_id")
    return experiment_id
