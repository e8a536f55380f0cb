"""Collections: create, describe, list, rename, drop, stats — the same results and errors both ways."""

from __future__ import annotations

from typing import Any

import pytest

from embedb.client import Client
from embedb.errors import (
    ClosedError,
    CollectionAlreadyExistsError,
    CollectionNotFoundError,
    DataError,
    InvalidArgumentError,
    InvalidNameError,
    SchemaError,
)
from embedb.milvus import MilvusClient
from embedb.schema import CollectionSchema, DataType, FieldSchema, MetricType


def test_quick_setup_is_described_like_milvus(db: Client, name: str) -> None:
    db.create_collection(name, dimension=4, metric_type="L2", description="quick")
    described = db.describe_collection(name)
    assert described["collection_name"] == name
    assert described["description"] == "quick"
    assert described["fields"] == [
        {"name": "id", "type": "INT64", "is_primary": True},
        {"name": "vector", "type": "FLOAT_VECTOR", "dim": 4, "metric_type": "L2"},
    ]
    assert described["primary_field"] == "id"
    assert described["auto_id"] is False
    assert described["enable_dynamic_field"] is True
    assert described["partitions"] == ["_default"]
    assert described["aliases"] == []
    assert isinstance(described["collection_id"], int)
    assert isinstance(described["created_at"], float)


def test_num_shards_is_kept_and_checked(db: Client, name: str, other_name: str) -> None:
    db.create_collection(name, dimension=4, num_shards=2)
    db.insert(name, [{"id": key, "vector": [float(key), 1.0, 0.0, 0.0]} for key in range(20)])
    assert db.describe_collection(name)["num_shards"] == 2
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 20}]
    db.create_collection(other_name, dimension=4)
    assert db.describe_collection(other_name)["num_shards"] >= 1  # one node: 1; a cluster: each of its shards
    listed = db.list_collections()
    cases: list[tuple[Any, str]] = [(0, "from 1 to 1024, got 0"), (5000, "num_shards.*5000"), ("2", "num_shards.*integer")]
    for bad, error in cases:
        with pytest.raises(InvalidArgumentError, match=error):
            db.create_collection(f"{name}_bad", dimension=4, num_shards=bad)
    assert db.list_collections() == listed


def test_string_primary_key_quick_setup(db: Client, name: str) -> None:
    db.create_collection(
        name, dimension=2, id_type="string", max_length=16, primary_field_name="pk", vector_field_name="emb"
    )
    fields = db.describe_collection(name)["fields"]
    assert fields[0] == {"name": "pk", "type": "VARCHAR", "is_primary": True, "max_length": 16}
    assert fields[1]["name"] == "emb"


