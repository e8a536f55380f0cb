"""Data commands: ``info``, ``collections``, ``query`` (on a ``TARGET``: a directory or a server) and ``check``.

``info``, ``collections`` and ``query`` use only the ``Backend`` contract, so they
work the same on a data directory and against ``embedb serve``; ``check`` reads
a directory's files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from embedb.cli.console import console
from embedb.cli.targets import Target, Token, is_server, open_target

PathArg = Annotated[Path, typer.Argument(help="The data directory.", exists=True, file_okay=False)]


def _directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def info(target: Target, token: Token = None) -> None:
    """Summarise a database: collections, rows, models, running jobs and experiments (and disk use of a directory)."""
    with open_target(target, token, read_only=True) as db:
        names = db.list_collections()
        stats = [db.get_collection_stats(name) for name in names]
        models = db.list_models()
        jobs = [job for job in db.list_jobs() if job["state"] in ("PENDING", "RUNNING")]
        experiments = [e for e in db.list_experiments() if e["state"] == "RUNNING"]
    table = Table(show_header=False, box=None)
    table.add_row("server" if is_server(target) else "path", target if is_server(target) else str(Path(target).resolve()))
    table.add_row("collections", str(len(names)))
    table.add_row("rows", f"{sum(int(s['row_count']) for s in stats):,}")
    table.add_row("sealed segments", str(sum(int(s["sealed_segments"]) for s in stats)))
    table.add_row("models", str(len(models)))
    table.add_row("running backfills", str(len(jobs)))
    table.add_row("running experiments", str(len(experiments)))
    if not is_server(target):
        table.add_row("disk bytes", f"{_directory_bytes(Path(target)):,}")
    console.print(table)


def collections(target: Target, token: Token = None) -> None:
    """List collections with their rows, segments, vector fields and aliases."""
    table = Table("name", "rows", "sealed segments", "vector fields", "aliases")
    with open_target(target, token, read_only=True) as db:
        for name in db.list_collections():
            described = db.describe_collection(name)
            stats = db.get_collection_stats(name)
            vectors = ", ".join(
                f"{f['name']}({f['dim']}, {f['metric_type']})" for f in described["fields"] if f["type"].endswith("_VECTOR")
            )
            table.add_row(name, str(stats["row_count"]), str(stats["sealed_segments"]), vectors, ", ".join(described["aliases"]))
    console.print(table)


def query(
    target: Target,
    name: Annotated[str, typer.Argument(help="Collection name or alias.")],
    filter: Annotated[str, typer.Option("--filter", "-f", help='Milvus filter, e.g. \'age > 30 and tag in ["a"]\'.')] = "",
    output_fields: Annotated[str, typer.Option("--output-fields", "-o", help="Comma-separated fields, or '*'.")] = "",
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    token: Token = None,
) -> None:
    """Print the rows of a collection that match a filter."""
    fields = [f.strip() for f in output_fields.split(",") if f.strip()] or None
    with open_target(target, token, read_only=True) as db:
        rows = db.query(name, filter, output_fields=fields, limit=limit, offset=offset)
    if as_json:
        for row in rows:
            console.print_json(json.dumps(row, default=str))
        return
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    table = Table(*columns, title=f"{name}: {len(rows)} row(s)")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list) and len(value) > 6:
        return "[" + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value[:4]) + f", … ({len(value)})]"
    return "" if value is None else str(value)


def check(
    path: PathArg,
    repair: Annotated[bool, typer.Option("--repair", help="Drop what is damaged (after showing what).")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before repairing.")] = False,
) -> None:
    """Verify every checksum (WAL records, segment and deletion files, model artifacts), list failed index builds, interrupted drops and READY versions missing vectors; optionally repair."""
    from embedb.index import failed_index_builds
    from embedb.lifecycle import half_dropped_versions, incomplete_ready_versions
    from embedb.models import check_model_artifacts
    from embedb.storage.check import check_directory, repair_directory

    report = check_directory(path)
    failed_builds = failed_index_builds(path)
    half_dropped = half_dropped_versions(path)
    incomplete = incomplete_ready_versions(path)
    artifacts = check_model_artifacts(path)
    console.print(
        f"checked {report.collections} collection(s), {report.segments} segment(s), "
        f"{report.wal_files} WAL file(s) with {report.wal_records} record(s), {artifacts.artifacts} model artifact(s)"
    )
    for torn in report.torn_tails:
        console.print(f"[yellow]torn tail[/]: {torn}")
    if failed_builds:
        builds = Table("collection", "index", "segment", "column", "error", title="index builds that failed or never ran")
        for build in failed_builds:
            builds.add_row(build.collection, build.index_name, str(build.segment_id), build.column_key, build.error)
        console.print(builds)
        console.print("these segments are searched exactly; reopen the database (restart the server) to retry them")
    if half_dropped:
        drops = Table("collection", "field", "version", "state", "segments still holding it", title="drops a crash interrupted")
        for version in half_dropped:
            drops.add_row(version.collection, version.field, version.version, version.state, str(version.segments))
        console.print(drops)
        console.print("opening the directory writable (or starting the server) finishes these drops")
    if incomplete:
        gaps = Table("collection", "field", "version", "segments without its vectors", title="READY versions missing vectors")
        for gap in incomplete:
            gaps.add_row(gap.collection, gap.field, gap.version, str(gap.segments))
        console.print(gaps)
        console.print("rows of these segments have no vector of a version that says it is complete: drop it and add it again")
    for artifact in artifacts.damaged:
        # One unwrapped line each: the file path stays whole for a reader and for grep.
        console.print(
            f"[red]damaged model artifact[/] {artifact.artifact_hash} of {', '.join(artifact.versions)}: "
            f"{escape(artifact.message)}",
            soft_wrap=True,
        )
    if artifacts.damaged:
        console.print(
            "these versions cannot be loaded: restore the artifact from a backup or register the model again "
            "(--repair does not touch model artifacts)"
        )
    unfinished = bool(failed_builds or half_dropped or incomplete or artifacts.damaged)
    if report.ok:
        if artifacts.ok:
            console.print("[green]ok[/]: every checksum matches")
        if unfinished:
            raise typer.Exit(1)
        return
    table = Table("collection", "what", "file", "offset", "problem", "a repair drops")
    for problem in report.problems:
        table.add_row(problem.collection, problem.kind, problem.file, str(problem.offset), problem.message, problem.would_drop)
    console.print(table)
    if not repair:
        console.print("run again with --repair to drop what is listed above")
        raise typer.Exit(1)
    if not yes and not typer.confirm("Drop what is listed above?"):
        raise typer.Exit(1)
    for action in repair_directory(path, report):
        console.print(f"[green]repaired[/]: {action}")
    if unfinished:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(info)
    app.command()(collections)
    app.command()(query)
    app.command()(check)
