"""``embedb drift`` (has what a vector field sees drifted? a gate, like ``embedb eval``) and ``embedb tune-index``.

``TARGET`` is a data directory (opened read-only, so it works next to a running
server) or the ``http://`` URL of ``embedb serve``. Each sample is query text (a
file: one text per line, or JSON lines with a ``text`` key) or a filter over the
stored rows. Exit status: 0 no drift detected, 1 drift detected, 2 a bad request
(printed once by ``embedb.cli.main``). ``embedb tune-index`` searches index
configurations for the fastest one meeting a recall target (exit 1 when none
does), prints the Pareto front and can draw it (``--plot front.svg``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from embedb.cli.console import console, err_console
from embedb.cli.plots import pareto_svg
from embedb.cli.targets import Target, Token, open_target
from embedb.contract.results import DriftReport, TuneReport
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
    logged_hours: Annotated[
        float | None,
        typer.Option(
            "--logged-hours",
            help="Without samples: the logged query stream of the last H hours against the week before.",
        ),
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
    if logged_hours is not None:
        if any(given is not None for given in (reference, reference_filter, current, current_filter)):
            raise InvalidArgumentError("give --logged-hours or the two samples, not both")
        now = time.time()
        split = now - logged_hours * 3_600.0
        samples: dict[str, Any] = {
            "reference": {"logged": [split - 7 * 86_400.0, split]},
            "current": {"logged": [split, now]},
        }
    else:
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
        raise InvalidArgumentError(
            f"give --{role} FILE or --{role}-filter EXPRESSION, one of them (or --logged-hours for both)"
        )
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


def tune_index(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The vector field.")],
    recall: Annotated[float, typer.Option("--recall", help="The recall@k target.")] = 0.95,
    k: Annotated[int, typer.Option("--k", help="The k of recall@k.")] = 10,
    trials: Annotated[int, typer.Option("--trials", help="Index builds to try.")] = 20,
    index_type: Annotated[
        list[str] | None,
        typer.Option("--index-type", help="HNSW, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSWLIB (repeat); all by default."),
    ] = None,
    sample_rows: Annotated[
        int, typer.Option("--sample-rows", help="Stored vectors to tune on (a seeded sample).")
    ] = 20_000,
    max_memory_mb: Annotated[
        float | None, typer.Option("--max-memory-mb", help="The index may hold at most this much.")
    ] = None,
    max_build_s: Annotated[
        float | None, typer.Option("--max-build-s", help="The index must build within this.")
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="The model version's vectors (default: serving).")
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Replace the field's index with the best recipe.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the Pareto front as an SVG chart here.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and the optimiser.")] = 0,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Find the fastest index for a field that meets a recall target (Optuna); exit 1 when none does."""
    with (
        open_target(target, token, read_only=not apply) as db,
        Progress(
            TextColumn("tuning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
        ) as bar,
    ):
        task = bar.add_task("trials", total=trials)
        local = not target.startswith(("http://", "https://"))
        options: dict[str, Any] = {"progress": lambda done, total: bar.update(task, completed=done)} if local else {}
        report = db.tune_index(
            collection,
            field,
            recall=recall,
            k=k,
            index_types=index_type or None,
            trials=trials,
            sample_rows=sample_rows,
            max_memory_mb=max_memory_mb,
            max_build_s=max_build_s,
            embedding_version=version,
            apply=apply,
            seed=seed,
            **options,
        )
    if plot is not None:
        title = f"{report['collection_name']}.{report['field']}: recall@{report['k']} vs queries/s ({report['rows']:,} rows)"
        plot.write_text(
            pareto_svg(report["points"], report["pareto"], recall_target=recall, title=title), encoding="utf-8"
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_tuning(report)
    if report["best"] is None:
        raise typer.Exit(DRIFT_EXIT)


def _print_tuning(report: TuneReport) -> None:
    table = Table(
        "index", "build params", "search", "recall", "QPS (1 query)", "memory MB", "build s", title="Pareto front"
    )
    for point in report["pareto"]:
        table.add_row(
            point["index_type"],
            json.dumps(point["params"]),
            json.dumps(point["search_params"]),
            f"{point['recall']:.3f}",
            f"{point['qps']:,.0f}",
            f"{point['memory_bytes'] / 2**20:.1f}",
            f"{point['build_s']:.2f}",
        )
    console.print(table)
    best = report["best"]
    if best is None:
        console.print(f"[red]no configuration met recall@{report['k']} >= {report['recall_target']}[/red]")
        return
    console.print(
        f"best: {best['index_type']} {json.dumps(best['params'])}, search {json.dumps(best['search_params'])}: recall "
        f"{best['recall']:.3f}, {best['qps']:,.0f} queries/s"
        + (" — applied" if report["applied"] else " (--apply replaces the field's index with it)")
    )


def monitor(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound field.")],
    hours: Annotated[float, typer.Option("--hours", help="How far back to look.")] = 24.0,
    bucket_minutes: Annotated[int, typer.Option("--bucket-minutes", help="Minutes per row of the series.")] = 60,
    low_similarity: Annotated[
        float, typer.Option("--low-similarity", help="A top hit below this similarity counts as low (COSINE, IP).")
    ] = 0.3,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """A field's searches and feedback per model version over time: queries, empty and low-similarity rates, latency, CTR, MRR."""
    if hours <= 0 or bucket_minutes < 1:
        raise InvalidArgumentError("--hours must be positive and --bucket-minutes at least 1")
    now = time.time()
    with open_target(target, token, read_only=True) as db:
        report = db.monitor(
            collection,
            field,
            since=now - hours * 3600,
            until=now,
            bucket_s=bucket_minutes * 60,
            low_similarity=low_similarity,
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console.print(f"{report['collection_name']}.{report['field']}: {report['serving_version']} serves")
    for version, series in report["versions"].items():
        table = Table(
            "from (UTC)", "queries", "empty", "low sim.", "p50 ms", "p95 ms", "clicks", "CTR", "MRR", title=version
        )
        for bucket in [*series["buckets"], {"start": None, **series["totals"]}]:
            when = "total" if bucket["start"] is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(bucket["start"]))
            table.add_row(
                when,
                str(bucket["queries"]),
                _share(bucket["empty_rate"]),
                _share(bucket["low_similarity_rate"]),
                _number(bucket["p50_ms"]),
                _number(bucket["p95_ms"]),
                str(bucket["clicks"]),
                _share(bucket["ctr"]),
                _number(bucket["mrr"]),
            )
        console.print(table)


def decay(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound field.")],
    version: Annotated[
        str | None, typer.Option("--version", help="The model version (default: the serving one).")
    ] = None,
    hours: Annotated[float, typer.Option("--hours", help="The current window: the last this many hours.")] = 24.0,
    reference_days: Annotated[
        float, typer.Option("--reference-days", help="The reference: this many days before it.")
    ] = 7.0,
    alpha: Annotated[float, typer.Option("--alpha", help="The false-alarm rate, however often it is asked.")] = 0.05,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Has a model version decayed against its own history (CTR down, empty or low-similarity answers up)? Exit 1 if so."""
    if hours <= 0 or reference_days <= 0:
        raise InvalidArgumentError("--hours and --reference-days must be positive")
    now = time.time()
    current = [now - hours * 3600, now]
    reference = [current[0] - reference_days * 86_400, current[0]]
    with open_target(target, token, read_only=True) as db:
        report = db.decay(collection, field, version=version, reference=reference, current=current, alpha=alpha)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        verdict = "[red]decayed[/red]" if report["decayed"] else "[green]no decay detected[/green]"
        console.print(f"{report['collection_name']}.{report['field']} {report['version']}: {verdict}")
        table = Table("signal", "reference", "current", "p-value", "decayed")
        for name, signal in report["signals"].items():
            p_value = signal["p_value"]
            table.add_row(
                name,
                _share(signal["reference"]),
                _share(signal["current"]),
                "-" if p_value is None else f"{p_value:.3g}",
                "yes" if signal["decayed"] else "no",
            )
        console.print(table)
    if report["decayed"]:
        raise typer.Exit(DRIFT_EXIT)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def register(app: typer.Typer) -> None:
    """Add ``drift``, ``tune-index``, ``monitor`` and ``decay`` to the ``embedb`` app."""
    app.command("drift")(drift)
    app.command("tune-index")(tune_index)
    app.command("monitor")(monitor)
    app.command("decay")(decay)