def test_full_schema_as_dict_object_and_milvus_builder(db: Client, name: str, other_name: str) -> None:
    schema = CollectionSchema(
        (
            FieldSchema("pk", DataType.INT64, is_primary=True),
            FieldSchema("title", DataType.VARCHAR, max_length=64, nullable=True),
            FieldSchema("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=8),
            FieldSchema("meta", DataType.JSON, nullable=True),
            FieldSchema("score", DataType.DOUBLE, default_value=0.5),
            FieldSchema("emb", DataType.FLOAT_VECTOR, dim=3, metric_type=MetricType.IP),
        ),
        enable_dynamic_field=False,
        description="full",
    )
    db.create_collection(name, schema=schema)
    db.create_collection(other_name, schema=schema.to_dict())
    first, second = db.describe_collection(name), db.describe_collection(other_name)
    assert first["fields"] == second["fields"] == schema.to_dict()["fields"]
    assert first["enable_dynamic_field"] is False
    builder = MilvusClient.create_schema(auto_id=True)
    builder.add_field("id", DataType.INT64, is_primary=True).add_field("v", DataType.FLOAT_VECTOR, dim=2)
    db.create_collection(name + "_b", schema=builder.to_schema())
    assert db.describe_collection(name + "_b")["auto_id"] is True


def test_list_has_and_drop(db: Client, name: str) -> None:
    assert db.has_collection(name) is False
    db.create_collection(name, dimension=2)
    assert db.has_collection(name) is True
    assert name in db.list_collections()
    assert db.list_collections() == sorted(db.list_collections())
    db.drop_collection(name)
    assert db.has_collection(name) is False
    assert name not in db.list_collections()


def test_rename_keeps_the_data(db: Client, name: str, other_name: str) -> None:
    db.create_collection(name, dimension=2)
    db.insert(name, [{"id": 1, "vector": [1.0, 0.0]}])
    db.rename_collection(name, other_name)
    assert not db.has_collection(name)
    assert db.get(other_name, [1], output_fields=["id"]) == [{"id": 1}]


def test_stats_count_live_rows(db: Client, name: str) -> None:
    db.create_collection(name, dimension=2)
    assert db.get_collection_stats(name)["row_count"] == 0
    db.insert(name, [{"id": i, "vector": [1.0, float(i)]} for i in range(5)])
    db.delete(name, [0, 1])
    stats = db.get_collection_stats(name)
    assert stats["row_count"] == 3
    assert all(isinstance(value, (int, float)) for value in stats.values())


def test_milvus_load_state_calls(db: Client, name: str) -> None:
    db.create_collection(name, dimension=2)
    db.load_collection(name)
    assert db.get_load_state(name) == {"state": "Loaded"}
    db.release_collection(name)
    with pytest.raises(CollectionNotFoundError):
        db.load_collection(name + "_missing")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"dimension": 0}, SchemaError),
        ({"dimension": 40_000}, SchemaError),
        ({}, SchemaError),
        ({"dimension": 4, "id_type": "float"}, SchemaError),
        ({"dimension": 4, "metric_type": "HAMMING"}, InvalidArgumentError),
        ({"dimension": 4, "schema": {"fields": []}}, SchemaError),
        ({"schema": {"fields": [{"name": "id", "type": "INT64", "is_primary": True}]}}, SchemaError),
        ({"schema": {"fields": [{"name": "id", "type": "NOPE", "is_primary": True}]}}, InvalidArgumentError),
    ],
)
def test_bad_schemas_are_refused_with_the_same_class(
    db: Client, name: str, arguments: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        db.create_collection(name, **arguments)
    assert not db.has_collection(name)


@pytest.mark.parametrize("bad", ["bad name", "1starts_with_digit", "", "x" * 256, "a/b", "../etc", "ok\x00"])
def test_invalid_names_never_reach_storage(db: Client, bad: str) -> None:
    with pytest.raises(InvalidNameError):
        db.create_collection(bad, dimension=2)


def test_missing_and_duplicate_collections(db: Client, name: str, other_name: str) -> None:
    for call in (
        lambda: db.describe_collection(name),
        lambda: db.drop_collection(name),
        lambda: db.get_collection_stats(name),
        lambda: db.rename_collection(name, other_name),
        lambda: db.insert(name, [{"id": 1, "vector": [1.0, 0.0]}]),
        lambda: db.search(name, [[1.0, 0.0]]),
        lambda: db.flush(name),
    ):
        with pytest.raises(CollectionNotFoundError) as raised:
            call()
        assert isinstance(raised.value, KeyError)  # the builtin base survives the wire
    db.create_collection(name, dimension=2)
    with pytest.raises(CollectionAlreadyExistsError):
        db.create_collection(name, dimension=2)
    db.create_collection(other_name, dimension=2)
    with pytest.raises(CollectionAlreadyExistsError):
        db.rename_collection(name, other_name)


def test_error_messages_match(db: Client, embedded_db: Client, name: str) -> None:
    with pytest.raises(CollectionNotFoundError) as remote:
        db.describe_collection(name)
    with pytest.raises(CollectionNotFoundError) as local:
        embedded_db.describe_collection(name)
    assert str(remote.value) == str(local.value)


def test_flush_and_compact_keep_every_row(db: Client, name: str) -> None:
    db.create_collection(name, dimension=2)
    db.insert(name, [{"id": i, "vector": [1.0, float(i)]} for i in range(20)])
    db.flush(name)
    db.delete(name, list(range(10)))
    merged = db.compact(name)
    assert set(merged) == {"merged_segments"}
    assert [row["id"] for row in db.query(name, "", output_fields=["id"])] == list(range(10, 20))


def test_a_closed_client_raises_closed(request: pytest.FixtureRequest, name: str) -> None:
    from embedb.backends.http import HttpBackend
    from embedb.connection import connect

    server = request.getfixturevalue("contract_server")
    for backend in (connect(":memory:"), HttpBackend(server.url, token=server.token)):
        backend.close()
        backend.close()  # idempotent
        with pytest.raises(ClosedError):
            backend.list_collections()


def test_collection_properties_are_stored_and_described(db: Client, name: str) -> None:
    db.create_collection(name, dimension=2)
    db.alter_collection_properties(name, {"collection.ttl.seconds": 3600, "team": {"owner": "search"}})
    db.alter_collection_properties(name, {"team": "ranking"})
    assert db.describe_collection(name)["properties"] == {"collection.ttl.seconds": 3600, "team": "ranking"}
    db.drop_collection_properties(name, ["team", "never_set"])
    assert db.describe_collection(name)["properties"] == {"collection.ttl.seconds": 3600}
    with pytest.raises(InvalidArgumentError, match="JSON"):
        db.alter_collection_properties(name, {"bad": float("nan")})
    with pytest.raises(CollectionNotFoundError):
        db.alter_collection_properties(f"{name}_missing", {"a": 1})
    assert db.describe_collection(name)["properties"] == {"collection.ttl.seconds": 3600}


def test_alter_collection_field_grows_and_shrinks_limits_the_rows_allow(db: Client, name: str) -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "vector", "type": "FLOAT_VECTOR", "dim": 2},
                {"name": "title", "type": "VARCHAR", "max_length": 8},
                {"name": "tags", "type": "ARRAY", "element_type": "VARCHAR", "max_capacity": 4, "max_length": 6},
            ]
        },
    )
    db.insert(name, [{"id": 1, "vector": [1.0, 0.0], "title": "abcdef", "tags": ["aaaaa", "b", "c"]}])
    with pytest.raises(DataError, match=r"max_length|longer"):
        db.insert(name, [{"id": 2, "vector": [1.0, 0.0], "title": "x" * 20, "tags": []}])
    db.alter_collection_field(name, "title", {"max_length": 32, "mmap.enabled": True})
    db.insert(name, [{"id": 2, "vector": [1.0, 0.0], "title": "x" * 20, "tags": []}])
    title = next(f for f in db.describe_collection(name)["fields"] if f["name"] == "title")
    assert title["max_length"] == 32
    with pytest.raises(DataError, match="key 2 holds a longer value"):
        db.alter_collection_field(name, "title", {"max_length": 10})
    db.delete(name, ids=[2])
    db.alter_collection_field(name, "title", {"max_length": 10})
    with pytest.raises(DataError, match="key 1 holds a longer value"):
        db.alter_collection_field(name, "tags", {"max_capacity": 2})
    with pytest.raises(DataError, match="key 1 holds a longer value"):
        db.alter_collection_field(name, "tags", {"max_length": 3})
    db.alter_collection_field(name, "tags", {"max_capacity": 3, "max_length": 5})
    for bad, message in (({"dim": 4}, "only max_length"), ({"max_capacity": 2}, "has no max_capacity"), ({"max_length": 0}, "max_length")):
        with pytest.raises(InvalidArgumentError, match=message):
            db.alter_collection_field(name, "title", bad)


def test_index_properties_are_stored_described_and_go_with_their_index(db: Client, name: str) -> None:
    db.create_collection(name, dimension=2)
    db.alter_index_properties(name, "vector", {"mmap.enabled": True, "team": "search"})
    db.drop_index_properties(name, "vector", ["team", "never"])
    assert db.describe_index(name, "vector")["properties"] == {"mmap.enabled": True}
    db.drop_index(name, "vector")
    db.create_index(name, field_name="vector", index_type="FLAT")
    assert "properties" not in db.describe_index(name, "vector")
