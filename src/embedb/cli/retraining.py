"""``embedb finetune``: a new model version fine-tuned on what the users of a field clicked.

``TARGET`` is a data directory (opened writable: the new version is registered)
or the URL of ``embedb serve``. Pairs come from the feedback of the field's
experiments (``--experiment`` to choose), or from a JSON-lines file of
``{"query": ..., "doc_id": ...}`` (``--pairs``). A progress bar follows the
training steps; the held-out scores of the parent and the new version are printed.
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
from embedb.cli.targets import Target, Token, open_target
from embedb.display import progress
from embedb.errors import InvalidArgumentError
from embedb.evaluation import read_qrels, read_queries


def finetune(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound vector field.")],
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help='JSON lines {"query": ..., "doc_id": ...} instead of feedback.')
    ] = None,
    experiment: Annotated[
        list[int] | None, typer.Option("--experiment", help="Learn from these experiments' feedback (repeat).")
    ] = None,
    holdout: Annotated[float, typer.Option("--holdout", help="Share of the queries held out for scoring.")] = 0.2,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the training pairs.")] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Pairs per step (in-batch negatives).")] = 32,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="AdamW's learning rate.")] = 5e-5,
    name: Annotated[
        str | None, typer.Option("--name", help="Register under this model (default: the parent's).")
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Point this alias at the new version.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split, the shuffling and the weights.")] = 0,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Fine-tune the field's serving model on its feedback (or given pairs) and register the new version."""
    given = _read_pairs(pairs) if pairs is not None else None
    with (
        open_target(target, token, read_only=False) as db,
        Progress(
            TextColumn("fine-tuning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
        ) as bar,
    ):
        task = bar.add_task("steps", total=None)
        local = not target.startswith(("http://", "https://"))
        options: dict[str, Any] = (
            {"progress": lambda done, total: bar.update(task, completed=done, total=total)} if local else {}
        )
        report = db.fine_tune(
            collection,
            field,
            pairs=given,
            experiment_ids=experiment or None,
            holdout=holdout,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            model_name=name,
            alias=alias,
            seed=seed,
            **options,
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("held-out", "parent", "fine-tuned", title=f"{report['parent_version']} -> {report['model_version']}")
    for metric in ("ndcg", "recall", "mrr"):
        table.add_row(f"{metric}@10", f"{report['before'][metric]:.4f}", f"{report['after'][metric]:.4f}")
    console.print(table)
    console.print(
        f"{report['training_pairs']} training pairs, {report['heldout_queries']} held-out queries ranked among "
        f"{report['eval_corpus']} rows; {report['steps']} steps on {report['device']} in {report['seconds']:.0f} s"
    )


def select_model(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound vector field.")],
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl.")],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels.tsv.")],
    candidate: Annotated[
        list[str] | None, typer.Option("--candidate", help="A registered model version to score (repeat).")
    ] = None,
    make: Annotated[
        list[str] | None,
        typer.Option("--make", help="Candidates to make: lsa, model2vec, bm25, hybrid (repeat; default all; none)."),
    ] = None,
    corpus_rows: Annotated[
        int, typer.Option("--corpus-rows", help="Other stored rows the judged ones are ranked among.")
    ] = 5_000,
    alias: Annotated[str, typer.Option("--alias", help="The alias the winner gets.")] = "challenger",
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score candidate models for a field on judged queries; the one significantly better than the serving version becomes the challenger."""
    with open_target(target, token, read_only=False) as db:
        report = db.select_model(
            collection,
            field,
            queries=read_queries(queries),
            qrels=read_qrels(qrels),
            candidates=candidate or None,
            make=[] if make == ["none"] else make or None,
            corpus_rows=corpus_rows,
            alias=alias,
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(
        "candidate", "kind", "nDCG@10", "recall@10", "ms/query", "bytes/vector", "vs serving", "p", title="select-model"
    )
    for name in report["ranking"]:
        entry = report["candidates"][name]
        table.add_row(
            name + (" (serving)" if name == report["serving_version"] else ""),
            entry["kind"],
            f"{entry['ndcg@10']:.4f}",
            f"{entry['recall@10']:.4f}",
            f"{entry['query_ms']:.2f}",
            str(entry["bytes_per_vector"]),
            f"{entry['vs_serving']:+.4f}" if "vs_serving" in entry else "",
            f"{entry['p_value']:.3g}" if "p_value" in entry else "",
        )
    console.print(table)
    for name, why in report["skipped"].items():
        console.print(f"not made: {name} ({why})")
    if report["winner"] is None:
        console.print("no embedding model is significantly better than the serving version")
    else:
        console.print(f"winner: {report['winner']} -> {report['registered']} (@{alias})")
    if report["best_overall"] not in (None, report["winner"]):
        console.print(
            f"best of all: {report['best_overall']} — serve it with a BM25 field and a search configuration"
        )


policy_app = typer.Typer(no_args_is_help=True, help="Policies: the loop runs itself, inside guard rails.")


@policy_app.command("set")
def policy_set(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound field.")],
    mode: Annotated[str, typer.Option("--mode", help="off, suggest (name steps) or act (take them).")] = "suggest",
    rollback_days: Annotated[float, typer.Option("--rollback-days", help="How long a new champion is watched.")] = 7.0,
    trigger: Annotated[
        list[str] | None, typer.Option("--trigger", help="decay and/or drift (repeat; default both).")
    ] = None,
    on_alert: Annotated[
        str, typer.Option("--on-alert", help="retrain, or evaluate on the gate's queries.")
    ] = "retrain",
    window_hours: Annotated[
        float, typer.Option("--window-hours", help="The recent window an alert compares with the week before.")
    ] = 24.0,
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs of a retraining.")] = 1,
    queries: Annotated[
        Path | None, typer.Option("--gate-queries", help="BEIR queries.jsonl of the offline gate.")
    ] = None,
    qrels: Annotated[Path | None, typer.Option("--gate-qrels", help="BEIR qrels.tsv of the offline gate.")] = None,
    token: Token = None,
) -> None:
    """Set a field's policy; with --gate-queries/--gate-qrels a promotion also needs the challenger not worse on them."""
    policy: dict[str, Any] = {
        "mode": mode,
        "rollback_days": rollback_days,
        "on_alert": on_alert,
        "window_hours": window_hours,
        "epochs": epochs,
    }
    if trigger:
        policy["triggers"] = trigger
    if (queries is None) != (qrels is None):
        raise InvalidArgumentError("give --gate-queries and --gate-qrels together")
    if queries is not None and qrels is not None:
        policy["gate"] = {"queries": read_queries(queries), "qrels": read_qrels(qrels)}
    with open_target(target, token, read_only=False) as db:
        shown = db.set_policy(collection, field, policy)
    console.print(f"{collection}.{field}: policy {shown['policy']['mode']}, state {shown['state']}")


@policy_app.command("show")
def policy_show(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound field.")],
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """A field's policy, where its loop stands, and its last steps."""
    with open_target(target, token, read_only=True) as db:
        shown = db.get_policy(collection, field)
    if as_json:
        typer.echo(json.dumps(shown, indent=2))
        return
    console.print(f"{collection}.{field}: mode {shown['policy']['mode']}, state {shown['state']}")
    table = Table("time (UTC)", "state after", "action", "acted", "why")
    for event in shown["events"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event["time"]))
        table.add_row(
            when,
            event["state"],
            event["action"],
            "yes" if event["acted"] else "no",
            str(event["detail"].get("why", "")),
        )
    console.print(table)


@policy_app.command("run")
def policy_run(
    target: Target,
    collection: Annotated[str, typer.Argument(help="Collection name or alias.")],
    field: Annotated[str, typer.Argument(help="The model-bound field.")],
    approve: Annotated[bool, typer.Option("--approve", help="Take a suggest policy's named step this once.")] = False,
    token: Token = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a line.")] = False,
) -> None:
    """Take (act) or name (suggest) the next step of the field's loop; run it from cron to let the loop run.

    On a data directory a retraining and its backfill run to the end under a progress bar.
    """
    local = not target.startswith(("http://", "https://"))
    bar = progress("policy", console=err_console) if local else None
    try:
        with open_target(target, token, read_only=False) as db:
            step = db.run_policy(collection, field, approve=approve, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        typer.echo(json.dumps(step, indent=2, default=str))
        return
    verb = "did" if step["acted"] else "would do" if step["action"] != "none" else "nothing to do"
    console.print(f"{verb}: {step['action']} (now {step['state']}) — {step['detail'].get('why', '')}")


def _read_pairs(path: Path) -> list[Any]:
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as error:
        raise InvalidArgumentError(f"--pairs: cannot read {path}: {error.strerror}") from None
    try:
        return [json.loads(line) for line in lines]
    except ValueError as error:
        raise InvalidArgumentError(f"--pairs: {path} is not JSON lines: {error}") from None


def register(app: typer.Typer) -> None:
    """Add ``finetune``, ``select-model`` and the ``policy`` group to the ``embedb`` app."""
    app.command("finetune")(finetune)
    app.command("select-model")(select_model)
    app.add_typer(policy_app, name="policy")
