"""``embedb eval`` (offline evaluation and the CI/CD gate) and ``embedb experiments list|report``.

``TARGET`` is a data directory (opened read-only, so it works next to a running
server) or the ``http://`` URL of ``embedb serve`` (token from ``--token`` or
``EMBEDB_TOKEN``). ``embedb eval`` exits with status 1 when the gate fails — the
candidate is significantly worse than the baseline — so a pipeline can block a
promotion on it. Errors are printed once, by ``embedb.cli.main``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from embedb.cli.console import console, err_console
from embedb.cli.targets import Target, Token, open_target
from embedb.contract import Backend
from embedb.errors import InvalidArgumentError
from embedb.evaluation import read_qrels, read_queries
from embedb.experiments import ExperimentReport

experiments_app = typer.Typer(no_args_is_help=True, help="Online experiments: list them, read their verdicts.")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _open(target: str, token: str | None) -> Backend:
    return open_target(target, token, read_only=True)


def evaluate(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl.", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels.tsv.", exists=True, dir_okay=False)],
    field: Annotated[str | None, typer.Option("--field", "-f", help="The model-bound vector field (model versions).")] = None,
    search: Annotated[
        list[str] | None,
        typer.Option(
            "--search",
            help='A search configuration NAME=JSON, or NAME=a registered one (docs_search@champion), instead of '
            'model versions (repeat): \'bm25={"anns_field": "sparse"}\', '
            '\'hybrid={"reqs": [{"anns_field": "vector"}, {"anns_field": "sparse"}]}\'.',
        ),
    ] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="The version to beat, e.g. minilm@champion.")
    ] = None,
    candidate: Annotated[
        str | None, typer.Option("--candidate", help="The version to gate, e.g. minilm@challenger.")
    ] = None,
    versions: Annotated[list[str] | None, typer.Option("--versions", help="More versions to score (repeat).")] = None,
    metric: Annotated[str, typer.Option("--metric", help="The gate metric: recall@k, ndcg@k, mrr@k.")] = "ndcg@10",
    min_delta: Annotated[
        float, typer.Option("--min-delta", help="A drop up to this much does not fail the gate.")
    ] = 0.0,
    k: Annotated[int, typer.Option("--k", help="Cutoff of recall@k and of the ANN check.")] = 10,
    ann_check: Annotated[
        bool, typer.Option("--ann-check/--no-ann-check", help="Check each index against exact search.")
    ] = True,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Score model versions of a field, or search configurations (--search), on labelled queries; exit 1 when the candidate is significantly worse."""
    if (field is None) == (not search):
        raise InvalidArgumentError("give --field (model versions) or --search NAME=JSON (search configurations), not both")
    configs = _search_configs(search or [])
    labelled, judgements = read_queries(queries), read_qrels(qrels)
    with _open(target, token) as db, _progress() as progress:
        tasks: dict[str, Any] = {}

        def advance(version: str, done: int, total: int) -> None:
            if version not in tasks:
                tasks[version] = progress.add_task(f"searching with {version}", total=total)
            progress.update(tasks[version], completed=done)

        options: dict[str, Any] = {"progress": advance} if not target.startswith(("http://", "https://")) else {}
        if configs:
            report = db.evaluate_search(
                collection,
                queries=labelled,
                qrels=judgements,
                configs=configs,
                k=k,
                baseline=baseline,
                candidate=candidate,
                metric=metric,
                min_delta=min_delta,
                **options,
            )
        else:
            report = db.evaluate(
                collection,
                str(field),
                queries=labelled,
                qrels=judgements,
                versions=list(versions or []),
                k=k,
                baseline=baseline,
                candidate=candidate,
                metric=metric,
                min_delta=min_delta,
                ann_check=ann_check,
                **options,
            )
    gate = report.get("gate")
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_evaluation(report)
    if gate is not None and not gate["passed"]:
        raise typer.Exit(1)


