"""``field@version`` names the model version of the vectors a read returns, in get, query and search alike."""

from __future__ import annotations

from tests.support.bound_collections import FIELD, HASH_8, HASH_16, TEXTS, bound_schema, unique_model

from embedb.client import Client


def test_search_get_and_query_tag_the_serving_version_and_follow_a_promotion(db: Client, name: str) -> None:
    model = unique_model()
    db.register_model(model, HASH_16, alias="champion")
    db.register_model(model, HASH_8, alias="challenger")
    db.create_collection(name, schema=bound_schema(model))
    db.insert(name, [{"id": i, "text": text} for i, text in enumerate(TEXTS)])
    tag = f"{FIELD}@version"
    (hits,) = db.search(name, "apple", limit=2, output_fields=[tag])
    assert [hit["entity"][tag] for hit in hits] == [f"models:/{model}/1"] * 2
    assert db.get(name, [0], output_fields=[tag]) == [{"id": 0, tag: f"models:/{model}/1"}]
    db.add_embedding_version(name, FIELD, f"{model}@challenger", wait=True)
    db.promote(name, FIELD, f"{model}@challenger")
    (hits,) = db.search(name, "apple", limit=2, output_fields=[tag, FIELD])
    assert {hit["entity"][tag] for hit in hits} == {f"models:/{model}/2"}
    assert {len(hit["entity"][FIELD]) for hit in hits} == {8}, "the vectors of the version the tag names"
    (row,) = db.query(name, "id == 1", output_fields=[tag])
    assert row[tag] == f"models:/{model}/2"
