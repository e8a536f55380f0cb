"""The demo's second act: the loop closes itself — monitoring, drift, fine-tuning from clicks, a guarded policy.

The first act's experiment logged queries and clicks on the first queries; the
rest of the labelled queries are the "new" traffic and the policy's offline gate
(never trained on). Steps:

7. Monitoring: what each version answered, and how users clicked.
8. Drift: the query stream turns to one subject (definitions about plants and
   animals' genera); the drift test says so, the same test on two random halves does not.
9. Fine-tuning: MiniLM is fine-tuned on the clicks the experiment logged and
   backfilled; a policy with the offline gate runs the experiment to a decision.
10. A deliberately degraded model (an LSA squeezed to 8 dimensions) that simulated
    users nevertheless click is refused by the same policy's gate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from rich.table import Table

import embedb
from embedb.datasets import RevDict
from embedb.demo import COLLECTION, FIELD
from embedb.demo.output import console, progress_bar
from embedb.models import train_lsa

TOPIC_WORDS = ("genus", "plant", "shrub", "tree", "herb", "flower")


def monitor_and_drift(db: embedb.Client, revdict: RevDict, traffic: Sequence[tuple[str, str]]) -> None:
    report = db.monitor(COLLECTION, FIELD, since=time.time() - 3_600, bucket_s=3_600)
    table = Table(
        "version", "searches", "empty", "p95 ms", "logged", "clicks", "CTR", "MRR", title="monitor: the last hour"
    )
    for version, series in report["versions"].items():
        totals = series["totals"]
        table.add_row(
            version.removeprefix("models:/"),
            str(totals["queries"]),
            _share(totals["empty_rate"]),
            f"{totals['p95_ms']:.3g}" if totals["p95_ms"] is not None else "-",
            str(totals["logged"]),
            str(totals["clicks"]),
            _share(totals["ctr"]),
            f"{totals['mrr']:.3f}" if totals["mrr"] is not None else "-",
        )
    console.print(table)
    texts = [text for _, text in traffic]
    shuffled = random.Random(3).sample(texts, len(texts))
    calm = db.drift(COLLECTION, FIELD, reference={"texts": shuffled[:150]}, current={"texts": shuffled[150:300]})
    topic = [text for _, text in revdict.queries if any(word in text for word in TOPIC_WORDS)][:150]
    shifted = db.drift(COLLECTION, FIELD, reference={"texts": shuffled[:150]}, current={"texts": topic})
    table = Table(
        "current sample", "detected", "p", "classifier AUC", "MMD p", "out-of-domain", title="drift of the query stream"
    )
    for label, result in (
        ("another 150 of the same stream", calm),
        (f"150 about {'/'.join(TOPIC_WORDS[:3])}...", shifted),
    ):
        tests = result["tests"]
        table.add_row(
            label,
            "[red]yes[/]" if result["detected"] else "[green]no[/]",
            f"{result['p_value']:.3g}",
            f"{tests['classifier']['statistic']:.3f}",
            f"{tests['mmd']['p_value']:.3g}",
            f"{tests['ood']['statistic']:.1%}",
        )
    console.print(table)


def fine_tune_and_policy(db: embedb.Client, revdict: RevDict, gate: Sequence[tuple[str, str]]) -> None:
    with progress_bar() as progress:
        task = progress.add_task("fine-tune MiniLM on the logged clicks", total=None)
        tuned = db.fine_tune(
            COLLECTION, FIELD, epochs=1, progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    console.print(
        f"{tuned['model_version']}: {tuned['training_pairs']} clicked pairs, held-out nDCG@10 "
        f"{tuned['before']['ndcg']:.3f} -> {tuned['after']['ndcg']:.3f} ({tuned['train_seconds']:.0f}s of training)"
    )
    judged = _judged(revdict, gate)
    db.set_policy(COLLECTION, FIELD, {"mode": "act", "gate": judged})
    outcome = _challenge(db, revdict, gate, tuned["model_version"], clicks_for="relevant")
    console.print(
        f"policy: [bold]{outcome['action']}[/] — {outcome['detail'].get('why') or outcome['detail'].get('verdict')}"
    )


def degraded_model_refused(db: embedb.Client, revdict: RevDict, gate: Sequence[tuple[str, str]]) -> None:
    squeezed = train_lsa([text for _, text in revdict.corpus], dims=8, seed=0)
    version = db.register_model("embedder", squeezed, description="LSA squeezed to 8 dimensions: a degraded model")
    outcome = _challenge(db, revdict, gate, version["uri"], clicks_for="challenger")
    gate_result = outcome["detail"].get("gate") or {}
    console.print(
        f"policy: [bold]{outcome['action']}[/] — {outcome['detail'].get('why')}; offline nDCG@10 difference "
        f"{gate_result.get('delta', float('nan')):+.3f} although every click went to the degraded model"
    )
    serving = next(v for v in db.describe_collection(COLLECTION)["embedding_versions"][FIELD] if v["serving"])
    console.print(f"still serving: [bold]{serving['model_version']}[/]")


def _challenge(
    db: embedb.Client, revdict: RevDict, traffic: Sequence[tuple[str, str]], challenger: str, *, clicks_for: str
) -> dict[str, Any]:
    """Backfill ``challenger``, run an interleaving experiment on ``traffic`` with simulated clicks, let the policy decide."""
    with progress_bar() as progress:
        task = progress.add_task(f"backfill {challenger}", total=None)
        db.add_embedding_version(
            COLLECTION,
            FIELD,
            challenger,
            wait=True,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    serving = next(v for v in db.describe_collection(COLLECTION)["embedding_versions"][FIELD] if v["serving"])
    db.start_experiment(COLLECTION, FIELD, champion=serving["model_version"], challenger=challenger, mode="interleave")
    for _ in range(3):  # the policy finishes what it was doing, then adopts the experiment
        if db.run_policy(COLLECTION, FIELD)["action"] == "adopt experiment":
            break
    step: dict[str, Any] = {"action": "none", "detail": {}}
    rng = random.Random(11)
    for round_ in range(3):  # the same traffic a few times over, as days of users would
        for position, (query_id, text) in enumerate(traffic):
            (hits,) = db.search(COLLECTION, text, limit=10, user_key=f"r{round_}u{position}")
            relevant = set(revdict.qrels.get(query_id, {}))
            for rank, hit in enumerate(hits):
                wanted = hit["arm"] == "challenger" if clicks_for == "challenger" else str(hit["id"]) in relevant
                if wanted and rng.random() < 0.9 * 0.85**rank:
                    db.feedback(COLLECTION, hit["query_id"], hit["id"])
                    break
        step = dict(db.run_policy(COLLECTION, FIELD))
        if step["action"] != "none":
            break
    if step["action"] == "none":  # still undecided after the traffic: the champion stays, the experiment ends here
        experiment = db.get_policy(COLLECTION, FIELD)["data"].get("experiment_id")
        if experiment is not None:
            db.stop_experiment(experiment)
        step = {"action": "keep the champion", "detail": {"why": "the experiment was still undecided"}}
    return step


def _judged(revdict: RevDict, traffic: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "queries": dict(traffic),
        "qrels": {query: {doc: float(grade) for doc, grade in revdict.qrels[query].items()} for query, _ in traffic},
    }


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
