"""Results that draw themselves in a notebook: ``_repr_html_`` for hits, rows and reports, and a progress bar.

Every client operation's result comes back as one of these (``present``), so a
Jupyter or Colab cell that ends in ``db.search(...)``, ``db.model_alias_history(...)``
or ``db.experiment_report(...)`` shows a table, not a wall of dicts. They are
plain ``list`` and ``dict`` subclasses: equality, JSON and indexing are unchanged.
A table shows at most ``MAX_ROWS`` rows, ``MAX_COLUMNS`` columns and ``MAX_QUERIES``
queries' hits, and says what it left out, so a huge result draws as fast as a small one.

``progress(description)`` returns a ``progress=`` callback that draws a rich
progress bar — in a terminal, and in Jupyter, where rich renders to the cell.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

MAX_ROWS = 50
MAX_COLUMNS = 40
MAX_QUERIES = 10
TIME_COLUMNS = frozenset(
    {"time", "created_at", "updated_at", "finished_at", "ended_at", "promoted_at", "since", "until"}
)


class SearchResult(list[list[dict[str, Any]]]):
    """One list of hits per query; in a notebook, one table per query (rank, id, distance, arm, fields)."""

    def _repr_html_(self) -> str:
        parts = []
        for position, hits in enumerate(self[:MAX_QUERIES]):
            shown = hits[:MAX_ROWS]
            fields = list(dict.fromkeys(key for hit in shown for key in (hit.get("entity") or {})))
            extra = [key for key in ("arm", "query_id") if any(key in hit for hit in shown)]
            headers = ["rank", "id", "distance", *extra, *fields]
            rows = [
                [rank + 1, hit.get("id"), hit.get("distance"), *(hit.get(key) for key in extra)]
                + [(hit.get("entity") or {}).get(name) for name in fields]
                for rank, hit in enumerate(shown)
            ]
            title = f"query {position + 1}: {len(hits)} hit{'' if len(hits) == 1 else 's'}"
            parts.append(html_table(title, headers, rows, total=len(hits)))
        if len(self) > MAX_QUERIES:
            parts.append(f"<p>{len(self) - MAX_QUERIES} more queries not shown</p>")
        return "".join(parts) or "<p>no queries</p>"


class Rows(list[dict[str, Any]]):
    """Rows of one shape (query results, alias or serving history, jobs, experiments); a table in a notebook."""

    def _repr_html_(self) -> str:
        shown = [row for row in self[:MAX_ROWS] if isinstance(row, Mapping)]
        columns = list(dict.fromkeys(key for row in shown for key in row))
        rows = [[row.get(column) for column in columns] for row in shown]
        return html_table(f"{len(self)} row{'' if len(self) == 1 else 's'}", columns, rows, total=len(self))


class Record(dict[str, Any]):
    """One result object (a report, a job, a description); a two-column table in a notebook."""

    def _repr_html_(self) -> str:
        title = str(self.get("decision") or self.get("state") or self.get("collection_name") or "")
        rows = [[key, _timed(key, value)] for key, value in list(self.items())[:MAX_ROWS]]
        return html_table(title, ["", ""], rows, total=len(self))


def present(result: Any) -> Any:
    """Wrap an operation's result for display: hits, rows and records get ``_repr_html_``; others pass through."""
    kind = type(result)
    if kind is list and result:
        first = type(result[0])
        if first is list:
            return SearchResult(result)
        if first is dict:
            return Rows(result)
    elif kind is dict:
        return Record(result)
    return result


def html_table(caption: str, headers: Sequence[Any], rows: list[list[Any]], *, total: int | None = None) -> str:
    """An escaped HTML table of the first ``MAX_ROWS`` rows and ``MAX_COLUMNS`` columns; nested values as JSON.

    ``total`` is how many rows the whole result has (more than ``rows`` when the caller cut it already).
    """
    names = list(headers)[:MAX_COLUMNS]
    shown = [row[: len(names)] for row in rows[:MAX_ROWS]]
    head = "".join(f"<th>{_text(name)}</th>" for name in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(name, value)}</td>" for name, value in zip(names, row, strict=False)) + "</tr>"
        for row in shown
    )
    notes = []
    left_rows = (total if total is not None else len(rows)) - len(shown)
    if left_rows > 0:
        notes.append(f"{left_rows} more rows")
    if len(list(headers)) > len(names):
        notes.append(f"{len(list(headers)) - len(names)} more columns")
    more = f"<p>{' and '.join(notes)} not shown</p>" if notes else ""
    return (
        f"<table><caption>{_text(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
    )


class _Progress:
    """The callback ``progress`` returns: ``(done, total)`` or ``(stage, done, total)``; ``close()`` ends the bar."""

    def __init__(self, description: str, console: Any = None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.description = description
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self.tasks: dict[str, Any] = {}
        self.running = False
        self.lock = threading.Lock()

    def __call__(self, *arguments: Any) -> None:
        if len(arguments) == 2:
            stage, done, total = self.description, *arguments
        elif len(arguments) == 3:
            stage, done, total = f"{self.description}: {arguments[0]}", *arguments[1:]
        else:
            raise TypeError(
                f"a progress callback takes (done, total) or (stage, done, total), got {len(arguments)} values"
            )
        with self.lock:
            if not self.running:  # the first call, or a new stage after every earlier one finished
                self.bar.start()
                self.running = True
            if stage not in self.tasks:
                self.tasks[stage] = self.bar.add_task(stage, total=total)
            self.bar.update(self.tasks[stage], completed=max(0, done or 0), total=total)
            if all(task.finished for task in self.bar.tasks):
                self._stop()

    def close(self) -> None:
        """Stop drawing (an operation that ended before its total calls this)."""
        with self.lock:
            self._stop()

    def _stop(self) -> None:
        if self.running:
            self.bar.stop()
            self.running = False
        for task in list(self.tasks.values()):  # a reused callback starts its stages afresh
            self.bar.remove_task(task)
        self.tasks.clear()


def progress(description: str, *, console: Any = None) -> _Progress:
    """A ``progress=`` callback drawing a rich progress bar (terminal or notebook); it closes itself when done.

    ``console``: the rich ``Console`` to draw on (the default one: standard output).
    """
    return _Progress(description, console)


def _timed(column: Any, value: Any) -> Any:
    if column in TIME_COLUMNS and isinstance(value, int | float) and not isinstance(value, bool) and 1e8 < value < 1e11:
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return value


def _cell(column: Any, value: Any) -> str:
    value = _timed(column, value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return f"<code>{_text(json.dumps(value, default=str)[:300])}</code>"
    return _text(value)


def _text(value: Any) -> str:
    return "" if value is None else html.escape(str(value))

