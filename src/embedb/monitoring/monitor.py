"""Per-minute counts of the searches each model version answers, kept in the catalog with bounded retention.

Beside the counts, a small sample of each minute's query texts (at most
``TEXTS_PER_MINUTE`` per field and version, drawn uniformly from that minute's
text queries) is kept under the same retention: the query stream that ``drift``
compares against its past (``{"logged": [since, until]}``) and that a policy
watches.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from embedb.errors import InvalidArgumentError
from embedb.experiments.records import Arm, ExperimentStore
from embedb.storage import Catalog

log = logging.getLogger(__name__)

MINUTE_S = 60
DEFAULT_RETENTION_S = 14 * 86_400
FLUSH_S = 5.0
LATENCY_EDGES_MS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0)
"""Upper edges of the latency histogram's bins (a last bin holds everything slower)."""
TEXTS_PER_MINUTE = 32
"""Query texts kept per (field, version, minute): a drift sample within hours, at most ~46k a day whatever the traffic."""
TEXT_RETENTION_S = 7 * 86_400
SCORE_EDGES = tuple(round(-1.0 + 0.05 * step, 2) for step in range(1, 41))
"""Upper edges of the top-1 similarity histogram's bins over [-1, 1] (COSINE and IP fields)."""

_TABLES = """
CREATE TABLE IF NOT EXISTS monitor_minutes (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    version TEXT NOT NULL,
    minute INTEGER NOT NULL,
    queries INTEGER NOT NULL,
    empty INTEGER NOT NULL,
    latency TEXT NOT NULL,
    scores TEXT NOT NULL,
    PRIMARY KEY (collection_id, field, version, minute)
);
CREATE TABLE IF NOT EXISTS monitor_texts (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    version TEXT NOT NULL,
    minute INTEGER NOT NULL,
    time REAL NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS monitor_texts_by_time ON monitor_texts (collection_id, field, minute);
"""

Key = tuple[int, str, str, int]  # (collection id, field, version URI, minute)


@dataclass
class Minute:
    """One minute of one version's searches: queries, empty answers, latency and top-1 score histograms."""

    queries: int = 0
    empty: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_EDGES_MS) + 1))
    scores: list[int] = field(default_factory=lambda: [0] * len(SCORE_EDGES))
    texts: list[tuple[float, str]] = field(default_factory=list)
    texts_seen: int = 0

    def add(self, *, queries: int, empty: int, top_scores: Iterable[float | None], latency_ms: float) -> None:
        self.queries += queries
        self.empty += empty
        self.latency[bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)] += queries
        for score in top_scores:
            if score is not None:
                self.scores[min(bisect.bisect_left(SCORE_EDGES, score), len(SCORE_EDGES) - 1)] += 1

    def keep_texts(self, texts: Sequence[str], when: float, rng: random.Random) -> None:
        """Reservoir-sample ``texts`` into this minute's ``TEXTS_PER_MINUTE`` kept texts."""
        for text in texts:
            self.texts_seen += 1
            if len(self.texts) < TEXTS_PER_MINUTE:
                self.texts.append((when, text))
            else:
                slot = rng.randrange(self.texts_seen)
                if slot < TEXTS_PER_MINUTE:
                    self.texts[slot] = (when, text)

    def merge(self, other: Minute) -> None:
        self.queries += other.queries
        self.empty += other.empty
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]
        self.scores = [a + b for a, b in zip(self.scores, other.scores, strict=True)]
        self.texts = (self.texts + other.texts)[:TEXTS_PER_MINUTE]
        self.texts_seen += other.texts_seen

    @classmethod
    def from_row(cls, row: Any) -> Minute:
        return cls(int(row["queries"]), int(row["empty"]), json.loads(row["latency"]), json.loads(row["scores"]))


