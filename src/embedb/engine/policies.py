"""Policies: the loop runs without a person, one guarded step at a time.

A policy belongs to one model-bound field. ``run_policy`` looks at where the
field's loop stands and takes (``mode="act"``) or only names (``"suggest"``, the
default) the next step:

1. ``idle`` — a running experiment on the field is adopted; else the policy's
   ``triggers`` are checked over the last ``window_hours`` against the days
   before: ``decay`` of the serving version (``decay``) and ``drift`` of the
   field's query stream (``drift`` on the texts the search monitor sampled). An
   alert starts what ``on_alert`` names: a retraining (``retrain``, default), or
   an offline evaluation of the serving version on the policy's judged queries
   (``evaluate``: recorded, the loop stays idle);
2. ``retrain`` — ``fine_tune`` on the field's feedback (or an LSA refit) makes a
   new version; ``backfilling`` — ``add_embedding_version`` embeds every row
   with it (a job with progress);
3. ``experimenting`` — an interleaving experiment runs until its report decides;
   ``promote`` is taken only if the offline gate also passes: on the policy's
   judged queries the challenger is not worse than the champion (``evaluate``: the
   gate passes and the difference is not negative); otherwise the experiment is
   stopped and the challenger kept out;
   With ``tune_recall`` set, the challenger's own index is tuned (``tune_index``
   with ``apply``) before the experiment starts;
4. ``watching`` — for ``rollback_days`` the new champion is tested for decay
   against its first day (or the first half of its life so far, after a minute);
   a decay rolls back.

Every step is an operation with its own checks and history (jobs, experiments,
alias moves with the policy's reason); each is recorded in ``policy_events``. A
step an operation refuses (no feedback to retrain on, say) is recorded as
``blocked`` with the reason, and the loop stays where it was.
``mode="off"`` pauses the loop where it stands (``act`` again resumes it); in
``suggest`` mode a person approves the named step (``approve=True``: taken once) or
vetoes it by not approving; a person can stop an experiment or cancel (pause) a
job at any time, and the policy reads what happened instead of undoing it.
``progress(stage, done, total)`` reports a retraining's and a backfill's progress
in-process.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from embedb.contract.results import PolicyInfo, PolicyStep
from embedb.errors import EmbedbError, InvalidArgumentError, NotFoundError
from embedb.metadata import CollectionMetadata
from embedb.storage import Catalog, CollectionInfo

MODES = ("off", "suggest", "act")
TRIGGERS = ("decay", "drift")
ALERT_WORK = ("retrain", "evaluate")
WATCH_MIN_S = 60.0
HISTORY_S = 7 * 86_400.0  # the reference of a trigger: the week before its window (the monitor keeps texts a week)
DRIFT_ROWS = 500
DEFAULTS: dict[str, Any] = {
    "mode": "suggest",
    "rollback_days": 7.0,
    "epochs": 1,
    "experiment_mode": "interleave",
    "triggers": list(TRIGGERS),
    "on_alert": "retrain",
    "window_hours": 24.0,
    "tune_recall": None,
}
Progress = Callable[[str, int, int], None]
_TABLES = """
CREATE TABLE IF NOT EXISTS policies (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (collection_id, field)
);
CREATE TABLE IF NOT EXISTS policy_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    time REAL NOT NULL,
    state TEXT NOT NULL,
    action TEXT NOT NULL,
    acted INTEGER NOT NULL,
    detail TEXT NOT NULL
);
"""
Operation = Callable[..., Any]


@dataclass(frozen=True)
class Run:
    """One ``run_policy`` call: whether it takes its step, who watches a long one's progress, who asked for it."""

    act: bool
    progress: Progress | None
    actor: str | None = None

    def stage(self, name: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return None if progress is None else lambda done, total: progress(name, done, total)


class PolicyOperation:
    """``set_policy``, ``get_policy`` and ``run_policy`` over the database's own operations."""

    def __init__(
        self,
        catalog: Catalog,
        metadata: CollectionMetadata,
        operation: Callable[[str], Operation],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.metadata = metadata
        self.operation = operation
        self.clock = clock
        self._locks: dict[tuple[int, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        catalog.ensure_tables(_TABLES)

    def set_policy(self, collection_name: str, field_name: str, policy: dict[str, Any]) -> PolicyInfo:
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        if field.name not in self.metadata.bindings(info):
            raise InvalidArgumentError(f"field {field.name!r} is not bound to a model: a policy has nothing to run")
        config = _checked(policy)
        with self.catalog.transaction() as cursor:
            cursor.execute(
                "INSERT INTO policies (collection_id, field, config, state, data, updated_at) VALUES (?, ?, ?, 'idle', '{}', ?)"
                " ON CONFLICT (collection_id, field) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
                (info.id, field.name, json.dumps(config), time.time()),
            )
        return self.get_policy(collection_name, field.name)

    def get_policy(self, collection_name: str, field_name: str) -> PolicyInfo:
        info = self.metadata.info(collection_name)
        row = self._row(info, field_name)
        events = self.catalog.query(
            "SELECT * FROM policy_events WHERE collection_id = ? AND field = ? ORDER BY id DESC LIMIT 50",
            (info.id, field_name),
        )
        return cast(
            PolicyInfo,
            {
                "collection_name": info.name,
                "field": field_name,
                "policy": json.loads(row["config"]),
                "state": row["state"],
                "data": json.loads(row["data"]),
                "events": [
                    {
                        "time": e["time"],
                        "state": e["state"],
                        "action": e["action"],
                        "acted": bool(e["acted"]),
                        "detail": json.loads(e["detail"]),
                    }
                    for e in reversed(events)
                ],
            },
        )

    def run_policy(
        self,
        collection_name: str,
        field_name: str,
        *,
        approve: bool = False,
        actor: str | None = None,
        progress: Progress | None = None,
    ) -> PolicyStep:
        if not isinstance(approve, bool):
            raise InvalidArgumentError(f"approve must be true or false, got {approve!r}", argument="approve")
        info = self.metadata.info(collection_name)
        with self._lock(info.id, field_name):  # one step at a time per field in this process; _record checks across
            row = self._row(info, field_name)
            config, state, data = {**DEFAULTS, **json.loads(row["config"])}, row["state"], json.loads(row["data"])
            seen = (row["state"], row["data"])
            if config["mode"] == "off":
                return self._record(
                    info, field_name, seen, state, data, "none", False, {"why": "the policy is off (paused)"}
                )
            act = config["mode"] == "act" or approve
            step = getattr(self, f"_{state}")
            try:
                action, detail, next_state, next_data = step(info, field_name, config, data, Run(act, progress, actor))
            except NotFoundError as error:  # what the loop followed is gone (a dropped version, a deleted experiment)
                why = f"{type(error).__name__}: {error.message}"
                if state == "idle":
                    return self._record(info, field_name, seen, state, data, "blocked", False, {"why": why})
                return self._record(info, field_name, seen, "idle", {}, "give up", False, {"why": why})
            except EmbedbError as error:  # e.g. no feedback to retrain on: the loop waits where it is and says why
                why = f"{type(error).__name__}: {error.message}"
                return self._record(info, field_name, seen, state, data, "blocked", False, {"why": why})
            if act or action == "none":
                state, data = next_state, next_data
            if act and action != "none" and actor is not None:
                detail = {**detail, "by": actor}  # who ran (or approved) the step that acted
            return self._record(info, field_name, seen, state, data, action, act and action != "none", detail)

    def _lock(self, collection_id: int, field: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((collection_id, field), threading.Lock())

    # ------------------------------------------------------------------ steps
    # Each returns (action, detail, next state, next data); the caller keeps them only when it acted.

    def _idle(self, info: CollectionInfo, field: str, config: dict[str, Any], data: dict[str, Any], run: Run) -> Any:
        running = [
            e for e in self.operation("list_experiments")(info.name) if e["field"] == field and e["state"] == "RUNNING"
        ]
        if running:
            experiment = running[0]
            return (
                "adopt experiment",
                {"experiment_id": experiment["experiment_id"]},
                "experimenting",
                {
                    "experiment_id": experiment["experiment_id"],
                    "challenger": experiment["challenger_version"],
                },
            )
        now = self.clock()
        current = [now - config["window_hours"] * 3_600.0, now]
        reference = [current[0] - HISTORY_S, current[0]]
        detail: dict[str, Any] = {}
        alerts = []
        if "decay" in config["triggers"]:
            report = self.operation("decay")(info.name, field, reference=reference, current=current)
            detail["decay"] = report["signals"]
            if report["decayed"]:
                alerts.append("the serving version decayed")
        if "drift" in config["triggers"]:
            detail["drift"] = self._drift(info, field, reference, current)
            if detail["drift"].get("detected"):
                alerts.append("the query stream drifted")
        if not alerts:
            return "none", {"why": "no alert: no decay, no drift", **detail}, "idle", {}
        detail["why"] = " and ".join(alerts)
        if config["on_alert"] == "evaluate":
            if run.act:
                detail["evaluation"] = self._evaluate_serving(info, field, config)
            return "evaluate", detail, "idle", {}
        if not run.act:
            return "retrain", detail, "idle", {}
        tuned = self.operation("fine_tune")(info.name, field, epochs=config["epochs"], progress=run.stage("fine-tune"))
        # An interactive caller (one that watches progress) sees the backfill through; a cron run leaves it running.
        job = self.operation("add_embedding_version")(
            info.name, field, tuned["model_version"], wait=run.progress is not None, progress=run.stage("backfill")
        )
        detail |= {
            "model_version": tuned["model_version"],
            "job_id": job["job_id"],
            "after": tuned["after"],
            "before": tuned["before"],
        }
        return (
            "retrain and backfill",
            detail,
            "backfilling",
            {"challenger": tuned["model_version"], "job_id": job["job_id"]},
        )

    def _backfilling(
        self, info: CollectionInfo, field: str, config: dict[str, Any], data: dict[str, Any], run: Run
    ) -> Any:
        job = self.operation("get_job")(data["job_id"])
        if job["state"] in ("PENDING", "RUNNING", "PAUSED"):
            return (
                "none",
                {"why": f"backfill job {job['job_id']} is {job['state']}", "progress": job["progress"]},
                "backfilling",
                data,
            )
        if job["state"] != "DONE":
            return "give up", {"why": f"backfill job {job['job_id']} is {job['state']}"}, "idle", {}
        detail: dict[str, Any] = {}
        if config.get("tune_recall") is not None:
            detail["tuned"] = self._tune(info, field, data["challenger"], config["tune_recall"], run)
        serving = self.operation("describe_collection")(info.name)["embedding_versions"][field]
        champion = next(v["model_version"] for v in serving if v["serving"])
        started = self.operation("start_experiment")(
            info.name, field, champion=champion, challenger=data["challenger"], mode=config["experiment_mode"]
        )
        return (
            "start experiment",
            {**detail, "experiment_id": started["experiment_id"]},
            "experimenting",
            {**data, "experiment_id": started["experiment_id"]},
        )

    def _experimenting(
        self, info: CollectionInfo, field: str, config: dict[str, Any], data: dict[str, Any], run: Run
    ) -> Any:
        experiment = self.operation("get_experiment")(data["experiment_id"])
        if experiment["state"] != "RUNNING":  # a person stopped or promoted it: the loop starts over
            return "none", {"why": f"experiment {experiment['experiment_id']} is {experiment['state']}"}, "idle", {}
        report = self.operation("experiment_report")(data["experiment_id"])
        if report["decision"] == "undecided":
            return "none", {"why": "the experiment is undecided", "reason": report["reason"]}, "experimenting", data
        gate = self._gate(info, field, config, experiment) if report["decision"] == "promote" else None
        if report["decision"] == "promote" and (gate is None or gate["passed"]):
            detail = {"verdict": report["reason"], "gate": gate}
            if run.act:
                moved = self.operation("promote_experiment")(
                    data["experiment_id"], reason=f"policy: {report['reason']}", actor=run.actor
                )
                detail["moved"] = {"from": moved["from_version"], "to": moved["to_version"]}
            return (
                "promote",
                detail,
                "watching",
                {**data, "promoted_at": self.clock(), "champion": experiment["challenger_version"]},
            )
        if run.act:
            self.operation("stop_experiment")(data["experiment_id"])
        why = "the offline gate failed" if gate is not None else "the experiment says keep"
        return "stop experiment", {"why": why, "verdict": report["reason"], "gate": gate}, "idle", {}

    def _watching(
        self, info: CollectionInfo, field: str, config: dict[str, Any], data: dict[str, Any], run: Run
    ) -> Any:
        promoted = float(data["promoted_at"])
        now = self.clock()
        serving = self.metadata.bindings(info)[field].serving.uri
        if serving != data["champion"]:  # a person promoted or rolled back meanwhile: theirs is the last word
            why = f"{serving} serves now, not the watched {data['champion']}: someone moved it; the watch ends"
            return "none", {"why": why}, "idle", {}
        if now - promoted > config["rollback_days"] * 86_400:
            return "none", {"why": "the new champion held through the watch"}, "idle", {}
        if now - promoted < WATCH_MIN_S:
            return "none", {"why": "too soon after the promotion to compare"}, "watching", data
        first = [promoted, promoted + min(86_400.0, (now - promoted) / 2)]  # its first day (or half its life so far)
        report = self.operation("decay")(info.name, field, reference=first, current=[first[1], now])
        if not report["decayed"]:
            return "none", {"why": "watching the new champion", "decay": report["signals"]}, "watching", data
        if run.act:
            self.operation("rollback")(info.name, field, reason="policy: the new champion decayed", actor=run.actor)
        return "roll back", {"why": "the new champion decayed", "decay": report["signals"]}, "idle", {}

    # ------------------------------------------------------------- plumbing

    def _drift(self, info: CollectionInfo, field: str, reference: list[float], current: list[float]) -> dict[str, Any]:
        """The drift test of the field's logged query texts, ``current`` window against ``reference``."""
        try:
            report = self.operation("drift")(
                info.name,
                field,
                reference={"logged": reference},
                current={"logged": current},
                max_rows=DRIFT_ROWS,
            )
        except InvalidArgumentError as error:  # too few logged queries in a window: nothing to test yet
            return {"detected": False, "why": error.message}
        return {key: report[key] for key in ("detected", "p_value", "reference_rows", "current_rows")}

    def _tune(self, info: CollectionInfo, field: str, challenger: str, recall: float, run: Run) -> dict[str, Any]:
        """The challenger's own index, tuned to ``recall`` before it serves anyone; a failure is reported, not fatal."""
        try:
            report = self.operation("tune_index")(
                info.name,
                field,
                embedding_version=challenger,
                recall=recall,
                apply=True,
                progress=run.stage("tune index"),
            )
        except EmbedbError as error:  # e.g. too few rows to tune on: the field's index serves the challenger
            return {"applied": False, "why": f"{type(error).__name__}: {error.message}"}
        return {"applied": report["applied"], "best": report["best"]}

    def _evaluate_serving(self, info: CollectionInfo, field: str, config: dict[str, Any]) -> dict[str, Any]:
        """The serving version's metrics on the policy's judged queries (an alert's offline evaluation)."""
        judged = config.get("gate")
        if not judged:
            raise InvalidArgumentError(
                "on_alert 'evaluate' needs the policy's gate (judged queries)", argument="policy"
            )
        serving = self.metadata.bindings(info)[field].serving.uri
        report = self.operation("evaluate")(
            info.name, field, queries=judged["queries"], qrels=judged["qrels"], versions=[serving], ann_check=False
        )
        return {"metric": report["metric"], "versions": report["versions"]}

    def _gate(
        self, info: CollectionInfo, field: str, config: dict[str, Any], experiment: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The offline gate on the policy's judged queries: passed when the challenger is not worse (None without judgements)."""
        judged = config.get("gate")
        if not judged:
            return None
        report = self.operation("evaluate")(
            info.name,
            field,
            queries=judged["queries"],
            qrels=judged["qrels"],
            versions=[experiment["champion_version"], experiment["challenger_version"]],
            baseline=experiment["champion_version"],
            candidate=experiment["challenger_version"],
            ann_check=False,
        )
        comparison = report["comparisons"].get(experiment["challenger_version"], {})
        delta = comparison.get("delta", comparison.get("difference"))
        metric = report["metric"]
        found = [values["metrics"].get(metric) or 0.0 for values in report["versions"].values()]
        if not any(found):  # neither version finds any judged document: the gate would judge nothing
            why = "neither version finds a judged document of the gate (are the judged ids in the collection?)"
            return {"passed": False, "delta": delta, "metric": metric, "why": why}
        passed = bool(report.get("gate", {}).get("passed", False)) and delta is not None and delta >= 0
        return {"passed": passed, "delta": delta, "metric": metric}

    def _row(self, info: CollectionInfo, field: str) -> Any:
        row = self.catalog.query_one("SELECT * FROM policies WHERE collection_id = ? AND field = ?", (info.id, field))
        if row is None:
            raise NotFoundError(f"field {field!r} of {info.name!r} has no policy; set one with set_policy", field=field)
        return row

    def _record(
        self,
        info: CollectionInfo,
        field: str,
        seen: tuple[str, str],
        state: str,
        data: dict[str, Any],
        action: str,
        acted: bool,
        detail: dict[str, Any],
    ) -> PolicyStep:
        """Write the step's state only over the state it started from (another process's step may have moved it)."""
        now = time.time()
        with self.catalog.transaction() as cursor:
            moved = cursor.execute(
                "UPDATE policies SET state = ?, data = ?, updated_at = ?"
                " WHERE collection_id = ? AND field = ? AND state = ? AND data = ?",
                (state, json.dumps(data), now, info.id, field, *seen),
            ).rowcount
            if not moved:  # a concurrent step wrote first: keep its state, say so in this event
                current = cursor.execute(
                    "SELECT state FROM policies WHERE collection_id = ? AND field = ?", (info.id, field)
                ).fetchone()
                state = current["state"] if current is not None else state
                detail = {**detail, "superseded": "another run of the policy moved the loop first"}
            cursor.execute(
                "INSERT INTO policy_events (collection_id, field, time, state, action, acted, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (info.id, field, now, state, action, int(acted), json.dumps(detail, default=str)),
            )
        return cast(
            PolicyStep,
            {
                "collection_name": info.name,
                "field": field,
                "state": state,
                "action": action,
                "acted": acted,
                "detail": detail,
            },
        )


def _checked(policy: Any) -> dict[str, Any]:
    if not isinstance(policy, dict):
        raise InvalidArgumentError(
            "policy must be a dict (mode, rollback_days, epochs, experiment_mode, triggers, on_alert, window_hours,"
            " tune_recall, gate)",
            argument="policy",
        )
    unknown = sorted(set(policy) - {*DEFAULTS, "gate"})
    if unknown:
        raise InvalidArgumentError(
            f"unknown policy settings {unknown}; known: {sorted({*DEFAULTS, 'gate'})}", argument="policy"
        )
    config = {**DEFAULTS, **policy}
    if config["mode"] not in MODES:
        raise InvalidArgumentError(f"mode must be one of {list(MODES)}, got {config['mode']!r}", argument="policy")
    days = config["rollback_days"]
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 365:
        raise InvalidArgumentError("rollback_days must be a number of days in (0, 365]", argument="policy")
    if config["experiment_mode"] not in ("interleave", "split", "shadow"):
        raise InvalidArgumentError("experiment_mode must be interleave, split or shadow", argument="policy")
    triggers = config["triggers"]
    if (
        not isinstance(triggers, list)
        or not all(isinstance(trigger, str) for trigger in triggers)
        or not set(triggers) <= set(TRIGGERS)
        or len(set(triggers)) != len(triggers)
    ):
        raise InvalidArgumentError(f"triggers must be a list of distinct {list(TRIGGERS)}", argument="policy")
    if config["on_alert"] not in ALERT_WORK:
        raise InvalidArgumentError(f"on_alert must be one of {list(ALERT_WORK)}", argument="policy")
    if config["on_alert"] == "evaluate" and config.get("gate") is None:
        raise InvalidArgumentError(
            "on_alert 'evaluate' needs a gate: the judged queries to evaluate on", argument="policy"
        )
    hours = config["window_hours"]
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 1 <= hours <= 24 * 30:
        raise InvalidArgumentError("window_hours must be a number of hours in [1, 720]", argument="policy")
    tune_recall = config["tune_recall"]
    if tune_recall is not None and (
        isinstance(tune_recall, bool) or not isinstance(tune_recall, int | float) or not 0 < tune_recall < 1
    ):
        raise InvalidArgumentError("tune_recall must be a recall target in (0, 1), or None", argument="policy")
    epochs = config["epochs"]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 100:
        raise InvalidArgumentError("epochs must be an integer in [1, 100]", argument="policy")
    gate = config.get("gate")
    if gate is not None:
        _check_gate(gate)
    return config


def _check_gate(gate: Any) -> None:
    """Judged queries in BEIR shapes: ``{"queries": {id: text}, "qrels": {id: {doc id: grade}}}``."""
    shape = "gate must be {'queries': {query id: text}, 'qrels': {query id: {doc id: grade}}} (judged queries)"
    if not isinstance(gate, dict) or set(gate) != {"queries", "qrels"}:
        raise InvalidArgumentError(shape, argument="policy")
    queries, qrels = gate["queries"], gate["qrels"]
    if not isinstance(queries, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in queries.items()):
        raise InvalidArgumentError(f"{shape}: queries is not {{id: text}}", argument="policy")
    if not isinstance(qrels, dict) or not all(
        isinstance(query, str)
        and isinstance(docs, dict)
        and all(
            isinstance(doc, str)
            and isinstance(grade, int | float)
            and not isinstance(grade, bool)
            and math.isfinite(grade)
            for doc, grade in docs.items()
        )
        for query, docs in qrels.items()
    ):
        raise InvalidArgumentError(f"{shape}: qrels is not {{id: {{doc id: grade}}}}", argument="policy")
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise InvalidArgumentError(f"{shape}: judged queries {missing[:5]} have no text in queries", argument="policy")
    if not any(grade > 0 for docs in qrels.values() for grade in docs.values()):
        raise InvalidArgumentError(
            f"{shape}: no judged query has a relevant document (a grade above 0)", argument="policy"
        )
