"""Steps 3-6 of the demo: offline evaluation, an interleaving experiment, promotion and rollback.

Clicks are simulated from the revdict relevance judgements: a user looks down the
list and clicks the relevant document with a probability that falls with its rank,
and sometimes clicks a wrong one — the data a real search log would give.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

import embedb
from embedb.datasets import RevDict
from embedb.demo import CHALLENGER, CHAMPION, COLLECTION, FIELD
from embedb.demo.output import console, show_hits

TRAFFIC_BATCH = 25
CLICK_AT_TOP = 0.9
CLICK_DECAY = 0.85
NOISE_CLICK = 0.02


def evaluate_offline(db: embedb.Backend, revdict: RevDict) -> None:
    queries = dict(revdict.queries)
    qrels = {
        qid: {doc: float(grade) for doc, grade in docs.items()} for qid, docs in revdict.qrels.items() if qid in queries
    }
    started = time.perf_counter()
    report = db.evaluate(
        COLLECTION, FIELD, queries=queries, qrels=qrels, baseline="embedder/1", candidate="embedder/2", metric="ndcg@10"
    )
    table = Table(
        "model version", "nDCG@10", "recall@10", "MRR@10", "ANN recall@10 vs exact", "p99 ms", title_justify="left"
    )
    table.title = f"offline evaluation on {report['queries']} labelled queries ({time.perf_counter() - started:.0f}s)"
    for version, numbers in report["versions"].items():
        metrics = numbers["metrics"]
        ann = numbers.get("ann") or {}
        table.add_row(
            version,
            f"{metrics['ndcg@10']:.3f}",
            f"{metrics['recall@10']:.3f}",
            f"{metrics['mrr@10']:.3f}",
            f"{ann.get('recall_at_k', float('nan')):.3f}" if ann else "",
            f"{ann.get('p99_ms', float('nan')):.1f}" if ann else "",
        )
    console.print(table)
    verdict = report["verdict"]
    console.print(f"verdict: [bold]{verdict['decision']}[/] — {verdict['reason']}")
    console.print(f"CI gate (`embedb eval ... --min-delta 0`): {'passes' if report['gate']['passed'] else 'FAILS'}")


def _simulated_clicks(hits: Sequence[Mapping[str, Any]], relevant: set[str], rng: random.Random) -> list[Any]:
    clicks = []
    for rank, hit in enumerate(hits):
        if str(hit["id"]) in relevant:
            if rng.random() < CLICK_AT_TOP * CLICK_DECAY**rank:
                clicks.append(hit["id"])
        elif rng.random() < NOISE_CLICK:
            clicks.append(hit["id"])
    return clicks


def experiment_and_promote(db: embedb.Client, revdict: RevDict) -> None:
    col = db.collection(COLLECTION)
    experiment = col.start_experiment(FIELD, champion=CHAMPION, challenger=CHALLENGER, mode="interleave")
    console.print(f"experiment {experiment.id} started: {CHAMPION} vs {CHALLENGER}, team-draft interleaving")
    rng = random.Random(7)
    shown = False
    clicks = 0
    queries = revdict.queries
    started = time.perf_counter()
    for start in range(0, len(queries), TRAFFIC_BATCH):
        batch = queries[start : start + TRAFFIC_BATCH]
        results = col.search([text for _, text in batch], limit=10, output_fields=["text"])
        for (query_id, _), hits in zip(batch, results, strict=True):
            for doc_id in _simulated_clicks(hits, set(revdict.qrels.get(query_id, {})), rng):
                col.feedback(hits[0]["query_id"], doc_id)
                clicks += 1
        if not shown:
            show_hits(f"one interleaved result list: '{batch[0][1]}'", results[0][:6])
            shown = True
    console.print(
        f"{len(queries)} queries served through the experiment, {clicks} clicks, {time.perf_counter() - started:.0f}s"
    )
    report = experiment.report()
    table = Table("arm", "model version", "wins", "clicks", title="interleaving report", title_justify="left")
    for arm, numbers in report.arms.items():
        table.add_row(arm, str(numbers.get("model_version")), str(numbers.get("wins")), str(numbers.get("clicks")))
    console.print(table)
    console.print(f"verdict: [bold]{report.decision.value}[/] — {report.verdict.reason}")
    if report.decision.value != "promote":
        console.print("[yellow]the evidence does not support a promotion; stopping the experiment[/]")
        experiment.stop()
        return
    moved = experiment.promote(reason="interleaving verdict: promote", actor="demo")
    console.print(
        f"[green]promoted[/] {moved['from_version']} -> {moved['to_version']} in {moved['elapsed_ms']:.1f} ms"
    )
    example = "the music of Brahms"
    show_hits(f"'{example}' now served by MiniLM", col.search(example, limit=3, output_fields=["text"])[0])
    back = col.rollback(FIELD, reason="drill: practise the rollback", actor="demo")
    console.print(
        f"[yellow]rolled back[/] {back['from_version']} -> {back['to_version']} in {back['elapsed_ms']:.1f} ms"
    )
    again = col.promote(FIELD, CHALLENGER, reason="drill over: the challenger serves again", actor="demo")
    console.print(
        f"[green]promoted again[/] {again['from_version']} -> {again['to_version']} in {again['elapsed_ms']:.1f} ms"
    )
    history = Table(
        "when", "alias", "from", "to", "actor", "reason", title="alias history of 'embedder'", title_justify="left"
    )
    for change in db.model_alias_history("embedder"):
        history.add_row(
            time.strftime("%H:%M:%S", time.localtime(change["time"])),
            change["alias"],
            str(change["from_version"] or "-"),
            str(change["to_version"] or "-"),
            str(change["actor"] or ""),
            str(change["reason"] or ""),
        )
    console.print(history)
