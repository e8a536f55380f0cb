"""Online experiments on a model-bound field: their modes, states, records and catalog tables.

An experiment compares the field's serving version (the *champion*) with another
READY version of the same field (the *challenger*) on live text searches:

- ``shadow``: the champion answers; the challenger runs the same query off the
  response path, so only overlap and latency can be compared.
- ``split``: a salted hash of the user key sends a share of users to the
  challenger; a user stays in one arm; clicks per arm are compared.
- ``interleave``: the two rankings are merged by team draft and each hit is tagged
  with the arm that contributed it; clicks say which arm won each query.

Four tables hold them: ``experiments`` (one row per experiment, its state and its
final verdict), ``experiment_queries`` (one row per routed query: arm, versions,
index, latencies, returned ids, interleaving teams), ``experiment_feedback``
(clicks and graded relevance joined to a query id) and
``experiment_dropped_queries`` (how many routed queries the log could not write,
so a report can say it rests on incomplete logs). They live in the catalog, so
they survive restarts, and a collection's experiments go when it is dropped.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from embedb.errors import ExperimentNotFoundError, InvalidArgumentError, InvalidStateError
from embedb.storage import Catalog

_TABLES = """
CREATE TABLE IF NOT EXISTS experiments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    mode TEXT NOT NULL,
    champion TEXT NOT NULL,
    challenger TEXT NOT NULL,
    champion_version TEXT NOT NULL,
    challenger_version TEXT NOT NULL,
    champion_key TEXT NOT NULL,
    challenger_key TEXT NOT NULL,
    split REAL NOT NULL,
    k INTEGER NOT NULL,
    alpha REAL NOT NULL,
    sequential INTEGER NOT NULL,
    horizon INTEGER,
    salt TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    ended_at REAL,
    final_report TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS experiments_one_running ON experiments (collection_id, field) WHERE state = 'RUNNING';
