"""BM25 functions: a VARCHAR field's analyzer fills a sparse field; text searches rank by Okapi BM25 over the live rows.

Scores are checked against a plain-Python BM25 written from the formula
(``tests.support.bm25_reference``), over the same tokens.
"""

from __future__ import annotations

import pytest
from tests.support.bm25_reference import reference_bm25

from embedb.client import Client
from embedb.errors import DataError, InvalidArgumentError, SchemaError

DOCS = [
    "The quick brown fox jumps over the lazy dog",
    "A quick brown dog outpaces a quick fox",
    "Lazy dogs sleep all day long",
    "Foxes are quick and clever animals",
    "The dog and the fox became friends",
    "Nothing here matches anything",
    "Quick quick quick, said the fox",
    "Brown bears and brown foxes",
]


def _schema(analyzer: dict[str, object] | None = None) -> dict[str, object]:
    text: dict[str, object] = {"name": "text", "type": "VARCHAR", "max_length": 500, "enable_analyzer": True}
    if analyzer is not None:
        text["analyzer_params"] = analyzer
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            text,
            {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"},
        ],
        "functions": [
            {"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}
        ],
    }


def _check(
    db: Client, name: str, docs: dict[int, list[str]], query: str, query_tokens: list[str], **params: float
) -> None:
    expected = reference_bm25(docs, query_tokens, params.get("bm25_k1", 1.2), params.get("bm25_b", 0.75))
    search_params = {"metric_type": "BM25", "params": dict(params)}
    hits = db.search(name, [query], limit=len(docs), anns_field="sparse", search_params=search_params)[0]
    assert {hit["id"]: pytest.approx(expected[hit["id"]], rel=1e-5) for hit in hits} == expected
    assert [hit["distance"] for hit in hits] == sorted((hit["distance"] for hit in hits), reverse=True)


def test_scores_match_a_reference_bm25_over_sealed_growing_and_deleted_rows(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema())
    db.insert(name, [{"id": i, "text": text} for i, text in enumerate(DOCS[:5])])
    db.flush(name)
    db.insert(name, [{"id": i + 5, "text": text} for i, text in enumerate(DOCS[5:])])
    tokens = {i: db.run_analyzer(text) for i, text in enumerate(DOCS)}
    assert tokens[0] == ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    _check(db, name, tokens, "quick fox", ["quick", "fox"])
    _check(db, name, tokens, "lazy brown dog", ["lazy", "brown", "dog"], bm25_k1=1.8, bm25_b=0.3)
    db.delete(name, ids=[1, 6])  # the statistics follow deletes
    remaining = {k: v for k, v in tokens.items() if k not in (1, 6)}
    _check(db, name, remaining, "quick fox", ["quick", "fox"])
    db.compact(name)  # ... and compaction
    _check(db, name, remaining, "quick fox", ["quick", "fox"])
    assert db.search(name, ["zebra"], limit=3)[0] == []


def test_the_english_analyzer_stems_and_drops_stop_words(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema({"type": "english"}))
    db.insert(name, [{"id": i, "text": text} for i, text in enumerate(DOCS)])
    assert db.run_analyzer("The foxes are running quickly", {"type": "english"}) == ["fox", "run", "quick"]
    assert db.run_analyzer(["Dogs", "dog"], collection_name=name, field_name="text") == [["dog"], ["dog"]]
    tokens = {i: db.run_analyzer(text, {"type": "english"}) for i, text in enumerate(DOCS)}
    _check(db, name, tokens, "the foxes", ["fox"])
    hits = db.search(name, ["foxes"], limit=8, filter="id > 3", output_fields=["text"])[0]
    assert {hit["id"] for hit in hits} == {i for i, t in tokens.items() if "fox" in t and i > 3}


def test_upserts_rewrite_the_terms_and_writes_may_not_give_them(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema())
    db.insert(name, [{"id": 1, "text": "alpha beta"}, {"id": 2, "text": "beta gamma"}])
    db.upsert(name, [{"id": 1, "text": "gamma delta"}])
    assert [hit["id"] for hit in db.search(name, ["alpha"], limit=5)[0]] == []
    assert {hit["id"] for hit in db.search(name, ["gamma"], limit=5)[0]} == {1, 2}
    db.upsert(name, [{"id": 2, "text": "alpha"}], partial_update=True)
    assert [hit["id"] for hit in db.search(name, ["alpha"], limit=5)[0]] == [2]
    with pytest.raises(DataError, match="filled by function"):
        db.insert(name, [{"id": 3, "text": "x", "sparse": {1: 1.0}}])
    with pytest.raises(DataError, match="query text"):
        db.search(name, [{1: 1.0}], limit=1)


@pytest.mark.parametrize(
    ("analyzer", "error", "message"),
    [
        ({"type": "klingon"}, InvalidArgumentError, "unknown analyzer type"),
        ({"tokenizer": "standard", "filter": ["uppercase"]}, InvalidArgumentError, "unknown filter"),
        ({"tokenizer": "standard", "filter": [{"type": "length", "max": 0}]}, InvalidArgumentError, "length filter"),
        (
            {"tokenizer": "standard", "filter": [{"type": "stemmer", "language": "elvish"}]},
            InvalidArgumentError,
            "no stemmer",
        ),
    ],
)
def test_bad_analyzers_are_refused_at_creation(
    db: Client, name: str, analyzer: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        db.create_collection(name, schema=_schema(analyzer))
    assert not db.has_collection(name)


def test_a_bm25_function_needs_an_analyzed_text_and_a_sparse_output(db: Client, name: str) -> None:
    schema = _schema()
    schema["fields"][1]["enable_analyzer"] = False  # type: ignore[index]
    with pytest.raises(SchemaError, match="enable_analyzer=True"):
        db.create_collection(name, schema=schema)


def test_custom_and_chinese_analyzers(db: Client) -> None:
    custom = {
        "tokenizer": "whitespace",
        "filter": ["lowercase", {"type": "stop", "stop_words": ["of"]}, {"type": "length", "max": 5}, "asciifolding"],
    }
    assert db.run_analyzer("Café OF Sevilla Extraordinary", custom) == ["cafe"]
    assert db.run_analyzer("我来到北京清华大学", {"type": "chinese"}) == ["我", "来到", "北京", "清华大学"]


def test_japanese_with_lindera_ipadic(db: Client, name: str) -> None:
    lindera: dict[str, object] = {"tokenizer": {"type": "lindera", "dict_kind": "ipadic"}}
    assert db.run_analyzer("関西国際空港限定トートバッグ", lindera) == ["関西国際空港", "限定", "トートバッグ"]
    db.create_collection(name, schema=_schema(lindera))
    db.insert(name, [{"id": 1, "text": "東京スカイツリーの最寄り駅"}, {"id": 2, "text": "関西国際空港"}])
    assert [hit["id"] for hit in db.search(name, ["関西国際空港に行く"], limit=2)[0]] == [2]