def _search_configs(items: list[str]) -> dict[str, dict[str, Any] | str]:
    """``NAME=JSON`` (or ``NAME=model@alias``) options as configurations by name; ``InvalidArgumentError`` names a malformed one."""
    configs: dict[str, dict[str, Any] | str] = {}
    for item in items:
        name, _, text = item.partition("=")
        config: Any
        if text.strip() and not text.lstrip().startswith("{"):  # a registered search configuration version
            config = text.strip()
        else:
            try:
                config = json.loads(text)
            except ValueError:
                config = None
        if not name.strip() or not isinstance(config, dict | str):
            raise InvalidArgumentError(f"--search {item!r}: use NAME=JSON, e.g. 'bm25={{\"anns_field\": \"sparse\"}}'")
        configs[name.strip()] = config
    return configs


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
    )


def _print_evaluation(report: Mapping[str, Any]) -> None:
    k = report["k"]
    title = f"{report['collection_name']}.{report['field']}: {report['queries']} labelled queries"
    table = Table(
        "version",
        "model version",
        f"recall@{k}",
        "nDCG@10",
        "MRR@10",
        "index",
        f"ANN recall@{k}",
        "p99 ms",
        title=title,
    )
    for name, entry in report["versions"].items():
        metrics, ann = entry["metrics"], entry.get("ann") or {}
        table.add_row(
            name + (" (baseline)" if name == report["baseline"] else ""),
            entry.get("model_version", ""),
            _number(metrics.get(f"recall@{k}")),
            _number(metrics.get("ndcg@10")),
            _number(metrics.get("mrr@10")),
            str(ann.get("index", "")),
            _number(ann.get("recall_at_k")),
            _number(ann.get("p99_ms"), digits=2),
        )
    console.print(table)
    if report["comparisons"]:
        versus = Table(
            "candidate", f"Δ {report['metric']}", "CI", "p-value", "decision", title=f"vs {report['baseline']}"
        )
        for name, verdict in report["comparisons"].items():
            ci = verdict.get("ci")
            versus.add_row(
                name,
                _number(verdict.get("delta"), signed=True),
                f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "",
                _number(verdict.get("p_value")),
                verdict["decision"],
            )
        console.print(versus)
    gate = report.get("gate")
    if gate is not None:
        console.print(f"[bold {'green' if gate['passed'] else 'red'}]gate[/]: {gate['reason']}")


@experiments_app.command("list")
def list_experiments(
    target: Target,
    collection: Annotated[str | None, typer.Option("--collection", "-c", help="Only this collection's.")] = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """List experiments: mode, arms, state."""
    with _open(target, token) as db:
        experiments = db.list_experiments(collection)
    if as_json:
        typer.echo(json.dumps(experiments, indent=2))
        return
    table = Table("id", "collection", "field", "mode", "champion", "challenger", "state")
    for item in experiments:
        table.add_row(
            str(item["experiment_id"]),
            item["collection_name"],
            item["field"],
            item["mode"],
            f"{item['champion']} ({item['champion_version']})",
            f"{item['challenger']} ({item['challenger_version']})",
            item["state"],
        )
    console.print(table)


@experiments_app.command("report")
def report(
    target: Target,
    experiment_id: Annotated[int, typer.Argument(help="The experiment's id.")],
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Show an experiment's verdict (promote / keep / undecided), why, and the numbers per arm."""
    with _open(target, token) as db:
        data = db.experiment_report(experiment_id)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    result = ExperimentReport.from_dict(data)
    experiment = result.experiment
    colour = {"promote": "green", "keep": "red"}.get(result.decision.value, "yellow")
    console.print(
        f"experiment {experiment['experiment_id']} ({experiment['mode']}, {experiment['state']}) on "
        f"{experiment['collection_name']}.{experiment['field']}: [bold {colour}]{result.decision.value}[/]"
    )
    console.print(result.verdict.reason)
    numbers = sorted({key for arm in result.arms.values() for key in arm if key != "model_version"})
    table = Table(
        "arm", "model version", *numbers, title=f"{result.queries} queries, {result.feedback} feedback events"
    )
    for arm, values in result.arms.items():
        table.add_row(arm, str(values.get("model_version", "")), *(_cell(values.get(key)) for key in numbers))
    console.print(table)


def _number(value: Any, *, digits: int = 4, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return _number(value, digits=3)
    if isinstance(value, list):
        return "[" + ", ".join(_cell(item) for item in value) + "]"
    return "" if value is None else str(value)


def register(app: typer.Typer) -> None:
    """Add ``eval`` and the ``experiments`` group to the ``embedb`` app."""
    app.command("eval")(evaluate)
    app.add_typer(experiments_app, name="experiments")
