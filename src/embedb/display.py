"""Results that draw themselves in a notebook: ``_repr_html_`` for hits, rows and reports, and a progress bar.

Every client operation's result comes back as one of these (``present``), so a
Jupyter or Colab cell that ends in ``db.search(...)``, ``db.model_alias_history(...)``
or ``db.experiment_report(...)`` shows a table, not a wall of dicts. They are
plain ``list`` and ``dict`` subclasses: equality, JSON and indexing are unchanged.

``progress(description)`` returns a ``progress=`` callback that draws a rich
progress bar — in a terminal, and in Jupyter, where rich renders to the cell.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

MAX_ROWS = 50  # a notebook table shows this many rows, then says how many it left out


class SearchResult(list[list[dict[str, Any]]]):
    """One list of hits per query; in a notebook, one table per query (rank, id, distance, arm, fields)."""

    def _repr_html_(self) -> str:
        parts = []
        for position, hits in enumerate(self):
            fields = list(dict.fromkeys(key for hit in hits for key in (hit.get("entity") or {})))
            extra = [key for key in ("arm", "query_id") if any(key in hit for hit in hits)]
            rows = [
                [rank + 1, hit.get("id"), hit.get("distance"), *(hit.get(key) for key in extra)]
                + [(hit.get("entity") or {}).get(name) for name in fields]
                for rank, hit in enumerate(hits)
            ]
            title = f"query {position + 1}: {len(hits)} hit{'' if len(hits) == 1 else 's'}"
            parts.append(html_table(title, ["rank", "id", "distance", *extra, *fields], rows))
        return "".join(parts) or "<p>no queries</p>"


class Rows(list[dict[str, Any]]):
    """Rows of one shape (query results, alias or serving history, jobs, experiments); a table in a notebook."""

    def _repr_html_(self) -> str:
        columns = list(dict.fromkeys(key for row in self if isinstance(row, Mapping) for key in row))
        rows = [[row.get(column) for column in columns] for row in self if isinstance(row, Mapping)]
        return html_table(f"{len(self)} row{'' if len(self) == 1 else 's'}", columns, rows)


class Record(dict[str, Any]):
    """One result object (a report, a job, a description); a two-column table in a notebook."""

    def _repr_html_(self) -> str:
        title = str(self.get("decision") or self.get("state") or self.get("collection_name") or "")
        return html_table(title, ["", ""], [[key, value] for key, value in self.items()])


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


def html_table(caption: str, headers: Iterable[Any], rows: list[list[Any]]) -> str:
    """An escaped HTML table of at most ``MAX_ROWS`` rows; nested values are shown as compact JSON."""
    shown = rows[:MAX_ROWS]
    head = "".join(f"<th>{_text(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(value)}</td>" for value in row) + "</tr>" for row in shown)
    more = f"<p>{len(rows) - len(shown)} more rows not shown</p>" if len(rows) > len(shown) else ""
    return (
        f"<table><caption>{_text(caption)}</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
    )


def progress(description: str) -> Callable[..., None]:
    """A ``progress=`` callback drawing a rich progress bar (terminal or notebook); it closes itself when done.

    Takes ``(done, total)`` or ``(stage, done, total)``, the two shapes EmbeDB's
    long operations call with.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    tasks: dict[str, Any] = {}
    running = [False]

    def update(*arguments: Any) -> None:
        if len(arguments) == 2:
            stage, (done, total) = description, arguments
        else:
            stage, (done, total) = f"{description}: {arguments[0]}", arguments[1:]
        if not running[0]:  # the first call, or a new stage after every earlier one finished
            bar.start()
            running[0] = True
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)
        if all(task.finished for task in bar.tasks):
            bar.stop()
            running[0] = False

    return update


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return f"<code>{_text(json.dumps(value, default=str)[:300])}</code>"
    return _text(value)


def _text(value: Any) -> str:
    return "" if value is None else html.escape(str(value))
