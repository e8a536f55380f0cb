"""Search configurations are model versions: ``search_with`` runs one, an experiment compares two, promotion moves an alias.

A configuration is dense alone (``{"anns_field": "embedding"}``) or a hybrid of the
dense field and BM25 (``{"reqs": [...], "ranker": ...}``). ``search_with`` must answer
exactly what ``search`` / ``hybrid_search`` answer for the same configuration, and an
experiment on the configuration model routes the champion's traffic, judges it and
promotes the challenger by moving the alias traffic names — embedded and over HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from embedb.client import Client
from embedb.contract.results import SearchHits
from embedb.errors import (
    DataError,
    EmbedbError,
    FailedPreconditionError,
    InUseError,
    InvalidArgumentError,
)

DOCS = [
    "red apple pie with cream",
    "green apple tart",
    "stock market crash in october",
    "market prices fall again",
    "blue whale song at sea",
    "the whale and the river",
    "apple orchards in autumn",
    "prices of apple pie",
]
DENSE: dict[str, Any] = {"anns_field": "embedding"}
RRF: dict[str, Any] = {
    "reqs": [{"anns_field": "embedding"}, {"anns_field": "sparse"}],
    "ranker": {"strategy": "rrf", "params": {"k": 60}},
}
WEIGHTED: dict[str, Any] = {
    "reqs": [{"anns_field": "embedding", "limit": 8}, {"anns_field": "sparse", "limit": 8}],
    "ranker": {"strategy": "weighted", "params": {"weights": [0.2, 0.8]}},
}


@pytest.fixture
def collection(db: Client, name: str) -> str:
    return create(db, name)


def create(db: Client, name: str) -> str:
    """Texts with a model-bound dense field and a BM25 field."""
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 100, "enable_analyzer": True},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
            {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"},
        ],
        "functions": [
            {"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}
        ],
    }
    db.create_collection(name, schema=schema)
    db.insert(name, [{"id": i, "text": text} for i, text in enumerate(DOCS)])
    return name


@pytest.fixture
def configs(db: Client) -> str:
    """A search configuration model: version 1 dense (@champion), 2 RRF hybrid, 3 weighted hybrid."""
    model = f"search_{uuid.uuid4().hex[:10]}"
    db.register_model(model, DENSE, alias="champion")
    db.register_model(model, RRF)
    db.register_model(model, WEIGHTED)
    return model


def ranked(hits: SearchHits) -> list[list[tuple[Any, Any]]]:
    return [[(hit["id"], pytest.approx(hit["distance"], rel=1e-6)) for hit in query] for query in hits]


def test_a_configuration_is_a_versioned_model(db: Client, configs: str) -> None:
    version = db.describe_model_version(f"{configs}/2")
    assert (version["flavor"], version["dimension"], version["metric"]) == ("search_config", 0, None)
    assert version["params"]["search_config"] == RRF
    with pytest.raises(InvalidArgumentError, match="anns_field, search_params"):
        db.register_model(configs, {"anns_field": "embedding", "ranker": {}})
    with pytest.raises(InvalidArgumentError, match="ranker must be a dict"):
        db.register_model(configs, {"reqs": [{"anns_field": "embedding"}], "ranker": "rrf"})
    assert [v["version"] for v in db.list_model_versions(configs)] == [1, 2, 3], "a refused config writes nothing"


def test_search_with_answers_what_the_configuration_says(db: Client, collection: str, configs: str) -> None:
    queries = ["apple pie", "whale"]
    assert ranked(db.search_with(collection, f"{configs}@champion", queries, limit=5)) == ranked(
        db.search(collection, queries, anns_field="embedding", limit=5)
    )
    for version, config in ((2, RRF), (3, WEIGHTED)):
        reqs = [{**request, "data": queries, "limit": request.get("limit", 5)} for request in config["reqs"]]
        expected = db.hybrid_search(collection, reqs, config["ranker"], limit=5, output_fields=["text"])
        found = db.search_with(collection, f"{configs}/{version}", queries, limit=5, output_fields=["text"])
        assert ranked(found) == ranked(expected)
        assert [hit["entity"]["text"] for hit in found[0]] == [hit["entity"]["text"] for hit in expected[0]]
    (paged,) = db.search_with(collection, f"{configs}/2", "apple", limit=2, offset=1)
    (whole,) = db.search_with(collection, f"{configs}/2", "apple", limit=3)
    assert [hit["id"] for hit in paged] == [hit["id"] for hit in whole[1:]]


def test_search_with_refuses_what_is_not_a_configuration(db: Client, collection: str, configs: str) -> None:
    analyzer = f"an_{uuid.uuid4().hex[:10]}"
    db.register_model(analyzer, {"type": "english"})
    with pytest.raises(InvalidArgumentError, match="not a search configuration"):
        db.search_with(collection, analyzer, "apple")
    with pytest.raises(DataError, match="query text"):
        db.search_with(collection, configs, [[0.1] * 16])  # type: ignore[list-item]
    bad_field = f"search_{uuid.uuid4().hex[:10]}"
    db.register_model(bad_field, {"anns_field": "missing"})
    with pytest.raises(Exception, match="missing"):
        db.search_with(collection, bad_field, "apple")


def test_an_experiment_compares_dense_with_hybrid_and_promotes_by_moving_the_alias(
    db: Client, collection: str, configs: str
) -> None:
    started = db.start_experiment(
        collection, configs, champion=f"{configs}@champion", challenger=f"{configs}/2", mode="interleave"
    )
    experiment_id = started["experiment_id"]
    assert started["field"] == f"config:{configs}" and started["challenger_version"] == f"models:/{configs}/2"
    with pytest.raises(FailedPreconditionError, match="already running"):
        db.start_experiment(
            collection, configs, champion=f"{configs}@champion", challenger=f"{configs}/3", mode="split"
        )
    with pytest.raises(InUseError, match="running experiment"):
        db.delete_model_version(configs, 2)
    (hits,) = db.search_with(collection, f"{configs}@champion", "apple pie", limit=4, user_key="u1")
    assert {hit["arm"] for hit in hits} <= {"champion", "challenger"} and len({hit["query_id"] for hit in hits}) == 1
    (direct,) = db.search_with(collection, f"{configs}/3", "apple pie", limit=4)
    assert "query_id" not in direct[0], "only the champion's traffic is routed"
    assert "query_id" not in db.search(collection, "apple pie", anns_field="embedding", limit=4)[0][0]
    db.feedback(collection, hits[0]["query_id"], hits[0]["id"])
    report = db.experiment_report(experiment_id)
    assert report["queries"] == 1 and report["feedback"] == 1

    promoted = db.promote_experiment(experiment_id, reason="hybrid wins on clicks")
    assert (promoted["from_version"], promoted["to_version"]) == (f"models:/{configs}/1", f"models:/{configs}/2")
    assert promoted["alias"] == f"{configs}@champion" and promoted["experiment"]["state"] == "PROMOTED"
    assert db.describe_model(configs)["aliases"] == {"champion": 2}
    assert db.model_alias_history(configs, "champion")[-1]["reason"] == "hybrid wins on clicks"
    after = db.search_with(collection, f"{configs}@champion", ["apple pie"], limit=4)
    assert "query_id" not in after[0][0]
    assert ranked(after) == ranked(db.search_with(collection, f"{configs}/2", ["apple pie"], limit=4))
    db.set_model_alias(configs, "champion", 1, reason="roll back")  # rolling back is moving the alias again
    assert ranked(db.search_with(collection, f"{configs}@champion", "whale", limit=3)) == ranked(
        db.search(collection, "whale", anns_field="embedding", limit=3)
    )


def test_experiment_arms_must_be_versions_of_the_named_configuration(db: Client, collection: str, configs: str) -> None:
    other = f"search_{uuid.uuid4().hex[:10]}"
    db.register_model(other, RRF)
    with pytest.raises(InvalidArgumentError, match="neither a field"):
        db.start_experiment(collection, configs, champion=f"{configs}@champion", challenger=other, mode="split")
    with pytest.raises(InvalidArgumentError, match="both"):
        db.start_experiment(
            collection, configs, champion=f"{configs}@champion", challenger=f"{configs}/1", mode="split"
        )
    by_version = db.start_experiment(
        collection, configs, champion=f"{configs}/1", challenger=f"{configs}/3", mode="split"
    )
    db.search_with(collection, f"{configs}/1", "apple", user_key="u2")
    with pytest.raises(FailedPreconditionError, match="by version"):
        db.promote_experiment(by_version["experiment_id"])
    assert db.stop_experiment(by_version["experiment_id"])["state"] == "STOPPED"
    assert db.describe_model(configs)["aliases"] == {"champion": 1}


def test_an_experiment_refuses_a_configuration_the_collection_cannot_run(
    db: Client, collection: str, configs: str
) -> None:
    broken = [
        ({"anns_field": "nope"}, "nope"),
        ({"anns_field": "text"}, "not a vector field"),
        ({"anns_field": "embedding", "filter": "id <"}, "expected a value"),
        (
            {
                "reqs": [{"anns_field": "embedding"}, {"anns_field": "sparse"}],
                "ranker": {"strategy": "weighted", "params": {"weights": [1.0]}},
            },
            "2 weights",
        ),
        ({"reqs": [{"anns_field": "embedding", "limit": 0}]}, "limit"),
    ]
    for config, match in broken:
        version = db.register_model(configs, config)
        with pytest.raises(EmbedbError, match=match):
            db.start_experiment(
                collection, configs, champion=f"{configs}@champion", challenger=version["uri"], mode="interleave"
            )
    assert db.list_experiments(collection) == []
    (hits,) = db.search_with(collection, f"{configs}@champion", "apple", limit=2)
    assert "query_id" not in hits[0], "nothing was routed"


def test_a_search_configuration_is_no_embedding_model(db: Client, collection: str, configs: str) -> None:
    with pytest.raises(InvalidArgumentError, match="makes no vectors"):
        db.add_embedding_version(collection, "embedding", f"{configs}/1")
    db.insert(collection, [{"id": 99, "text": "still writable"}])
    # an experiment named by a field compares the field's embedding versions, not configurations
    with pytest.raises(InvalidArgumentError, match="is a field of"):
        db.start_experiment(collection, "embedding", champion=f"{configs}/1", challenger=f"{configs}/2", mode="split")


def test_promoting_moves_the_alias_and_stops_its_experiments_elsewhere(
    db: Client, collection: str, configs: str, other_name: str
) -> None:
    create(db, other_name)
    here = db.start_experiment(
        collection, configs, champion=f"{configs}@champion", challenger=f"{configs}/2", mode="split"
    )
    there = db.start_experiment(
        other_name, configs, champion=f"{configs}@champion", challenger=f"{configs}/3", mode="split"
    )
    db.search_with(collection, f"{configs}@champion", "apple", user_key="u")
    db.promote_experiment(here["experiment_id"])
    assert db.get_experiment(there["experiment_id"])["state"] == "STOPPED"
    db.drop_collection(other_name)