class SearchMonitor:
    """Counts searches per (collection, field, version, minute) in memory; a background thread writes them."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        read_only: bool,
        retention_s: float = DEFAULT_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        self.read_only = read_only
        self.retention_s = retention_s
        self.clock = clock
        catalog.ensure_tables(_TABLES)
        self._pending: dict[Key, Minute] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        # False on a cluster's shards: the router counts what the whole cluster answered (merge_minutes stores it).
        self.recording = True
        self._capture = threading.local()

    def record(
        self,
        collection_id: int,
        field_name: str,
        version: str,
        *,
        queries: int,
        empty: int,
        top_scores: Iterable[float | None],
        latency_ms: float,
        texts: Sequence[str] = (),
    ) -> None:
        """Count one search call (``queries`` queries, ``texts`` when they were text) of a version; never blocks on I/O."""
        captured = getattr(self._capture, "keys", None)
        if captured is not None:  # inside ``capturing``: say what would be counted, count nothing
            captured.append((collection_id, field_name, version))
            return
        if self.read_only or not self.recording or queries <= 0:
            return
        now = self.clock()
        key = (collection_id, field_name, version, int(now // MINUTE_S))
        with self._lock:
            minute = self._pending.setdefault(key, Minute())
            minute.add(queries=queries, empty=empty, top_scores=top_scores, latency_ms=latency_ms)
            minute.keep_texts(texts, now, self._rng)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="embedb-monitor", daemon=True)
                self._thread.start()

    @contextmanager
    def capturing(self) -> Iterator[list[tuple[int, str, str]]]:
        """Within it, this thread's searches are not counted; the list gets the (collection, field, version) of each."""
        self._capture.keys = []
        try:
            yield self._capture.keys
        finally:
            del self._capture.keys

    def merge_minutes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store minutes counted elsewhere (a cluster's router), adding to what the catalog has."""
        pending: dict[Key, Minute] = {}
        for row in rows:
            collection_id, field_name, version, minute = row["key"]
            counts = Minute(
                int(row["queries"]), int(row["empty"]), list(row["latency"]), list(row["scores"]),
                [(float(when), str(text)) for when, text in row["texts"]], int(row["texts_seen"]),
            )  # fmt: skip
            pending.setdefault((int(collection_id), str(field_name), str(version), int(minute)), Minute()).merge(counts)
        self._write(pending)

    def flush(self) -> None:
        """Write the counted minutes (adding to what the catalog has) and forget minutes past the retention."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending or self.read_only:
            return
        try:
            self._write(pending)
        except Exception as error:  # the catalog may be busy or closing: keep the counts for the next attempt
            log.warning("could not write %d monitoring minutes: %s", len(pending), error)
            with self._lock:
                for key, counts in pending.items():
                    self._pending.setdefault(key, Minute()).merge(counts)

    def _write(self, pending: dict[Key, Minute]) -> None:
        with self.catalog.transaction() as cursor:
            for (collection_id, field_name, version, minute), counts in pending.items():
                row = cursor.execute(
                    "SELECT * FROM monitor_minutes WHERE collection_id = ? AND field = ? AND version = ? AND minute = ?",
                    (collection_id, field_name, version, minute),
                ).fetchone()
                merged = Minute.from_row(row) if row is not None else Minute()
                merged.merge(counts)
                cursor.execute(
                    "INSERT OR REPLACE INTO monitor_minutes (collection_id, field, version, minute, queries, empty,"
                    " latency, scores) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM collections WHERE id = ?)",
                    (
                        collection_id,
                        field_name,
                        version,
                        minute,
                        merged.queries,
                        merged.empty,
                        json.dumps(merged.latency),
                        json.dumps(merged.scores),
                        collection_id,
                    ),
                )
                _write_texts(cursor, (collection_id, field_name, version, minute), counts.texts)
            oldest = int((self.clock() - self.retention_s) // MINUTE_S)
            cursor.execute("DELETE FROM monitor_minutes WHERE minute < ?", (oldest,))
            oldest_text = int((self.clock() - min(self.retention_s, TEXT_RETENTION_S)) // MINUTE_S)
            cursor.execute("DELETE FROM monitor_texts WHERE minute < ?", (oldest_text,))

    def minutes(
        self, collection_id: int, field_name: str, since: float, until: float
    ) -> dict[str, list[tuple[int, Minute]]]:
        """Per version, its (minute, counts) between ``since`` and ``until`` (epoch seconds), oldest first."""
        self.flush()
        rows = self.catalog.query(
            "SELECT * FROM monitor_minutes WHERE collection_id = ? AND field = ? AND minute >= ? AND minute <= ?"
            " ORDER BY minute",
            (collection_id, field_name, int(since // MINUTE_S), int(until // MINUTE_S)),
        )
        found: dict[str, list[tuple[int, Minute]]] = {}
        for row in rows:
            found.setdefault(row["version"], []).append((int(row["minute"]), Minute.from_row(row)))
        return found

    def texts(self, collection_id: int, field_name: str, since: float, until: float) -> list[tuple[float, str]]:
        """The kept query texts of a field (every version) between ``since`` and ``until``, oldest first."""
        self.flush()
        rows = self.catalog.query(
            "SELECT time, text FROM monitor_texts WHERE collection_id = ? AND field = ? AND minute >= ? AND minute <= ?"
            " AND time >= ? AND time <= ? ORDER BY time",
            (collection_id, field_name, int(since // MINUTE_S), int(until // MINUTE_S), since, until),
        )
        return [(float(row["time"]), str(row["text"])) for row in rows]

    def close(self) -> None:
        """Stop the writer thread and write what is left; idempotent."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            self.flush()


MAX_EPOCH_S = 1e11  # about the year 5100: a bound that keeps minute numbers inside SQLite's integers


def checked_window(name: str, window: Any) -> tuple[float, float]:
    """``[since, until]`` in epoch seconds, finite, ordered and within ``MAX_EPOCH_S``; ``InvalidArgumentError`` else."""
    if (
        not isinstance(window, list | tuple)
        or len(window) != 2
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= MAX_EPOCH_S
            for v in window
        )
        or not window[0] < window[1]
    ):
        raise InvalidArgumentError(
            f"{name} must be [since, until] in epoch seconds (at most {MAX_EPOCH_S:.0e}), since before until",
            argument=name,
        )
    return float(window[0]), float(window[1])


