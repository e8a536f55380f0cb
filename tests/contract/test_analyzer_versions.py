"""A BM25 field's analyzer is a model version: added (re-tokenising backfill), compared, promoted, rolled back.

An analyzer is registered from its ``analyzer_params``; a BM25 function's output
field bound to it (``source=`` the text, ``model=``) ranks with the serving
version's tokens. Every score is checked against the plain-Python BM25 over the
tokens ``run_analyzer`` makes with that version's parameters, embedded and over HTTP.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tests.support.bm25_reference import reference_bm25

import embedb
from embedb.client import Client
from embedb.errors import InUseError, InvalidArgumentError, NotFoundError, SchemaError
from embedb.lifecycle import incomplete_ready_versions

STANDARD = {"type": "standard"}
ENGLISH = {"type": "english"}
DOCS = [
    "Running dogs run faster than walking dogs",
    "A run of good luck",
    "Cats are sleeping in the sun",
    "He runs every morning",
    "The runner kept running",
    "Sleeping cats sleep all day",
]


@pytest.fixture
def analyzer_model(db: Client) -> str:
    """An analyzer model with version 1 (standard, @champion) and version 2 (english stemming)."""
    model = f"an_{uuid.uuid4().hex[:10]}"
    db.register_model(model, STANDARD, alias="champion")
    db.register_model(model, ENGLISH, description="english: stop words and stemming")
    return model


def bound_schema(model: str, text_analyzer: dict[str, str] | None = None) -> dict[str, object]:
    text: dict[str, object] = {"name": "text", "type": "VARCHAR", "max_length": 200, "enable_analyzer": True}
    if text_analyzer is not None:
        text["analyzer_params"] = text_analyzer
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            text,
            {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
        ],
        "functions": [
            {"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}
        ],
    }


def assert_ranked_as(
    db: Client, name: str, docs: dict[int, str], params: dict[str, str], query: str, embedding_version: str | None = None
) -> None:
    """The field's BM25 scores for ``query`` are the reference's over ``params``'s tokens of ``docs``."""
    tokens = {key: db.run_analyzer(text, params) for key, text in docs.items()}
    expected = reference_bm25(tokens, db.run_analyzer(query, params))
    hits = db.search(name, [query], anns_field="sparse", limit=len(docs), embedding_version=embedding_version)[0]
    assert {hit["id"]: pytest.approx(expected[hit["id"]], rel=1e-5) for hit in hits} == expected


def test_an_analyzer_version_is_registered_from_its_params(db: Client, analyzer_model: str) -> None:
    version = db.describe_model_version(f"{analyzer_model}/2")
    assert (version["flavor"], version["dimension"], version["metric"]) == ("analyzer", 0, "BM25")
    assert version["params"]["analyzer_params"] == ENGLISH
    with pytest.raises(InvalidArgumentError, match="unknown analyzer type"):
        db.register_model(analyzer_model, {"type": "klingon"})
    assert [v["version"] for v in db.list_model_versions(analyzer_model)] == [1, 2], "a refused source writes nothing"


def test_a_new_analyzer_is_backfilled_promoted_and_rolled_back(db: Client, name: str, analyzer_model: str) -> None:
    db.create_collection(name, schema=bound_schema(analyzer_model))
    docs = dict(enumerate(DOCS))
    db.insert(name, [{"id": key, "text": text} for key, text in list(docs.items())[:4]])
    db.flush(name)
    db.insert(name, [{"id": key, "text": text} for key, text in list(docs.items())[4:]])
    assert_ranked_as(db, name, docs, STANDARD, "running dogs")

    job = db.add_embedding_version(name, "sparse", f"{analyzer_model}/2", wait=True, timeout=60)
    assert job["state"] == "DONE" and job["rows_done"] == len(docs)
    versions = {v["model_version"]: v for v in db.describe_collection(name)["embedding_versions"]["sparse"]}
    assert versions[f"models:/{analyzer_model}/2"]["state"] == "READY"
    assert versions[f"models:/{analyzer_model}/1"]["serving"]
    assert_ranked_as(db, name, docs, ENGLISH, "running dogs", embedding_version=f"{analyzer_model}/2")
    assert_ranked_as(db, name, docs, STANDARD, "running dogs")  # the serving version is still version 1

    moved = db.promote(name, "sparse", f"{analyzer_model}/2", reason="stemming finds run/runs/running")
    assert moved["to_version"] == f"models:/{analyzer_model}/2" and moved["alias"] == f"{analyzer_model}@champion"
    assert db.describe_model(analyzer_model)["aliases"] == {"champion": 2}
    assert_ranked_as(db, name, docs, ENGLISH, "running dogs")
    db.insert(name, [{"id": 10, "text": "runs and runs"}])  # written after the promotion: counted by version 2 too
    db.delete(name, ids=[1])
    docs = {**{k: v for k, v in docs.items() if k != 1}, 10: "runs and runs"}
    assert_ranked_as(db, name, docs, ENGLISH, "run")
    assert_ranked_as(db, name, docs, STANDARD, "run", embedding_version=f"{analyzer_model}/1")

    with pytest.raises(InUseError, match="rollback target"):
        db.drop_embedding_version(name, "sparse", f"{analyzer_model}/1")
    back = db.rollback(name, "sparse", reason="compare again")
    assert back["to_version"] == f"models:/{analyzer_model}/1"
    assert_ranked_as(db, name, docs, STANDARD, "run")
    with pytest.raises(InUseError, match="rollback target"):
        db.drop_embedding_version(name, "sparse", f"{analyzer_model}/2")
    whitespace = db.register_model(analyzer_model, {"tokenizer": "whitespace"})
    db.add_embedding_version(name, "sparse", whitespace["uri"], wait=True, timeout=60)
    assert db.drop_embedding_version(name, "sparse", whitespace["uri"])["dropped_version"] == whitespace["uri"]
    with pytest.raises(NotFoundError, match="holds no vectors"):
        db.search(name, ["run"], anns_field="sparse", embedding_version=whitespace["uri"])


