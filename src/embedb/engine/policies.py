"""Policies on one node: ``set_policy``, ``get_policy`` and ``run_policy`` with the loop's state in the catalog.

A policy belongs to one model-bound field; ``embedb.engine.policy_loop`` says
what its loop does. Here a policy's settings are checked, and its state and
events are kept in two catalog tables (``policies``, ``policy_events``); a step
is written only over the state it started from, so two processes running the
same policy never both take a step.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

from embedb.contract.results import PolicyInfo
from embedb.engine.policy_loop import DEFAULTS, TRIGGERS, Operation, PolicyLoop, Step
from embedb.errors import InvalidArgumentError, NotFoundError
from embedb.metadata import CollectionMetadata
from embedb.storage import Catalog, CollectionInfo

MODES = ("off", "suggest", "act")
ALERT_WORK = ("retrain", "evaluate")
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


class PolicyOperation(PolicyLoop):
    """``set_policy``, ``get_policy`` and ``run_policy`` over the database's own operations and catalog."""

    def __init__(
        self,
        catalog: Catalog,
        metadata: CollectionMetadata,
        operation: Callable[[str], Operation],
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(operation, clock)
        self.catalog = catalog
        self.metadata = metadata
        catalog.ensure_tables(_TABLES)

    def set_policy(self, collection_name: str, field_name: str, policy: dict[str, Any]) -> PolicyInfo:
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        if field.name not in self.metadata.bindings(info):
            raise InvalidArgumentError(f"field {field.name!r} is not bound to a model: a policy has nothing to run")
        config = check_policy(policy)
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

    # ------------------------------------------------------------- the seams

    def _info(self, collection_name: str) -> CollectionInfo:
        return self.metadata.info(collection_name)

    def _serving(self, info: Any, field: str) -> str:
        return self.metadata.bindings(info)[field].serving.uri

    def _row(self, info: Any, field: str) -> Mapping[str, Any]:
        row = self.catalog.query_one("SELECT * FROM policies WHERE collection_id = ? AND field = ?", (info.id, field))
        if row is None:
            raise NotFoundError(f"field {field!r} of {info.name!r} has no policy; set one with set_policy", field=field)
        return dict(row)

    def write_step(self, collection_name: str, step: dict[str, Any], now: float) -> tuple[str, dict[str, Any]]:
        """``_write_step`` of a collection by name, the step as a dict (a cluster's shard applies a logged step)."""
        return self._write_step(self.metadata.info(collection_name), Step.from_dict(step), now)

    def _write_step(self, info: Any, step: Step, now: float) -> tuple[str, dict[str, Any]]:
        state, detail = step.state, step.detail
        with self.catalog.transaction() as cursor:
            moved = cursor.execute(
                "UPDATE policies SET state = ?, data = ?, updated_at = ?"
                " WHERE collection_id = ? AND field = ? AND state = ? AND data = ?",
                (state, json.dumps(step.data), now, info.id, step.field, *step.seen),
            ).rowcount
            if not moved:  # a concurrent step wrote first: keep its state, say so in this event
                current = cursor.execute(
                    "SELECT state FROM policies WHERE collection_id = ? AND field = ?", (info.id, step.field)
                ).fetchone()
                state = current["state"] if current is not None else state
                detail = {**detail, "superseded": "another run of the policy moved the loop first"}
            cursor.execute(
                "INSERT INTO policy_events (collection_id, field, time, state, action, acted, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (info.id, step.field, now, state, step.action, int(step.acted), json.dumps(detail, default=str)),
            )
        return state, detail


def check_policy(policy: Any) -> dict[str, Any]:
    """A policy's settings checked, with the defaults filled in; ``InvalidArgumentError`` names what is wrong."""
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
