"""The policy loop: it runs without a person, one guarded step at a time.

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

``PolicyLoop`` is the loop over the contract's operations; where a policy's state
is kept is its subclass's (``embedb.engine.policies`` on one node).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from embedb.contract.results import PolicyStep
from embedb.errors import EmbedbError, InvalidArgumentError, NotFoundError, UnavailableError

TRIGGERS = ("decay", "drift")
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
Operation = Callable[..., Any]


class Collection(Protocol):
    """What the loop knows of a collection: its name (``CollectionInfo`` on a node)."""

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class Run:
    """One ``run_policy`` call: whether it takes its step, who watches a long one's progress, who asked for it."""

    act: bool
    progress: Progress | None
    actor: str | None = None

    def stage(self, name: str) -> Callable[[int, int], None] | None:
        progress = self.progress
        return None if progress is None else lambda done, total: progress(name, done, total)


@dataclass(frozen=True)
class Step:
    """A step the loop took, to be recorded over the state it started from: ``seen`` is (state, data as JSON)."""

    field: str
    seen: tuple[str, str]
    state: str
    data: dict[str, Any]
    action: str
    acted: bool
    detail: dict[str, Any]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Step:
        """A step from its fields (as a cluster's catalog log carries them: ``seen`` a list)."""
        return cls(**{**values, "seen": (str(values["seen"][0]), str(values["seen"][1]))})


class PolicyLoop:
    """``run_policy`` over the contract's operations (``operation(name)`` answers one)."""

    def __init__(self, operation: Callable[[str], Operation], clock: Callable[[], float] = time.time) -> None:
        self.operation = operation
        self.clock = clock
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()

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
        info = self._info(collection_name)
        with self._lock(info.name, field_name):  # one step at a time per field in this process; _record checks across
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
            except UnavailableError:  # a cluster's shard restarting: retriable, not a state of the loop
                raise
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

    def _lock(self, collection: str, field: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault((collection, field), threading.Lock())

    # ------------------------------------------------------------------ steps
    # Each returns (action, detail, next state, next data); the caller keeps them only when it acted.

    def _idle(self, info: Collection, field: str, config: dict[str, Any], data: dict[str, Any], run: Run) -> Any:
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

    def _backfilling(self, info: Collection, field: str, config: dict[str, Any], data: dict[str, Any], run: Run) -> Any:
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
        self, info: Collection, field: str, config: dict[str, Any], data: dict[str, Any], run: Run
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

    def _watching(self, info: Collection, field: str, config: dict[str, Any], data: dict[str, Any], run: Run) -> Any:
        promoted = float(data["promoted_at"])
        now = self.clock()
        serving = self._serving(info, field)
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

    def _drift(self, info: Collection, field: str, reference: list[float], current: list[float]) -> dict[str, Any]:
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

    def _tune(self, info: Collection, field: str, challenger: str, recall: float, run: Run) -> dict[str, Any]:
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

    def _evaluate_serving(self, info: Collection, field: str, config: dict[str, Any]) -> dict[str, Any]:
        """The serving version's metrics on the policy's judged queries (an alert's offline evaluation)."""
        judged = config.get("gate")
        if not judged:
            raise InvalidArgumentError(
                "on_alert 'evaluate' needs the policy's gate (judged queries)", argument="policy"
            )
        serving = self._serving(info, field)
        report = self.operation("evaluate")(
            info.name, field, queries=judged["queries"], qrels=judged["qrels"], versions=[serving], ann_check=False
        )
        return {"metric": report["metric"], "versions": report["versions"]}

    def _gate(
        self, info: Collection, field: str, config: dict[str, Any], experiment: dict[str, Any]
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

    # ------------------------------------------------------------- the seams
    # Where the loop's state lives: this database's catalog (``PolicyOperation``), or a cluster's, whose shards
    # each keep it and apply each step's record from the catalog log (``embedb.distributed.policies``).

    def _info(self, collection_name: str) -> Collection:
        """The collection a name (or alias) names; raise ``CollectionNotFoundError``."""
        raise NotImplementedError

    def _serving(self, info: Collection, field: str) -> str:
        """The URI of the version that serves ``field``."""
        raise NotImplementedError

    def _row(self, info: Collection, field: str) -> Mapping[str, Any]:
        """The field's policy: ``config``, ``state`` and ``data`` (JSON texts but ``state``); raise ``NotFoundError``."""
        raise NotImplementedError

    def _write_step(self, info: Collection, step: Step, now: float) -> tuple[str, dict[str, Any]]:
        """Record a step: its state only over the state it started from (``step.seen``); the state and detail kept."""
        raise NotImplementedError

    def _record(
        self,
        info: Collection,
        field: str,
        seen: tuple[str, str],
        state: str,
        data: dict[str, Any],
        action: str,
        acted: bool,
        detail: dict[str, Any],
    ) -> PolicyStep:
        """Write the step's state only over the state it started from (another process's step may have moved it)."""
        state, detail = self._write_step(info, Step(field, seen, state, data, action, acted, detail), time.time())
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
