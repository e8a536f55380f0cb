"""Model registry commands: ``list``, ``show``, ``register``, ``alias``, ``history``.

``TARGET`` is a data directory or the URL of ``embedb serve`` (``embedb.cli.targets``):
every command goes through the ``Backend`` contract's registry methods, so it
works the same on both. Errors are not caught here: ``embedb.cli.main`` prints
every ``EmbedbError`` once.
"""

from __future__ import annotations

import datetime
import getpass
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from embedb.cli.console import console
from embedb.cli.targets import Target, Token, is_server, open_target
from embedb.errors import InvalidArgumentError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

NameArg = Annotated[str, typer.Argument(help="The registered model's name.")]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


def _current_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _parse_tags(pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise InvalidArgumentError(f"--tag takes key=value, got {pair!r}")
        tags[key] = value
    return tags


def _versions_table(title: str, versions: Sequence[Mapping[str, Any]]) -> Table:
    table = Table("version", "status", "flavor", "dim", "metric", "aliases", "created", "artifact", title=title)
    for item in versions:
        table.add_row(
            str(item["version"]),
            item["status"],
            item["flavor"],
            str(item["dimension"] or ""),
            item["metric"] or "",
            ", ".join(item["aliases"]),
            _when(item["created_at"]),
            (item["artifact_hash"] or "")[:8],
        )
    return table


def _version_details(item: Mapping[str, Any]) -> Table:
    table = Table(show_header=False, box=None, title=item["uri"])
    for key, value in item.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif key == "created_at":
            value = _when(value)
        table.add_row(key, "" if value is None else str(value))
    return table


@app.command("list")
def list_models(target: Target, token: Token = None) -> None:
    """List registered models with their newest READY version and aliases."""
    with open_target(target, token, read_only=True) as db:
        models = db.list_models()
    table = Table("name", "latest", "aliases", "description", "created", title=f"{len(models)} model(s)")
    for model in models:
        aliases = ", ".join(f"{alias}→{version}" for alias, version in sorted(model["aliases"].items()))
        table.add_row(
            model["name"],
            str(model["latest_version"] or ""),
            aliases,
            model["description"] or "",
            _when(model["created_at"]),
        )
    console.print(table)


@app.command("show")
def show(
    target: Target,
    name: NameArg,
    version: Annotated[int | None, typer.Option("--version", "-v", help="Show one version in full.")] = None,
    token: Token = None,
) -> None:
    """Show a model's versions, or every field of one version."""
    with open_target(target, token, read_only=True) as db:
        if version is not None:
            console.print(_version_details(db.describe_model_version(f"models:/{name}/{version}")))
            return
        model = db.describe_model(name)
        versions = db.list_model_versions(name)
    console.print(f"[bold]{model['name']}[/]  {model['description'] or ''}")
    if model["tags"]:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(model["tags"].items())))
    console.print(_versions_table(f"{len(versions)} version(s)", versions))


@app.command("register")
def register(
    target: Target,
    name: NameArg,
    source: Annotated[
        str,
        typer.Argument(
            help="A model directory or file (on the server, for a server), an import path 'package.module:attr', "
            "or a JSON object: analyzer_params ('{\"type\": \"english\"}') or a search configuration "
            "('{\"anns_field\": \"embedding\"}')."
        ),
    ],
    flavor: Annotated[str | None, typer.Option("--flavor", "-f", help="Flavor; detected when omitted.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", "-a", help="Point this alias at the new version.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A version tag key=value (repeatable).")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="Describe the version.")] = None,
    token: Token = None,
) -> None:
    """Register a model as the next version of NAME."""
    candidate = Path(source)
    model_source: object = source
    if source.lstrip().startswith("{"):  # an analyzer or a search configuration, given as JSON
        try:
            model_source = json.loads(source)
        except ValueError as error:
            raise InvalidArgumentError(f"SOURCE looks like JSON but does not parse: {error}") from None
    elif candidate.exists():  # a path here: a server on this machine needs it absolute
        model_source = str(candidate.resolve()) if is_server(target) else candidate
    with open_target(target, token, read_only=False) as db:
        created = db.register_model(
            name,
            model_source,
            flavor=flavor,
            alias=alias,
            tags=_parse_tags(tag or []),
            description=description,
            actor=_current_user(),
        )
    console.print(_version_details(created))


@app.command("alias")
def alias(
    target: Target,
    name: NameArg,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias to create or move.")],
    version: Annotated[int, typer.Argument(help="The READY version it should point at.")],
    reason: Annotated[str | None, typer.Option("--reason", "-r", help="Why it moves (kept in the history).")] = None,
    token: Token = None,
) -> None:
    """Point ALIAS of model NAME at VERSION, recording who, when and why."""
    with open_target(target, token, read_only=False) as db:
        before = db.describe_model(name)["aliases"].get(alias_name)
        db.set_model_alias(name, alias_name, version, actor=_current_user(), reason=reason)
    if before == version:
        console.print(f"{name}@{alias_name} already points at version {version}")
    else:
        console.print(f"{name}@{alias_name}: {before if before is not None else '(new)'} → {version}")


@app.command("history")
def history(
    target: Target,
    name: NameArg,
    alias_name: Annotated[str | None, typer.Option("--alias", "-a", help="Only this alias.")] = None,
    token: Token = None,
) -> None:
    """Show every alias move of a model: when, who, why, from and to."""
    with open_target(target, token, read_only=True) as db:
        changes = db.model_alias_history(name, alias_name)
    table = Table(
        "#", "time", "alias", "from", "to", "actor", "reason", title=f"{name}: {len(changes)} alias change(s)"
    )
    for change in changes:
        table.add_row(
            str(change["sequence"]),
            _when(change["time"]),
            change["alias"],
            "" if change["from_version"] is None else str(change["from_version"]),
            "(deleted)" if change["to_version"] is None else str(change["to_version"]),
            change["actor"] or "",
            change["reason"] or "",
        )
    console.print(table)
