"""``python -m embedb.demo``: run the demo's steps in order on a fresh data directory."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

# Set before the model libraries load: the demo reads weights from local disk only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rich.panel import Panel

import embedb
from embedb.datasets import RevDict, load_revdict
from embedb.demo.ingest import backfill, ingest
from embedb.demo.lifecycle import evaluate_offline, experiment_and_promote
from embedb.demo.loop import degraded_model_refused, fine_tune_and_policy, monitor_and_drift
from embedb.demo.output import console, step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The EmbeDB lifecycle demo.")
    parser.add_argument("--data", default="./demo-data", help="data directory (deleted and recreated)")
    parser.add_argument("--queries", type=int, default=1000, help="labelled queries used for evaluation and traffic")
    args = parser.parse_args(argv)
    data = Path(args.data)
    if data.exists():
        shutil.rmtree(data)
    revdict = load_revdict()
    revdict = RevDict(revdict.corpus, revdict.queries[: args.queries], revdict.qrels)
    console.print(
        Panel.fit("[bold]EmbeDB[/]: a vector database that runs the lifecycle of its embedding models", style="cyan")
    )
    with embedb.connect(data) as db:
        step(
            "1. Ingest", "The revdict corpus: 20,000 WordNet synsets. EmbeDB embeds the text itself with a cheap model."
        )
        ingest(db, revdict)
        step("2. Backfill", "A better model arrives. Re-embed every row in the background; search never stops.")
        backfill(db, revdict)
        step(
            "3. Offline evaluation", "Both versions on the labelled queries: nDCG@10, recall@10, MRR@10, paired tests."
        )
        evaluate_offline(db, revdict)
        step("4. Experiment", "Live traffic, team-draft interleaving; clicks simulated from the relevance judgements.")
        seen, new = revdict.queries[: len(revdict.queries) * 7 // 10], revdict.queries[len(revdict.queries) * 7 // 10 :]
        experiment_and_promote(db, RevDict(revdict.corpus, seen, revdict.qrels))
        console.print(Panel.fit("[bold]Act two[/]: the loop closes itself", style="cyan"))
        step("5. Monitoring and drift", "What each version answered and how users clicked; then the queries turn to one subject.")
        monitor_and_drift(db, revdict, seen)
        step(
            "6. Fine-tuning and a policy",
            "MiniLM learns from the clicks the experiment logged; a policy with an offline gate (the queries never "
            "trained on) runs the next experiment to a decision.",
        )
        fine_tune_and_policy(db, revdict, new)
        step("7. Guard rails", "A degraded model that users nevertheless click: the same policy's gate refuses it.")
        degraded_model_refused(db, revdict, new)
    console.print(f"\ndata directory: {data.resolve()} (inspect it with `embedb info {data}`)")


if __name__ == "__main__":
    main()
