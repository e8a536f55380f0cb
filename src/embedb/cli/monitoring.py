"""``embedb drift``: has what a vector field sees drifted from a reference? A gate, like ``embedb eval``.

``TARGET`` is a data directory (opened read-only, so it works next to a running
server) or the ``http://`` URL of ``embedb serve``. Each sample is query text (a
file: one text per line, or JSON lines with a ``text`` key) or a filter over the
stored rows. Exit status: 0 no drift detected, 1 drift detected, 2 a bad request
(printed once by ``embedb.cli.main``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from embedb.cli.console import console
from embedb.cli.targets import Target, Token, open_target
from embedb.contract.results import DriftReport
from embedb.errors import InvalidArgumentError

DRIFT_EXIT = 1


def drift(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The vector field.")],
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Reference query texts: a file, one per line (or JSON lines with text)."),
    ] = None,
    reference_filter: Annotated[
        str | None, typer.Option("--reference-filter", help="Reference: the stored rows matching this filter.")
    ] = None,
    current: Annotated[
        Path | None, typer.Option("--current", help="Current query texts: a file like --reference.")
    ] = None,
    current_filter: Annotated[
        str | None, typer.Option("--current-filter", help="Current: the stored rows matching this filter.")
    ] = None,
    test: Annotated[
        list[str] | None, typer.Option("--test", help="classifier, mmd or ood (repeat); all three by default.")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="The false-alarm rate of the decision.")] = 0.05,
    max_rows: Annotated[int, typer.Option("--max-rows", help="At most this many items per sample (seeded).")] = 1000,
    version: Annotated[
        str | None, typer.Option("--version", help="The model version whose embeddings are tested (default: serving).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampling, the split and the permutations.")] = 0,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Test a field's embeddings for drift between two samples; exit 1 when drift is detected."""
    samples = {
        "reference": _sample("reference", reference, reference_filter),
        "current": _sample("current", current, current_filter),
    }
    with open_target(target, token, read_only=True) as db:
        report = db.drift(
            collection,
            field,
            reference=samples["reference"],
            current=samples["current"],
            tests=test or None,
            alpha=alpha,
            max_rows=max_rows,
            embedding_version=version,
            seed=seed,
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    if report["detected"]:
        raise typer.Exit(DRIFT_EXIT)


def _sample(role: str, path: Path | None, expression: str | None) -> dict[str, Any]:
    if (path is None) == (expression is None):
        raise InvalidArgumentError(f"give --{role} FILE or --{role}-filter EXPRESSION, one of them")
    if expression is not None:
        return {"filter": expression}
    assert path is not None
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as error:
        raise InvalidArgumentError(f"--{role}: cannot read {path}: {error.strerror}") from None
    return {"texts": [_text(line, role, number) for number, line in enumerate(lines, 1)]}


def _text(line: str, role: str, number: int) -> str:
    if not line.lstrip().startswith("{"):
        return line
    try:
        value = json.loads(line).get("text")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str):
        raise InvalidArgumentError(f"--{role} line {number}: a JSON line needs a text string")
    return value


def _print_report(report: DriftReport) -> None:
    verdict = "[red]drift detected[/red]" if report["detected"] else "[green]no drift detected[/green]"
    console.print(
        f"{report['collection_name']}.{report['field']} ({report['model_version'] or 'stored vectors'}): {verdict}, "
        f"p = {report['p_value']:.4g} (alpha {report['alpha']}); {report['reference_rows']} reference, "
        f"{report['current_rows']} current"
    )
    table = Table("test", "statistic", "p-value", "detected")
    for name, test in report["tests"].items():
        table.add_row(name, f"{test['statistic']:.4f}", f"{test['p_value']:.4g}", "yes" if test["detected"] else "no")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``drift`` to the ``embedb`` app."""
    app.command("drift")(drift)
