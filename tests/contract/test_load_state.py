"""Milvus's load state: a released collection or partition refuses reads, the same embedded and over HTTP."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import CollectionNotLoadedError, PartitionNotFoundError, PartitionNotLoadedError


@pytest.fixture
def collection(db: Client, name: str) -> str:
    db.create_collection(name, dimension=2)
    db.create_partition(name, "recent")
    db.insert(name, [{"id": 1, "vector": [1.0, 0.0]}], partition_name="recent")
    db.insert(name, [{"id": 2, "vector": [0.9, 0.1]}])
    return name


def test_a_released_collection_refuses_reads_and_takes_writes(db: Client, collection: str) -> None:
    assert db.get_load_state(collection) == {"state": "Loaded"}
    db.release_collection(collection)
    assert db.get_load_state(collection) == {"state": "NotLoad"}
    assert db.get_load_state(collection, "recent") == {"state": "NotLoad"}
    for read in (
        lambda: db.search(collection, [[1.0, 0.0]], limit=1),
        lambda: db.search(collection, np.array([[1.0, 0.0]], dtype=np.float32), limit=1),
        lambda: db.query(collection, "id > 0"),
        lambda: db.get(collection, [1]),
        lambda: db.query(collection, "", partition_names=["recent"]),
    ):
        with pytest.raises(CollectionNotLoadedError, match="load_collection"):
            read()
    db.insert(collection, [{"id": 3, "vector": [0.0, 1.0]}])
    db.release_collection(collection)  # releasing again changes nothing
    db.load_collection(collection)
    assert db.get_load_state(collection) == {"state": "Loaded"}
    assert [row["id"] for row in db.query(collection, "", output_fields=["id"])] == [1, 2, 3]


def test_a_released_partition_is_skipped_and_refused_by_name(db: Client, collection: str) -> None:
    db.release_partitions(collection, ["recent"])
    assert db.get_load_state(collection) == {"state": "Loaded"}
    assert db.get_load_state(collection, "recent") == {"state": "NotLoad"}
    assert db.get_load_state(collection, "_default") == {"state": "Loaded"}
    assert [row["id"] for row in db.query(collection, "", output_fields=["id"])] == [2]
    assert [hit["id"] for hit in db.search(collection, [[1.0, 0.0]], limit=5)[0]] == [2]
    with pytest.raises(PartitionNotLoadedError, match="recent"):
        db.search(collection, [[1.0, 0.0]], limit=5, partition_names=["recent"])
    with pytest.raises(PartitionNotLoadedError):
        db.get(collection, [1], partition_names=["_default", "recent"])
    assert db.get(collection, [1, 2]) == [{"id": 2, "vector": pytest.approx([0.9, 0.1])}]
    db.load_partitions(collection, ["recent"])
    assert [hit["id"] for hit in db.search(collection, [[1.0, 0.0]], limit=5)[0]] == [1, 2]


def test_releasing_every_partition_releases_the_collection(db: Client, collection: str) -> None:
    db.release_partitions(collection, ["recent", "_default"])
    assert db.get_load_state(collection) == {"state": "NotLoad"}
    db.create_partition(collection, "later")  # a partition of a released collection starts released
    assert db.get_load_state(collection, "later") == {"state": "NotLoad"}
    with pytest.raises(CollectionNotLoadedError):
        db.query(collection, "")
    db.load_partitions(collection, ["later"])
    assert db.query(collection, "", output_fields=["id"]) == []
    with pytest.raises(PartitionNotFoundError):
        db.release_partitions(collection, ["nowhere"])
    with pytest.raises(PartitionNotFoundError):
        db.get_load_state(collection, "nowhere")


def test_a_dropped_and_recreated_partition_is_loaded(db: Client, collection: str) -> None:
    db.release_partitions(collection, ["recent"])
    db.drop_partition(collection, "recent")
    db.create_partition(collection, "recent")
    assert db.get_load_state(collection, "recent") == {"state": "Loaded"}