CREATE TABLE IF NOT EXISTS experiment_queries (
    query_id TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    time REAL NOT NULL,
    arm TEXT NOT NULL,
    user_key TEXT,
    served_version TEXT NOT NULL,
    versions TEXT NOT NULL,
    indexes TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    champion_latency_ms REAL,
    challenger_latency_ms REAL,
    returned_ids TEXT NOT NULL,
    teams TEXT,
    champion_ids TEXT,
    challenger_ids TEXT,
    error TEXT,
    text TEXT
);
CREATE INDEX IF NOT EXISTS experiment_queries_by_experiment ON experiment_queries (experiment_id, time);
CREATE TABLE IF NOT EXISTS experiment_feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    query_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    relevance REAL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS experiment_feedback_by_experiment ON experiment_feedback (experiment_id);
CREATE TABLE IF NOT EXISTS experiment_horizons (
    experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
    last_query_time REAL,
    last_query_id TEXT,
    last_feedback_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS experiment_dropped_queries (
    experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id) ON DELETE CASCADE,
    dropped INTEGER NOT NULL
);
"""

# A query is logged only if its experiment still exists (a dropped collection takes its experiments along).
_INSERT_QUERY = (
    "INSERT OR IGNORE INTO experiment_queries (query_id, experiment_id, time, arm, user_key, served_version, versions,"
    " indexes, latency_ms, champion_latency_ms, challenger_latency_ms, returned_ids, teams, champion_ids,"
    " challenger_ids, error, text) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
    " WHERE EXISTS (SELECT 1 FROM experiments WHERE id = ?)"
)


class ExperimentMode(enum.StrEnum):
    """How an experiment routes the searches of its field."""

    SHADOW = "shadow"
    SPLIT = "split"
    INTERLEAVE = "interleave"

    @classmethod
    def parse(cls, value: ExperimentMode | str) -> ExperimentMode:
        """Return the mode named ``value``; raise ``InvalidArgumentError`` naming the allowed ones."""
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(mode.value for mode in cls)
            raise InvalidArgumentError(f"mode must be one of {allowed}, got {value!r}", field="mode") from None


class ExperimentState(enum.StrEnum):
    """Where an experiment is; ``check_transition`` guards every change."""

    # Text searches on the field are routed by it and logged; feedback is accepted.
    RUNNING = "RUNNING"
    # Ended without a promotion: routing stopped, logs and the final report are kept.
    STOPPED = "STOPPED"
    # Ended by promoting the challenger (serving version and model alias moved in one transaction).
    PROMOTED = "PROMOTED"

    def check_transition(self, target: ExperimentState) -> None:
        """Return if ``self -> target`` is allowed; raise ``InvalidStateError`` otherwise."""
        if target not in _TRANSITIONS[self]:
            allowed = ", ".join(sorted(s.value for s in _TRANSITIONS[self])) or "none: it has ended"
            raise InvalidStateError(f"an experiment cannot go from {self.value} to {target.value} (allowed: {allowed})")


_TRANSITIONS: dict[ExperimentState, frozenset[ExperimentState]] = {
    ExperimentState.RUNNING: frozenset({ExperimentState.STOPPED, ExperimentState.PROMOTED}),
    ExperimentState.STOPPED: frozenset(),
    ExperimentState.PROMOTED: frozenset(),
}


class Arm(enum.StrEnum):
    """The side of an experiment a query (or a hit) belongs to."""

    CHAMPION = "champion"
    CHALLENGER = "challenger"
    # The hits of an interleaved query come from both arms; each hit names its own.
    INTERLEAVED = "interleaved"


@dataclass(frozen=True)
class ExperimentRecord:
    """An experiment as the catalog has it; versions and column keys are fixed when it starts."""

    id: int
    collection_id: int
    field: str
    mode: ExperimentMode
    champion: str
    challenger: str
    champion_version: str
    challenger_version: str
    champion_key: str
    challenger_key: str
    split: float
    k: int
    alpha: float
    sequential: bool
    horizon: int | None
    salt: str
    state: ExperimentState
    created_at: float
    ended_at: float | None
    final_report: dict[str, Any] | None

    def version_of(self, arm: Arm) -> str:
        """The model version URI that serves ``arm``."""
        return self.challenger_version if arm is Arm.CHALLENGER else self.champion_version

    def to_dict(self, collection_name: str) -> dict[str, Any]:
        """Return a JSON-ready description (the salt stays private)."""
        return {
            "experiment_id": self.id,
            "collection_name": collection_name,
            "field": self.field,
            "mode": self.mode.value,
            "state": self.state.value,
            "champion": self.champion,
            "challenger": self.challenger,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "split": self.split,
            "k": self.k,
            "alpha": self.alpha,
            "sequential": self.sequential,
            "horizon": self.horizon,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
        }


@dataclass(frozen=True)
class QueryLogEntry:
    """One routed query: who answered, with which versions and index, how fast, and what it returned.

    ``returned_ids`` is what the user saw; ``teams`` (interleaving) names the arm of
    each of them. ``champion_ids``/``challenger_ids`` are each arm's own ranking where
    the arm ran (both in shadow and interleaving). Latencies are in milliseconds.
    """

    query_id: str
    experiment_id: int
    time: float
    arm: Arm
    user_key: str | None
    served_version: str
    versions: dict[str, str]
    indexes: dict[str, str]
    latency_ms: float
    champion_latency_ms: float | None
    challenger_latency_ms: float | None
    returned_ids: list[Any]
    teams: list[str] | None = None
    champion_ids: list[Any] | None = None
    challenger_ids: list[Any] | None = None
    error: str | None = None
    text: str | None = None  # the query text (what fine-tuning from feedback learns from)

    def row(self) -> tuple[Any, ...]:
        return (
            self.query_id,
            self.experiment_id,
            self.time,
            self.arm.value,
            self.user_key,
            self.served_version,
            json.dumps(self.versions),
            json.dumps(self.indexes),
            self.latency_ms,
            self.champion_latency_ms,
            self.challenger_latency_ms,
            json.dumps(self.returned_ids),
            _dumps(self.teams),
            _dumps(self.champion_ids),
            _dumps(self.challenger_ids),
            self.error,
            self.text,
            self.experiment_id,
        )

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> QueryLogEntry:
        return cls(
            query_id=row["query_id"],
            experiment_id=int(row["experiment_id"]),
            time=float(row["time"]),
            arm=Arm(row["arm"]),
            user_key=row["user_key"],
            served_version=row["served_version"],
            versions=json.loads(row["versions"]),
            indexes=json.loads(row["indexes"]),
            latency_ms=float(row["latency_ms"]),
            champion_latency_ms=row["champion_latency_ms"],
            challenger_latency_ms=row["challenger_latency_ms"],
            returned_ids=json.loads(row["returned_ids"]),
            teams=_loads(row["teams"]),
            champion_ids=_loads(row["champion_ids"]),
            challenger_ids=_loads(row["challenger_ids"]),
            error=row["error"],
            text=row["text"] if "text" in row.keys() else None,  # noqa: SIM118 - a Row's "in" looks at values
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the entry."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"arm": self.arm.value}


@dataclass(frozen=True)
class Feedback:
    """A click on, or a relevance grade of, one returned document of a logged query."""

    query_id: str
    doc_id: Any
    kind: str
    relevance: float | None
    time: float

    @property
    def positive(self) -> bool:
        """Whether it counts as a success (a click, or a grade above zero)."""
        return self.kind == "click" or (self.relevance is not None and self.relevance > 0)


class ExperimentStore:
    """Reads and writes the experiment tables; writes join the caller's transaction when given a cursor."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        catalog.ensure_tables(_TABLES)
        # A read-only open of an older data directory may lack the tables: it then has no experiments.
        self.available = catalog.query_one("SELECT name FROM sqlite_master WHERE name = 'experiments'") is not None
        if self.available and not catalog.read_only:
            columns = {row["name"] for row in catalog.query("PRAGMA table_info(experiment_queries)", ())}
            if "text" not in columns:  # logs of an older data directory: their queries keep no text
                with catalog.transaction() as cursor:
                    cursor.execute("ALTER TABLE experiment_queries ADD COLUMN text TEXT")

    def create(self, cursor: sqlite3.Cursor, **values: Any) -> int:
        """Insert a RUNNING experiment inside the caller's transaction; return its id."""
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor.execute(
            f"INSERT INTO experiments ({columns}, state, created_at) VALUES ({marks}, 'RUNNING', ?)",
            (*values.values(), time.time()),
        )
        return int(cursor.lastrowid or 0)

    def get(self, experiment_id: int) -> ExperimentRecord:
        """The experiment with that id; raise ``ExperimentNotFoundError``."""
        row = (
            self.catalog.query_one("SELECT * FROM experiments WHERE id = ?", (experiment_id,))
            if self.available
            else None
        )
        if row is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id}", experiment_id=experiment_id)
        return _record(row)

    def select(
        self, collection_id: int | None = None, *, state: ExperimentState | None = None
    ) -> list[ExperimentRecord]:
        """Experiments, oldest first; only one collection's, or only those in ``state``, when asked."""
        if not self.available:
            return []
        sql = "SELECT * FROM experiments WHERE 1 = 1"
        params: list[Any] = []
        if collection_id is not None:
            sql += " AND collection_id = ?"
            params.append(collection_id)
        if state is not None:
            sql += " AND state = ?"
            params.append(state.value)
        return [_record(row) for row in self.catalog.query(sql + " ORDER BY id", tuple(params))]

    def transition(
        self, cursor: sqlite3.Cursor, experiment_id: int, target: ExperimentState, *, final_report: dict[str, Any] | None
    ) -> None:
        """End an experiment inside the caller's transaction, keeping its final report (None: built from its logs)."""
        row = cursor.execute("SELECT state FROM experiments WHERE id = ?", (experiment_id,)).fetchone()
        if row is None:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id}", experiment_id=experiment_id)
        ExperimentState(row["state"]).check_transition(target)
        cursor.execute(
            "UPDATE experiments SET state = ?, ended_at = ?, final_report = ? WHERE id = ?",
            (
                target.value,
                time.time(),
                None if final_report is None else json.dumps(final_report, default=str),
                experiment_id,
            ),
        )

    def insert_queries(self, entries: Sequence[QueryLogEntry]) -> None:
        """Write a batch of query log entries in one transaction (entries of deleted experiments are skipped)."""
        with self.catalog.transaction() as cursor:
            cursor.executemany(_INSERT_QUERY, [entry.row() for entry in entries])

    def add_dropped(self, counts: dict[int, int]) -> None:
        """Add to the count of queries each experiment's log lost (experiments that are gone are skipped)."""
        with self.catalog.transaction() as cursor:
            cursor.executemany(
                "INSERT INTO experiment_dropped_queries (experiment_id, dropped)"
                " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM experiments WHERE id = ?)"
                " ON CONFLICT (experiment_id) DO UPDATE SET dropped = dropped + excluded.dropped",
                [(experiment_id, count, experiment_id) for experiment_id, count in counts.items()],
            )

    def dropped(self) -> dict[int, int]:
        """How many queries the log lost, by experiment (none recorded: absent)."""
        if self.catalog.query_one("SELECT name FROM sqlite_master WHERE name = 'experiment_dropped_queries'") is None:
            return {}  # a read-only open of an older data directory
        rows = self.catalog.query("SELECT experiment_id, dropped FROM experiment_dropped_queries")
        return {int(row["experiment_id"]): int(row["dropped"]) for row in rows}

    def find_query(self, query_id: str) -> QueryLogEntry | None:
        row = (
            self.catalog.query_one("SELECT * FROM experiment_queries WHERE query_id = ?", (query_id,))
            if self.available
            else None
        )
        return QueryLogEntry.from_row(row) if row is not None else None

    def queries(self, experiment_id: int) -> list[QueryLogEntry]:
        """Every logged query of an experiment, in the order they were answered."""
        if not self.available:
            return []
        rows = self.catalog.query(
            "SELECT * FROM experiment_queries WHERE experiment_id = ? ORDER BY time, query_id", (experiment_id,)
        )
        return [QueryLogEntry.from_row(row) for row in rows]

    def add_feedback(
        self, experiment_id: int, query_id: str, doc_id: Any, kind: str, relevance: float | None
    ) -> Feedback:
        """Record one feedback event; return it."""
        now = time.time()
        with self.catalog.transaction() as cursor:
            cursor.execute(
                "INSERT INTO experiment_feedback (experiment_id, query_id, doc_id, kind, relevance, time) VALUES (?, ?, ?, ?, ?, ?)",
                (experiment_id, query_id, json.dumps(doc_id), kind, relevance, now),
            )
        return Feedback(query_id, doc_id, kind, relevance, now)

    def horizon_data(self, experiment_id: int) -> HorizonData | None:
        """The data a fixed-horizon verdict was frozen on, or None while it has not been reached."""
        if not self.available:
            return None
        row = self.catalog.query_one("SELECT * FROM experiment_horizons WHERE experiment_id = ?", (experiment_id,))
        if row is None:
            return None
        return HorizonData(row["last_query_time"], row["last_query_id"], int(row["last_feedback_id"]))

    def last_feedback_id(self, experiment_id: int) -> int:
        """The id of the experiment's newest feedback event (0 when it has none)."""
        if not self.available:
            return 0
        row = self.catalog.query_one(
            "SELECT COALESCE(MAX(id), 0) AS id FROM experiment_feedback WHERE experiment_id = ?", (experiment_id,)
        )
        return 0 if row is None else int(row["id"])

    def freeze_horizon(self, experiment_id: int, queries: Sequence[QueryLogEntry], last_feedback_id: int) -> None:
        """Record the data a fixed-horizon verdict was reached on: ``queries`` and feedback up to an id (first time only)."""
        last = max(queries, key=lambda q: (q.time, q.query_id), default=None)
        with self.catalog.transaction() as cursor:
            cursor.execute(
                "INSERT OR IGNORE INTO experiment_horizons (experiment_id, last_query_time, last_query_id, last_feedback_id)"
                " VALUES (?, ?, ?, ?)",
                (experiment_id, None if last is None else last.time, None if last is None else last.query_id, last_feedback_id),
            )

    def feedback(self, experiment_id: int, *, up_to_id: int | None = None) -> list[Feedback]:
        """Every feedback event of an experiment (up to a recorded id), oldest first."""
        if not self.available:
            return []
        rows = self.catalog.query(
            "SELECT * FROM experiment_feedback WHERE experiment_id = ? AND id <= ? ORDER BY id",
            (experiment_id, up_to_id if up_to_id is not None else 2**63 - 1),
        )
        return [
            Feedback(r["query_id"], json.loads(r["doc_id"]), r["kind"], r["relevance"], float(r["time"])) for r in rows
        ]


