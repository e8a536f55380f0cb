"""``embedb embeddings ...``: model versions of a vector field — backfill, promote, roll back, drop.

``TARGET`` is a data directory or the ``http://`` URL of ``embedb serve`` (the
token comes from ``--token`` or ``EMBEDB_TOKEN``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from embedb.cli.console import console
from embedb.cli.targets import Target, Token, open_target
from embedb.contract import Backend
from embedb.contract.results import Job

app = typer.Typer(no_args_is_help=True, help="Embedding versions of model-bound fields: backfill, promote, rollback.")

Collection = Annotated[str, typer.Argument(help="Collection name or alias.")]
Field = Annotated[str, typer.Argument(help="The model-bound vector field.")]
Reason = Annotated[str | None, typer.Option("--reason", help="Why; recorded in the alias history.")]
Actor = Annotated[str | None, typer.Option("--actor", help="Who; recorded in the alias history.")]


def _open(target: str, token: str | None) -> Backend:
    return open_target(target, token, read_only=False)


@app.command("list")
def list_versions(target: Target, collection: Collection, token: Token = None) -> None:
    """Show the model versions each bound field holds, their rows and which one serves."""
    with _open(target, token) as db:
        described = db.describe_collection(collection)
    table = Table("field", "model version", "state", "rows", "dimension", "serving")
    for field, versions in described.get("embedding_versions", {}).items():
        for item in versions:
            table.add_row(
                field,
                item["model_version"],
                item["state"],
                f"{item['rows']:,}",
                str(item["dimension"]),
                "yes" if item["serving"] else "",
            )
    console.print(table)


@app.command("add")
def add(
    target: Target,
    collection: Collection,
    field: Field,
    model: Annotated[str, typer.Argument(help="The new model version: models:/name/3, name@alias, name/3.")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Show progress until the backfill is done.")] = True,
    token: Token = None,
) -> None:
    """Start a backfill: embed every row of FIELD with MODEL while search keeps serving."""
    with _open(target, token) as db:
        job = db.add_embedding_version(collection, field, model)
        console.print(f"backfill job {job['job_id']} started for {job['model_version']}")
        if wait:
            job = _follow(db, job["job_id"])
    _print_job(job)
    if job["state"] in ("FAILED", "CANCELLED"):
        raise typer.Exit(1)


def _follow(db: Backend, job_id: int) -> Job:
    columns = (
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("backfill", total=None, rate="")
        while True:
            job = db.get_job(job_id)
            rate = f"{job['rows_per_second']:.0f} rows/s" if job.get("rows_per_second") else ""
            progress.update(task, completed=job["rows_done"], total=job["rows_total"] or None, rate=rate)
            if job["state"] not in ("PENDING", "RUNNING"):
                return job
            time.sleep(0.5)


def _print_job(job: Mapping[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    for key in (
        "job_id",
        "collection_name",
        "field",
        "model_version",
        "state",
        "rows_done",
        "rows_total",
        "rows_without_source",
        "error",
    ):
        if job.get(key) is not None:
            table.add_row(key, str(job[key]))
    console.print(table)


@app.command("jobs")
def jobs(target: Target, collection: Annotated[str | None, typer.Argument()] = None, token: Token = None) -> None:
    """List backfill jobs with their state and progress."""
    with _open(target, token) as db:
        listed = db.list_jobs(collection)
    table = Table("job", "collection", "field", "model version", "state", "progress", "rows")
    for job in listed:
        table.add_row(
            str(job["job_id"]),
            str(job["collection_name"]),
            job["field"],
            job["model_version"],
            job["state"],
            f"{job['progress']:.0%}",
            f"{job['rows_done']:,}/{job['rows_total']:,}",
        )
    console.print(table)


def _job_command(action: str) -> Any:
    def command(
        target: Target, job_id: Annotated[int, typer.Argument(help="The job id.")], token: Token = None
    ) -> None:
        with _open(target, token) as db:
            job = getattr(db, f"{action}_job")(job_id)
            if action == "resume":
                job = _follow(db, job_id)
        _print_job(job)

    command.__doc__ = f"{action.capitalize()} a backfill job."
    return command


for _action in ("pause", "resume", "cancel"):
    app.command(_action)(_job_command(_action))


@app.command("promote")
def promote(
    target: Target,
    collection: Collection,
    field: Field,
    model: Annotated[str, typer.Argument()],
    reason: Reason = None,
    actor: Actor = None,
    token: Token = None,
) -> None:
    """Serve MODEL's vectors for FIELD and move the field's model alias, in one transaction."""
    with _open(target, token) as db:
        moved = db.promote(collection, field, model, reason=reason, actor=actor or os.environ.get("USER"))
    console.print(
        f"[green]promoted[/] {moved['field']}: {moved['from_version']} -> {moved['to_version']} in {moved['elapsed_ms']:.1f} ms"
    )


@app.command("rollback")
def rollback(
    target: Target,
    collection: Collection,
    field: Field,
    reason: Reason = None,
    actor: Actor = None,
    token: Token = None,
) -> None:
    """Serve the previous version of FIELD again, in one transaction."""
    with _open(target, token) as db:
        moved = db.rollback(collection, field, reason=reason, actor=actor or os.environ.get("USER"))
    console.print(
        f"[yellow]rolled back[/] {moved['field']}: {moved['from_version']} -> {moved['to_version']} in {moved['elapsed_ms']:.1f} ms"
    )


@app.command("drop")
def drop(
    target: Target, collection: Collection, field: Field, model: Annotated[str, typer.Argument()], token: Token = None
) -> None:
    """Delete one model version's vectors and indexes from FIELD (refused while it is in use)."""
    with _open(target, token) as db:
        dropped = db.drop_embedding_version(collection, field, model)
    console.print(f"dropped {dropped['dropped_version']} from {dropped['segments']} segment(s)")


@app.command("history")
def history(
    target: Target, collection: Collection, field: Annotated[str | None, typer.Argument()] = None, token: Token = None
) -> None:
    """Every promotion and rollback, oldest first."""
    with _open(target, token) as db:
        entries = db.serving_history(collection, field)
    table = Table("time", "field", "action", "from", "to", "alias", "reason", "actor")
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry["time"]))
        table.add_row(
            when,
            entry["field"],
            entry["action"],
            str(entry["from_version"]),
            entry["to_version"],
            str(entry["alias"]),
            str(entry["reason"] or ""),
            str(entry["actor"] or ""),
        )
    console.print(table)
