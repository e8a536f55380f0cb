"""The cheaper retraining path: an LSA version is fitted again on today's corpus, scored on held-out pairs, registered."""

from __future__ import annotations

from pathlib import Path

from tests.support.bound_collections import bound_schema

import embedb
from embedb.datasets import load_revdict
from embedb.models import train_lsa


def test_an_lsa_version_is_refitted_on_the_current_corpus(tmp_path: Path) -> None:
    data = load_revdict()
    texts = dict(data.queries)
    chosen = [query for query, _ in data.queries[:300]]
    documents = {next(iter(data.qrels[q])) for q in chosen}
    corpus = {doc: text for doc, text in data.corpus if doc in documents} | dict(data.corpus[:1_500])
    stale = train_lsa([text for _, text in data.corpus[-600:]], dims=32, seed=0)  # fitted on other words
    with embedb.connect(tmp_path / "data") as db:
        db.register_model("lsa", stale, alias="champion")
        schema = bound_schema("lsa", max_length=2000, text_ids=True)
        db.create_collection("words", schema=schema)
        db.insert("words", [{"id": doc, "text": text} for doc, text in corpus.items()])
        pairs = [{"query": texts[q], "doc_id": next(iter(data.qrels[q]))} for q in chosen]
        report = db.fine_tune("words", "embedding", pairs=pairs, eval_rows=500)
        assert report["after"]["ndcg"] > report["before"]["ndcg"], report
        version = db.describe_model_version(report["model_version"])
        assert version["flavor"] == "sklearn" and version["dimension"] == 32
        assert (
            version["params"]["method"].startswith("LSA refit on") and version["lineage"]["parent"] == "models:/lsa/1"
        )
