"""The demo's console: step panels, progress bars and tables of hits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

console = Console()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def step(title: str, text: str) -> None:
    console.print()
    console.print(Panel(text, title=f"[bold cyan]{title}", expand=False))


def show_hits(title: str, hits: Sequence[Mapping[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("id", "distance", "text", "arm"):
        table.add_column(column)
    for hit in hits:
        table.add_row(
            str(hit["id"]), f"{hit['distance']:.3f}", str(hit["entity"].get("text", "")), str(hit.get("arm", ""))
        )
    console.print(table)
