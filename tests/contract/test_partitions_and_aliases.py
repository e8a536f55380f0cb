"""Partitions and aliases: the same results and errors embedded and over HTTP."""

from __future__ import annotations

import pytest

from embedb.client import Client
from embedb.errors import (
    AliasAlreadyExistsError,
    AliasNotFoundError,
    CollectionAlreadyExistsError,
    CollectionNotFoundError,
    FailedPreconditionError,
    InvalidNameError,
    PartitionAlreadyExistsError,
    PartitionNotFoundError,
)


@pytest.fixture
def collection(db: Client, name: str) -> str:
    db.create_collection(name, dimension=2)
    return name


def test_partition_lifecycle(db: Client, collection: str) -> None:
    assert db.list_partitions(collection) == ["_default"]
    db.create_partition(collection, "recent")
    assert db.has_partition(collection, "recent") is True
    assert db.has_partition(collection, "old") is False
    assert db.list_partitions(collection) == ["_default", "recent"]
    db.insert(collection, [{"id": 1, "vector": [1.0, 0.0]}], partition_name="recent")
    db.insert(collection, [{"id": 2, "vector": [0.0, 1.0]}])
    assert db.query(collection, "", output_fields=["id"], partition_names=["recent"]) == [{"id": 1}]
    assert db.query(collection, "", output_fields=["id"], partition_names="recent") == [{"id": 1}]
    hits = db.search(collection, [[1.0, 0.0]], partition_names=["_default"])
    assert [hit["id"] for hit in hits[0]] == [2]
    db.drop_partition(collection, "recent")
    assert db.list_partitions(collection) == ["_default"]
    assert db.query(collection, "", output_fields=["id"]) == [{"id": 2}]


def test_partition_errors(db: Client, collection: str) -> None:
    db.create_partition(collection, "p")
    with pytest.raises(PartitionAlreadyExistsError):
        db.create_partition(collection, "p")
    with pytest.raises(PartitionNotFoundError):
        db.drop_partition(collection, "missing")
    with pytest.raises(PartitionNotFoundError):
        db.insert(collection, [{"id": 1, "vector": [1.0, 0.0]}], partition_name="missing")
    with pytest.raises(PartitionNotFoundError):
        db.query(collection, "", partition_names=["missing"])
    with pytest.raises(FailedPreconditionError):
        db.drop_partition(collection, "_default")
    with pytest.raises(InvalidNameError):
        db.create_partition(collection, "no spaces")
    with pytest.raises(CollectionNotFoundError):
        db.create_partition(collection + "_missing", "p")
    with pytest.raises(CollectionNotFoundError):
        db.list_partitions(collection + "_missing")


def test_alias_lifecycle(db: Client, collection: str, other_name: str) -> None:
    alias = collection + "_live"
    db.create_collection(other_name, dimension=2)
    db.create_alias(collection, alias)
    assert db.describe_alias(alias) == {"alias": alias, "collection_name": collection}
    assert db.list_aliases(collection) == {"aliases": [alias], "collection_name": collection}
    assert alias in db.list_aliases()["aliases"]
    assert db.describe_collection(alias)["collection_name"] == collection
    assert db.describe_collection(collection)["aliases"] == [alias]
    db.insert(alias, [{"id": 7, "vector": [1.0, 1.0]}])
    assert db.get(collection, [7], output_fields=["id"]) == [{"id": 7}]
    db.alter_alias(other_name, alias)
    assert db.describe_alias(alias)["collection_name"] == other_name
    assert db.query(alias, "", output_fields=["id"]) == []
    assert db.has_collection(alias) is False  # an alias is not a collection
    db.drop_alias(alias)
    with pytest.raises(AliasNotFoundError):
        db.describe_alias(alias)
    assert db.list_aliases(other_name)["aliases"] == []


def test_alias_errors(db: Client, collection: str) -> None:
    alias = collection + "_a"
    with pytest.raises(CollectionNotFoundError):
        db.create_alias(collection + "_missing", alias)
    db.create_alias(collection, alias)
    with pytest.raises(AliasAlreadyExistsError):
        db.create_alias(collection, alias)
    with pytest.raises(AliasAlreadyExistsError):
        db.create_alias(collection, collection)
    with pytest.raises(CollectionAlreadyExistsError):
        db.create_collection(alias, dimension=2)
    with pytest.raises(AliasNotFoundError):
        db.drop_alias(collection + "_nope")
    with pytest.raises(AliasNotFoundError):
        db.alter_alias(collection, collection + "_nope")
    with pytest.raises(InvalidNameError):
        db.create_alias(collection, "bad alias")
