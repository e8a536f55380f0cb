"""``select_model``: candidates scored on the user's judgements; the significantly better one becomes the challenger.

The field is served by a model that knows no words (``scrambled_8``: each text its
own random vector), so both a registered word-hashing model and an LSA model made
from the collection's texts beat it on the shipped revdict queries; the winner is
registered (a made one) and aliased ``challenger``. Embedded and over HTTP.
"""

from __future__ import annotations

import uuid

import pytest
from tests.support.bound_collections import bound_schema

from embedb.client import Client
from embedb.datasets import load_revdict
from embedb.errors import InvalidArgumentError

DATA = load_revdict()


@pytest.fixture
def judged(db: Client, name: str) -> tuple[str, str, dict[str, str], dict[str, dict[str, float]]]:
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "tests.support.toy_embedders:scrambled_8", alias="champion")
    query_ids = [query for query, _ in DATA.queries[:60]]
    relevant = {doc for query in query_ids for doc in DATA.qrels[query]}
    corpus = [(doc, text) for doc, text in DATA.corpus if doc in relevant] + DATA.corpus[:300]
    schema = bound_schema(model, max_length=2000, text_ids=True)
    db.create_collection(name, schema=schema)
    db.insert(name, [{"id": doc, "text": text} for doc, text in dict(corpus).items()])
    texts = dict(DATA.queries)
    queries = {query: texts[query] for query in query_ids}
    qrels = {query: {doc: float(grade) for doc, grade in DATA.qrels[query].items()} for query in query_ids}
    return name, model, queries, qrels


def test_a_better_candidate_is_chosen_and_made_the_challenger(
    db: Client, judged: tuple[str, str, dict[str, str], dict[str, dict[str, float]]]
) -> None:
    name, model, queries, qrels = judged
    hashing = f"h_{uuid.uuid4().hex[:10]}"
    db.register_model(hashing, "embedb.models.testing:hash_embed_16")
    report = db.select_model(name, "embedding", queries=queries, qrels=qrels, candidates=[hashing], corpus_rows=300)
    serving = f"models:/{model}/1"
    assert report["serving_version"] == serving and report["queries"] == 60
    made = {"new:lsa", "new:bm25", "new:hybrid"}
    assert set(report["candidates"]) == {serving, f"models:/{hashing}/1", *made}
    assert list(report["skipped"]) == ["new:model2vec"], "scrambled_8 is no sentence-transformers model to distil"
    assert report["ranking"][-1] == serving, "a model that knows no words ranks last"
    assert [report["candidates"][n]["kind"] for n in ("new:bm25", "new:hybrid")] == ["lexical", "hybrid"]
    assert not report["candidates"]["new:bm25"]["registrable"] and report["candidates"]["new:bm25"]["ndcg@10"] > 0
    winner = report["winner"]
    assert winner is not None and winner == next(n for n in report["ranking"] if report["candidates"][n]["registrable"])
    assert report["best_overall"] == next(n for n in report["ranking"] if n != serving)
    assert report["candidates"][winner]["p_value"] < 0.05 and report["candidates"][winner]["vs_serving"] > 0
    registered = db.describe_model_version(str(report["registered"]))
    assert "challenger" in registered["aliases"]
    if winner == "new:lsa":
        assert registered["name"] == model and registered["flavor"] == "sklearn"


def test_no_winner_when_nothing_beats_the_serving_version(
    db: Client, judged: tuple[str, str, dict[str, str], dict[str, dict[str, float]]]
) -> None:
    name, model, queries, qrels = judged
    same = db.select_model(name, "embedding", queries=queries, qrels=qrels, make=[], corpus_rows=300)
    assert same["winner"] is None and same["registered"] is None and list(same["candidates"]) == [f"models:/{model}/1"]
    with pytest.raises(InvalidArgumentError, match="cannot make"):
        db.select_model(name, "embedding", queries=queries, qrels=qrels, make=["word2vec"])
    with pytest.raises(InvalidArgumentError, match="at least 5 judged"):
        db.select_model(name, "embedding", queries={}, qrels={}, corpus_rows=300)
