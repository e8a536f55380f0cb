"""evaluate_search: search configurations (BM25 with two analyzers, their RRF hybrid) scored on labelled queries, as model versions are."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from embedb.client import Client
from embedb.datasets import load_revdict
from embedb.errors import InvalidArgumentError, ModelNotFoundError
from embedb.evaluation.metrics import evaluate_run

QUERIES = 150


def _labelled() -> tuple[dict[str, str], dict[str, dict[str, float]], list[tuple[str, str]]]:
    data = load_revdict()
    queries = dict(data.queries[:QUERIES])
    qrels = {q: {d: float(g) for d, g in data.qrels[q].items()} for q in queries if q in data.qrels}
    wanted = {doc for docs in qrels.values() for doc in docs}
    corpus = [doc for doc in data.corpus if doc[0] in wanted] + [doc for doc in data.corpus if doc[0] not in wanted][
        :1500
    ]
    return queries, qrels, corpus


@pytest.fixture(scope="module")
def labelled() -> tuple[dict[str, str], dict[str, dict[str, float]], list[tuple[str, str]]]:
    return _labelled()


def _create(db: Client, name: str, corpus: list[tuple[str, str]]) -> None:
    def text_field(field: str, analyzer: dict[str, str]) -> dict[str, object]:
        return {
            "name": field,
            "type": "VARCHAR",
            "max_length": 2000,
            "enable_analyzer": True,
            "analyzer_params": analyzer,
        }

    def bm25(source: str, target: str) -> dict[str, object]:
        return {"name": f"bm25_{source}", "type": "BM25", "input_field_names": [source], "output_field_names": [target]}

    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "VARCHAR", "max_length": 32, "is_primary": True},
                text_field("plain", {"type": "standard"}),
                text_field("stemmed", {"type": "english"}),
                {"name": "plain_terms", "type": "SPARSE_FLOAT_VECTOR"},
                {"name": "stemmed_terms", "type": "SPARSE_FLOAT_VECTOR"},
            ],
            "functions": [bm25("plain", "plain_terms"), bm25("stemmed", "stemmed_terms")],
        },
    )
    db.insert(name, {"id": [i for i, _ in corpus], "plain": [t for _, t in corpus], "stemmed": [t for _, t in corpus]})


Labelled = tuple[dict[str, str], dict[str, dict[str, float]], list[tuple[str, str]]]


def test_configurations_are_scored_compared_and_gated(db: Client, name: str, labelled: Labelled) -> None:
    queries, qrels, corpus = labelled
    _create(db, name, corpus)
    configs: dict[str, dict[str, Any]] = {
        "standard": {"anns_field": "plain_terms"},
        "english": {"anns_field": "stemmed_terms"},
        "hybrid": {
            "reqs": [{"anns_field": "plain_terms"}, {"anns_field": "stemmed_terms"}],
            "ranker": {"strategy": "rrf", "params": {"k": 60}},
        },
    }
    report = db.evaluate_search(
        name, queries=queries, qrels=qrels, configs=configs, baseline="standard", candidate="english"
    )
    assert set(report["versions"]) == set(configs) and report["queries"] == len(qrels)
    assert report["versions"]["hybrid"]["config"] == configs["hybrid"]
    assert set(report["comparisons"]) == {"english", "hybrid"} and "gate" in report
    direct = {
        q: [hit["id"] for hit in hits]
        for q, hits in zip(
            qrels, db.search(name, [queries[q] for q in qrels], anns_field="stemmed_terms", limit=10), strict=True
        )
    }
    assert report["versions"]["english"]["metrics"]["ndcg@10"] == pytest.approx(
        evaluate_run(direct, qrels, k=10).mean("ndcg")
    )


def test_bad_configurations_are_refused(db: Client, name: str, labelled: Labelled) -> None:
    queries, qrels, corpus = labelled
    _create(db, name, corpus[:50])
    bad: list[Any] = [{}, {"x": {"field": "plain_terms"}}, {"x": {"reqs": []}}, {"x": 7}, []]
    for configs in bad:
        with pytest.raises(InvalidArgumentError, match="config"):
            db.evaluate_search(name, queries=queries, qrels=qrels, configs=configs)
    with pytest.raises(ModelNotFoundError):  # text names a registered configuration
        db.evaluate_search(name, queries=queries, qrels=qrels, configs={"x": "plain_terms"})
    analyzer = f"an_{uuid.uuid4().hex[:10]}"
    db.register_model(analyzer, {"type": "english"})
    with pytest.raises(InvalidArgumentError, match="not a search configuration"):
        db.evaluate_search(name, queries=queries, qrels=qrels, configs={"x": analyzer})


def test_registered_configuration_versions_are_scored_as_given(db: Client, name: str, labelled: Labelled) -> None:
    queries, qrels, corpus = labelled
    _create(db, name, corpus)
    model = f"search_{uuid.uuid4().hex[:10]}"
    db.register_model(model, {"anns_field": "plain_terms"}, alias="champion")
    db.register_model(model, {"anns_field": "stemmed_terms"})
    inline = {"anns_field": "stemmed_terms"}
    report = db.evaluate_search(
        name,
        queries=queries,
        qrels=qrels,
        configs={"champion": f"{model}@champion", "candidate": f"{model}/2", "inline": inline},
        baseline="champion",
        candidate="candidate",
    )
    assert report["versions"]["champion"]["model_version"] == f"models:/{model}/1"
    assert report["versions"]["candidate"]["config"] == inline
    assert report["versions"]["candidate"]["metrics"] == report["versions"]["inline"]["metrics"]
    assert "model_version" not in report["versions"]["inline"]


def test_a_baseline_must_name_a_configuration(db: Client, name: str, labelled: Labelled) -> None:
    queries, qrels, corpus = labelled
    _create(db, name, corpus[:50])
    configs: dict[str, dict[str, Any]] = {"bm25": {"anns_field": "plain_terms"}}
    with pytest.raises(InvalidArgumentError, match="names no configuration"):
        db.evaluate_search(name, queries=queries, qrels=qrels, configs=configs, baseline="nope")
    with pytest.raises(InvalidArgumentError, match="config"):
        db.evaluate_search(name, queries=queries, qrels=qrels, configs={"x": {"reqs": [5]}})