def _write_texts(cursor: Any, key: Key, texts: list[tuple[float, str]]) -> None:
    """Add a minute's sampled texts, keeping at most ``TEXTS_PER_MINUTE`` per minute (later flushes fill what is left)."""
    if not texts:
        return
    collection_id, field_name, version, minute = key
    (kept,) = cursor.execute(
        "SELECT COUNT(*) FROM monitor_texts WHERE collection_id = ? AND field = ? AND version = ? AND minute = ?",
        (collection_id, field_name, version, minute),
    ).fetchone()
    cursor.executemany(
        "INSERT INTO monitor_texts (collection_id, field, version, minute, time, text)"
        " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM collections WHERE id = ?)",
        [
            (collection_id, field_name, version, minute, when, text, collection_id)
            for when, text in texts[: max(0, TEXTS_PER_MINUTE - kept)]
        ],
    )


def percentile(histogram: list[int], share: float) -> float | None:
    """The upper edge (ms) of the latency bin holding the ``share`` quantile; None without queries."""
    total = sum(histogram)
    if total == 0:
        return None
    running = 0
    for position, count in enumerate(histogram):
        running += count
        if running >= share * total:
            return LATENCY_EDGES_MS[position] if position < len(LATENCY_EDGES_MS) else float("inf")
    return float("inf")


def below(scores: list[int], threshold: float) -> tuple[int, int]:
    """(top-1 scores in bins entirely below ``threshold``, scores counted)."""
    low = sum(count for edge, count in zip(SCORE_EDGES, scores, strict=True) if edge <= threshold)
    return low, sum(scores)


def feedback_series(
    store: ExperimentStore, collection_id: int, field_name: str, since: float, until: float, bucket_s: int | None
) -> dict[str, dict[float, dict[str, float]]]:
    """Per version and bucket start: logged queries it answered, queries with a click on its hits, reciprocal ranks.

    From every experiment on the field: a query answered by one arm counts for
    that arm's version; an interleaved query counts for both, and a click counts
    for the version whose team placed the clicked hit. ``bucket_s=None`` keys each
    query by its own time.
    """
    found: dict[str, dict[float, dict[str, float]]] = {}

    def cell(version: str, when: float) -> dict[str, float]:
        start = when if bucket_s is None else int(when // bucket_s) * bucket_s
        return found.setdefault(version, {}).setdefault(start, {"logged": 0.0, "clicked": 0.0, "reciprocal_ranks": 0.0})

    for record in store.select(collection_id):
        if record.field != field_name:
            continue
        entries = {entry.query_id: entry for entry in store.queries(record.id) if since <= entry.time <= until}
        for entry in entries.values():
            for version in _versions_shown(entry):
                cell(version, entry.time)["logged"] += 1
        best: dict[tuple[str, str], int] = {}  # (query, version) -> its best-ranked click
        for event in store.feedback(record.id):
            clicked = entries.get(event.query_id)
            if clicked is None or not event.positive:
                continue
            position = next((i for i, doc in enumerate(clicked.returned_ids) if str(doc) == str(event.doc_id)), None)
            if position is None:
                continue
            version = clicked.versions[clicked.teams[position]] if clicked.teams is not None else clicked.served_version
            key = (clicked.query_id, version)
            best[key] = min(best.get(key, position), position)
        for (query_id, version), position in best.items():
            counts = cell(version, entries[query_id].time)
            counts["clicked"] += 1
            counts["reciprocal_ranks"] += 1.0 / (position + 1)
    return found


def _versions_shown(entry: Any) -> list[str]:
    if entry.arm is Arm.INTERLEAVED:
        return [entry.versions[Arm.CHAMPION.value], entry.versions[Arm.CHALLENGER.value]]
    return [entry.served_version]