@dataclass(frozen=True)
class HorizonData:
    """What a fixed-horizon verdict rests on, recorded when it was first reached: the logged queries up to
    ``(last_query_time, last_query_id)`` and the feedback up to ``last_feedback_id``."""

    last_query_time: float | None
    last_query_id: str | None
    last_feedback_id: int

    def keeps(self, entry: QueryLogEntry) -> bool:
        if self.last_query_time is None or self.last_query_id is None:
            return False
        return (entry.time, entry.query_id) <= (self.last_query_time, self.last_query_id)


def check_settings(*, split: float, k: int, alpha: float, sequential: bool, horizon: int | None) -> None:
    """Check an experiment's settings before anything is written; raise ``InvalidArgumentError``."""
    if isinstance(split, bool) or not isinstance(split, int | float) or not 0.0 < float(split) < 1.0:
        raise InvalidArgumentError(f"split must be a share in (0, 1), got {split!r}", field="split")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 1000:
        raise InvalidArgumentError(f"k must be an integer in [1, 1000], got {k!r}", field="k")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 < float(alpha) < 1.0:
        raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha!r}", field="alpha")
    if not isinstance(sequential, bool):
        raise InvalidArgumentError(f"sequential must be true or false, got {sequential!r}", field="sequential")
    if sequential and horizon is not None:
        raise InvalidArgumentError("horizon belongs to a fixed-horizon experiment (sequential=False)", field="horizon")
    if not sequential and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
        raise InvalidArgumentError(
            f"a fixed-horizon experiment (sequential=False) needs horizon, a positive integer, got {horizon!r}",
            field="horizon",
        )


def _record(row: sqlite3.Row) -> ExperimentRecord:
    final = row["final_report"]
    return ExperimentRecord(
        id=int(row["id"]),
        collection_id=int(row["collection_id"]),
        field=row["field"],
        mode=ExperimentMode(row["mode"]),
        champion=row["champion"],
        challenger=row["challenger"],
        champion_version=row["champion_version"],
        challenger_version=row["challenger_version"],
        champion_key=row["champion_key"],
        challenger_key=row["challenger_key"],
        split=float(row["split"]),
        k=int(row["k"]),
        alpha=float(row["alpha"]),
        sequential=bool(row["sequential"]),
        horizon=row["horizon"],
        salt=row["salt"],
        state=ExperimentState(row["state"]),
        created_at=float(row["created_at"]),
        ended_at=row["ended_at"],
        final_report=json.loads(final) if final else None,
    )


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)