def test_an_experiment_compares_two_analyzers_and_promotes_the_winner(
    db: Client, name: str, analyzer_model: str
) -> None:
    db.create_collection(name, schema=bound_schema(analyzer_model))
    db.insert(name, [{"id": key, "text": text} for key, text in enumerate(DOCS)])
    db.add_embedding_version(name, "sparse", f"{analyzer_model}/2", wait=True, timeout=60)
    started = db.start_experiment(
        name, "sparse", champion=f"{analyzer_model}@champion", challenger=f"{analyzer_model}/2", mode="interleave"
    )
    assert started["champion_version"] == f"models:/{analyzer_model}/1"
    (hits,) = db.search(name, "runs", anns_field="sparse", limit=4, user_key="u1")
    # "runs" matches one text as it is and four once stemmed: the challenger's hits are interleaved in
    assert {hit["arm"] for hit in hits} == {"champion", "challenger"}
    event = db.feedback(name, hits[0]["query_id"], hits[0]["id"])
    assert event["experiment_id"] == started["experiment_id"]
    report = db.experiment_report(started["experiment_id"])
    assert report["queries"] == 1 and report["feedback"] == 1
    promoted = db.promote_experiment(started["experiment_id"], reason="analyzer experiment")
    assert promoted["to_version"] == f"models:/{analyzer_model}/2"
    assert db.get_experiment(started["experiment_id"])["state"] == "PROMOTED"
    assert_ranked_as(db, name, dict(enumerate(DOCS)), ENGLISH, "runs")


def test_the_stored_counts_serve_a_version_with_the_text_fields_own_analyzer(
    db: Client, name: str, analyzer_model: str
) -> None:
    db.create_collection(name, schema=bound_schema(analyzer_model, text_analyzer=ENGLISH))
    db.insert(name, [{"id": key, "text": text} for key, text in enumerate(DOCS)])
    db.flush(name)
    # version 1 (standard) is made from the text; the stored counts (english, the text field's) serve version 2
    assert_ranked_as(db, name, dict(enumerate(DOCS)), STANDARD, "running")
    db.add_embedding_version(name, "sparse", f"{analyzer_model}/2", wait=True, timeout=60)
    assert_ranked_as(db, name, dict(enumerate(DOCS)), ENGLISH, "running", embedding_version=f"{analyzer_model}/2")
    assert db.run_analyzer("running dogs", collection_name=name, field_name="text") == ["run", "dog"]


def test_analyzers_and_embedding_models_do_not_mix(db: Client, name: str, analyzer_model: str) -> None:
    dense = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(dense, "embedb.models.testing:hash_embed_8", alias="champion")
    with pytest.raises(InvalidArgumentError, match="bind it to an analyzer"):
        db.create_collection(name, schema=bound_schema(dense))
    vector_field = {
        "name": "embedding",
        "type": "FLOAT_VECTOR",
        "source": "text",
        "model": f"{analyzer_model}@champion",
    }
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 50},
            vector_field,
        ]
    }
    with pytest.raises(InvalidArgumentError, match="is an analyzer"):
        db.create_collection(name, schema=schema)
    not_an_output = bound_schema(analyzer_model)
    not_an_output["functions"] = []
    with pytest.raises(SchemaError, match="BM25 function's output"):
        db.create_collection(name, schema=not_an_output)
    assert not db.has_collection(name)
    db.create_collection(name, schema=bound_schema(analyzer_model))
    db.insert(name, [{"id": 1, "text": "one text"}])
    with pytest.raises(InvalidArgumentError, match="bind it to an analyzer"):
        db.add_embedding_version(name, "sparse", dense)
    unbound = bound_schema(analyzer_model)
    unbound["fields"][2] = {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"}  # type: ignore[index]
    db.create_collection(name + "_plain", schema=unbound)
    try:
        with pytest.raises(InvalidArgumentError, match="embedding_version does not apply"):
            db.search(name + "_plain", ["text"], anns_field="sparse", embedding_version=f"{analyzer_model}/2")
    finally:
        db.drop_collection(name + "_plain")


def test_the_serving_analyzer_survives_reopen(tmp_path: Path) -> None:
    db = embedb.connect(tmp_path / "data")
    db.register_model("words", STANDARD, alias="champion")
    db.register_model("words", ENGLISH)
    db.create_collection("docs", schema=bound_schema("words"))
    db.insert("docs", [{"id": key, "text": text} for key, text in enumerate(DOCS)])
    db.add_embedding_version("docs", "sparse", "words/2", wait=True, timeout=60)
    db.promote("docs", "sparse", "words/2")
    db.close()
    assert incomplete_ready_versions(tmp_path / "data") == [], "an analyzer version stores no column to miss"
    db = embedb.connect(tmp_path / "data")
    try:
        assert_ranked_as(db, "docs", dict(enumerate(DOCS)), ENGLISH, "running dogs")
        assert db.search("docs", ["running"], anns_field="sparse", embedding_version="words/1")[0][0]["id"] == 4
    finally:
        db.close()
