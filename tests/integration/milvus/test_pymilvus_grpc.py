"""The unmodified pymilvus client against ``embedb serve --milvus-port``: its quickstart, types, errors and tokens.

Every test drives a real server process over Milvus's gRPC protocol with the
``pymilvus`` package as users install it; nothing here imports EmbeDB's
Milvus adapter. What pymilvus returns is checked against what EmbeDB stores,
read back over REST from the same server.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pytest
from pymilvus import (
    AnnSearchRequest,
    AsyncMilvusClient,
    DataType,
    FieldOp,
    Function,
    FunctionType,
    MilvusClient,
    MilvusException,
    RRFRanker,
    WeightedRanker,
)

from embedb.backends.http import HttpBackend

from .conftest import MilvusServer

DIM = 8


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def library_schema() -> Any:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=32)
    schema.add_field("title", DataType.VARCHAR, max_length=100)
    schema.add_field("year", DataType.INT32)
    schema.add_field("score", DataType.DOUBLE, nullable=True)
    schema.add_field("flag", DataType.BOOL)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=10)
    schema.add_field("meta", DataType.JSON)
    schema.add_field("emb", DataType.FLOAT_VECTOR, dim=DIM)
    return schema


def library_rows(n: int) -> list[dict[str, Any]]:
    embeddings = vectors(n, seed=7)
    return [
        {
            "pk": f"book-{i:03d}",
            "title": f"title {i}",
            "year": 1990 + i % 30,
            "score": None if i % 4 == 0 else i / 2,
            "flag": i % 2 == 0,
            "tags": ["a", "b", "c"][: i % 4],
            "meta": {"n": i, "shelf": f"s{i % 3}"},
            "emb": embeddings[i].tolist(),
            "colour": "red" if i % 2 else "blue",  # a dynamic field
        }
        for i in range(n)
    ]


def test_the_pymilvus_quickstart_runs_unchanged(client: MilvusClient) -> None:
    """pymilvus's README quickstart: quick setup, insert with dynamic fields, search, query, get, delete."""
    name = unique("demo")
    assert not client.has_collection(name)
    client.create_collection(collection_name=name, dimension=DIM)
    assert name in client.list_collections()
    docs = ["Artificial intelligence was founded in 1956.", "Alan Turing did early research in AI.", "Turing was born in London."]
    embedded = vectors(len(docs))
    data = [{"id": i, "vector": embedded[i].tolist(), "text": docs[i], "subject": "history"} for i in range(len(docs))]
    assert client.insert(collection_name=name, data=data)["insert_count"] == 3

    hits = client.search(collection_name=name, data=[embedded[1].tolist()], limit=2, output_fields=["text", "subject"])
    assert len(hits) == 1 and len(hits[0]) == 2
    assert hits[0][0]["id"] == 1 and hits[0][0]["distance"] == pytest.approx(1.0, abs=1e-5)
    assert hits[0][0]["entity"] == {"text": docs[1], "subject": "history"}

    rows = client.query(collection_name=name, filter="subject == 'history'", output_fields=["text", "subject"])
    assert sorted(row["id"] for row in rows) == [0, 1, 2]
    assert rows[0] == {"id": 0, "text": docs[0], "subject": "history"}
    every = client.query(collection_name=name, filter="id == 1")  # no output_fields: every field, as from Milvus
    assert every[0].keys() == {"id", "vector", "text", "subject"} and np.allclose(every[0]["vector"], embedded[1])
    got = client.get(collection_name=name, ids=[0, 2])
    assert [row["id"] for row in got] == [0, 2]
    assert np.allclose(got[1]["vector"], embedded[2])

    assert client.delete(collection_name=name, ids=[0, 2])["delete_count"] == 2
    assert client.query(collection_name=name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 1
    assert client.list_indexes(name) == ["vector"]
    assert client.describe_index(name, "vector")["metric_type"] == "COSINE"
    client.drop_collection(name)
    assert not client.has_collection(name)


def test_every_stored_type_round_trips_and_reads_the_same_over_rest(client: MilvusClient, milvus_server: MilvusServer) -> None:
    name = unique("library")
    index = client.prepare_index_params()
    index.add_index("emb", index_type="HNSW", metric_type="COSINE", params={"M": 8, "efConstruction": 64})
    client.create_collection(name, schema=library_schema(), index_params=index)
    rows = library_rows(60)
    assert client.insert(name, rows)["ids"] == [row["pk"] for row in rows]

    fields = {field["name"]: field for field in client.describe_collection(name)["fields"]}
    assert fields["pk"]["is_primary"] and fields["pk"]["params"]["max_length"] == 32
    assert fields["score"].get("nullable") is True
    assert fields["tags"]["element_type"] == DataType.VARCHAR and fields["tags"]["params"]["max_capacity"] == 4

    over_grpc = client.query(name, filter="year >= 1990", output_fields=["*"], limit=100)
    assert len(over_grpc) == 60
    by_key = {row["pk"]: row for row in over_grpc}
    for row in rows:
        answered = by_key[row["pk"]]
        assert answered["score"] == row["score"] and answered["flag"] == row["flag"]
        assert answered["tags"] == row["tags"] and answered["meta"] == row["meta"] and answered["colour"] == row["colour"]
        assert np.allclose(answered["emb"], row["emb"])
    rest = HttpBackend(milvus_server.process.url, token=milvus_server.tokens["admin"])
    try:
        stored = {row["pk"]: row for row in rest.query(name, "", output_fields=["*"], limit=100)}
    finally:
        rest.close()
    assert stored.keys() == by_key.keys()
    assert all(stored[key]["meta"] == by_key[key]["meta"] and stored[key]["colour"] == by_key[key]["colour"] for key in stored)


def test_search_answers_hits_with_filters_templates_groups_and_ranges(client: MilvusClient) -> None:
    name = unique("search")
    index = client.prepare_index_params()
    index.add_index("emb", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=library_schema(), index_params=index)
    rows = library_rows(60)
    client.insert(name, rows)
    query = rows[10]["emb"]

    hits = client.search(name, [query, rows[11]["emb"]], limit=3, output_fields=["title", "colour"], anns_field="emb")
    assert [len(h) for h in hits] == [3, 3]
    first = hits[0][0]
    assert first["pk"] == "book-010" and first["distance"] == pytest.approx(0.0, abs=1e-5)
    assert first["entity"] == {"title": "title 10", "colour": "blue"}
    assert first.pk == "book-010"  # pymilvus's Hit object

    filtered = client.search(name, [query], limit=5, filter="year > {y} and colour == 'red'", filter_params={"y": 2000}, anns_field="emb")
    assert filtered[0] and all(int(hit["pk"][-3:]) % 2 == 1 and 1990 + int(hit["pk"][-3:]) % 30 > 2000 for hit in filtered[0])

    grouped = client.search(name, [query], limit=3, group_by_field="year", output_fields=["year"], anns_field="emb")
    years = [hit["entity"]["year"] for hit in grouped[0]]
    assert len(years) == len(set(years)) == 3

    ranged = client.search(name, [query], limit=50, anns_field="emb", search_params={"params": {"radius": 20.0, "range_filter": 0.5}})
    assert ranged[0] and all(0.5 <= hit["distance"] < 20.0 for hit in ranged[0])


def test_iterators_walk_every_row(client: MilvusClient) -> None:
    name = unique("iterate")
    client.create_collection(name, dimension=DIM)
    client.insert(name, [{"id": i, "vector": v.tolist()} for i, v in enumerate(vectors(250))])
    iterator = client.query_iterator(name, batch_size=64, filter="id >= 0", output_fields=["id"])
    seen: list[int] = []
    while batch := iterator.next():
        seen.extend(row["id"] for row in batch)
    iterator.close()
    assert sorted(seen) == list(range(250))

    search = client.search_iterator(name, data=[vectors(1, seed=3)[0].tolist()], batch_size=40, limit=100, anns_field="vector")
    found: list[int] = []
    while batch := search.next():
        found.extend(hit["id"] for hit in batch)
    search.close()
    assert len(found) == 100 == len(set(found))


def test_async_client_runs_concurrent_calls(milvus_server: MilvusServer) -> None:
    name = unique("asyncdemo")
    embedded = vectors(40, seed=5)

    async def scenario() -> list[Any]:
        client = AsyncMilvusClient(uri=milvus_server.uri, token=milvus_server.tokens["admin"])
        try:
            await client.create_collection(name, dimension=DIM)
            await client.insert(name, [{"id": i, "vector": v.tolist()} for i, v in enumerate(embedded)])
            return list(await asyncio.gather(*(client.search(name, [embedded[i].tolist()], limit=1) for i in range(10))))
        finally:
            await client.drop_collection(name)
            await client.close()

    answers = asyncio.run(scenario())
    assert [answer[0][0]["id"] for answer in answers] == list(range(10))


def test_errors_carry_milvus_codes_and_name_the_problem(client: MilvusClient, milvus_server: MilvusServer) -> None:
    with pytest.raises(MilvusException) as missing:
        client.describe_collection("no_such_collection")
    assert missing.value.code == 100 and "no_such_collection" in missing.value.message
    assert client.has_collection("no_such_collection") is False

    name = unique("errors")
    client.create_collection(name, dimension=DIM)
    with pytest.raises(MilvusException) as syntax:
        client.query(name, filter="id ==", output_fields=["id"])
    assert syntax.value.code == 1100 and "position" in syntax.value.message
    with pytest.raises(MilvusException) as dimension:
        client.insert(name, [{"id": 1, "vector": [0.1] * (DIM + 1)}])
    assert dimension.value.code == 1100 and "dimension" in dimension.value.message
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 0

    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("shape", DataType.GEOMETRY)
    with pytest.raises(MilvusException) as unsupported:
        client.create_collection(unique("geometry"), schema=schema)
    assert "GEOMETRY" in unsupported.value.message and "not supported" in unsupported.value.message

    elsewhere = MilvusClient(uri=milvus_server.uri, token=milvus_server.tokens["admin"], db_name="analytics")
    with pytest.raises(MilvusException) as database:
        elsewhere.list_collections()
    assert "analytics" in database.value.message


def test_tokens_and_roles_are_the_same_as_over_rest(milvus_server: MilvusServer) -> None:
    with pytest.raises(MilvusException) as anonymous:
        MilvusClient(uri=milvus_server.uri).list_collections()
    assert anonymous.value.code == 1402
    with pytest.raises(MilvusException) as forged:
        MilvusClient(uri=milvus_server.uri, token="edb_0123456789ab_not-the-secret").list_collections()
    assert forged.value.code == 1402

    admin = milvus_server.client("admin")
    admin.create_collection("scoped_mine", dimension=DIM)
    other = unique("scoped_other")
    admin.create_collection(other, dimension=DIM)
    reader = milvus_server.client("reader")
    with pytest.raises(MilvusException) as refused:
        reader.drop_collection(other)
    assert refused.value.code == 1401 and "admin" in refused.value.message
    assert admin.has_collection(other)
    with pytest.raises(MilvusException):
        reader.insert(other, [{"id": 1, "vector": [0.5] * DIM}])

    scoped = milvus_server.client("scoped_reader")
    assert scoped.list_collections() == ["scoped_mine"]
    with pytest.raises(MilvusException) as outside:
        scoped.search(other, [[0.5] * DIM], limit=1)
    assert outside.value.code == 1401
    # user:password credentials carry the token as the password.
    by_password = MilvusClient(uri=milvus_server.uri, user="anyone", password=milvus_server.tokens["reader"])
    assert other in by_password.list_collections()


def test_partitions_aliases_flush_and_compaction(client: MilvusClient) -> None:
    name = unique("admin")
    client.create_collection(name, dimension=DIM)
    client.create_partition(name, "recent")
    assert client.list_partitions(name) == ["_default", "recent"] and client.has_partition(name, "recent")
    client.insert(name, [{"id": 1, "vector": [0.5] * DIM}], partition_name="recent")
    client.insert(name, [{"id": 2, "vector": [0.25] * DIM}])
    assert [row["id"] for row in client.query(name, filter="", partition_names=["recent"])] == [1]
    client.load_partitions(name, ["recent"])
    client.release_partitions(name, ["recent"])
    with pytest.raises(MilvusException):
        client.load_partitions(name, ["nowhere"])

    alias = unique("current")
    client.create_alias(name, alias)
    assert client.describe_alias(alias)["collection_name"] == name
    assert alias in client.list_aliases(name)["aliases"]
    assert [row["id"] for row in client.query(alias, filter="id == 2")] == [2]
    client.drop_alias(alias)
    client.drop_alias(alias)  # as in Milvus, dropping what does not exist is a no-op
    client.drop_collection(unique("never_created"))
    with pytest.raises(MilvusException, match="drop the collection by its name"):
        client.create_alias(name, alias)
        client.drop_collection(alias)
    client.drop_alias(alias)

    client.flush(name)
    job = client.compact(name)
    assert client.get_compaction_state(job) == "Completed"
    assert client.get_collection_stats(name)["row_count"] == 2
    assert client.get_load_state(name)["state"].name == "Loaded"
    assert client.get_server_version().startswith("embedb-")


def test_load_state_rules_are_milvus_s(client: MilvusClient) -> None:
    name = unique("loading")
    client.create_collection(name, dimension=DIM)
    client.create_partition(name, "old")
    client.insert(name, [{"id": 1, "vector": [0.5] * DIM}], partition_name="old")
    with pytest.raises(MilvusException) as loaded:
        client.drop_partition(name, "old")
    assert "release_partitions" in loaded.value.message
    client.release_partitions(name, ["old"])
    assert client.get_load_state(name, partition_name="old")["state"].name == "NotLoad"
    with pytest.raises(MilvusException) as partition:
        client.query(name, filter="id > 0", partition_names=["old"])
    assert partition.value.code == 201
    client.drop_partition(name, "old")

    client.release_collection(name)
    assert client.get_load_state(name)["state"].name == "NotLoad"
    with pytest.raises(MilvusException) as released:
        client.search(name, [[0.5] * DIM], limit=1)
    assert released.value.code == 101 and "load_collection" in released.value.message
    client.insert(name, [{"id": 2, "vector": [0.5] * DIM}])
    client.load_collection(name)
    assert [row["id"] for row in client.query(name, filter="id > 0")] == [2]


def test_databases_hold_their_own_collections(milvus_server: MilvusServer) -> None:
    client = milvus_server.client()
    db_name = unique("analytics")
    client.create_database(db_name)
    assert db_name in client.list_databases() and client.list_databases()[0] == "default"
    with pytest.raises(MilvusException):
        client.create_database(db_name)
    client.create_collection("shared_name", dimension=DIM)
    client.insert("shared_name", [{"id": 1, "vector": [0.5] * DIM}])

    client.use_database(db_name)
    assert "shared_name" not in client.list_collections()
    client.create_collection("shared_name", dimension=DIM)
    client.insert("shared_name", [{"id": 7, "vector": [0.5] * DIM}, {"id": 8, "vector": [0.25] * DIM}])
    assert [hit["id"] for hit in client.search("shared_name", [[0.5] * DIM], limit=5)[0]] == [7, 8]
    other = MilvusClient(uri=milvus_server.uri, token=milvus_server.tokens["admin"], db_name=db_name)
    assert other.query("shared_name", filter="", output_fields=["count(*)"])[0]["count(*)"] == 2
    with pytest.raises(MilvusException) as not_empty:
        client.drop_database(db_name)
    assert "drop them first" in not_empty.value.message

    reader = milvus_server.client("reader")
    with pytest.raises(MilvusException) as refused:
        reader.create_database(unique("nope"))
    assert refused.value.code == 1401
    scoped = MilvusClient(uri=milvus_server.uri, token=milvus_server.tokens["scoped_reader"], db_name=db_name)
    with pytest.raises(MilvusException) as scoped_refused:
        scoped.list_collections()
    assert scoped_refused.value.code == 1401

    client.drop_collection("shared_name")
    client.use_database("default")
    assert [row["id"] for row in client.query("shared_name", filter="")] == [1]
    client.drop_database(db_name)
    assert db_name not in client.list_databases()
    with pytest.raises(MilvusException) as gone:
        other.list_collections()
    assert gone.value.code == 800
    client.drop_collection("shared_name")


def test_partial_upsert_changes_only_the_fields_sent(client: MilvusClient) -> None:
    name = unique("partial")
    client.create_collection(name, schema=library_schema())
    rows = library_rows(5)
    client.insert(name, rows)
    assert client.upsert(name, [{"pk": "book-001", "title": "new title"}], partial_update=True)["upsert_count"] == 1
    stored = client.get(name, ids=["book-001"], output_fields=["*"])[0]
    assert stored["title"] == "new title" and stored["year"] == rows[1]["year"] and stored["colour"] == rows[1]["colour"]
    assert np.allclose(stored["emb"], rows[1]["emb"])


def test_scalar_indexes_are_created_described_and_used(client: MilvusClient) -> None:
    name = unique("scalar")
    client.create_collection(name, schema=library_schema())
    rows = library_rows(60)
    client.insert(name, rows)
    index = client.prepare_index_params()
    index.add_index(field_name="title", index_type="Trie", index_name="title_trie")
    index.add_index(field_name="year", index_type="STL_SORT")
    client.create_index(name, index)
    assert sorted(client.list_indexes(name)) == ["title_trie", "year"]
    assert client.describe_index(name, "title_trie")["index_type"] == "TRIE"
    found = client.query(name, filter="title == 'title 7' and year >= 1990", output_fields=["title"])
    assert [row["pk"] for row in found] == ["book-007"]
    with pytest.raises(MilvusException, match="release_collection before dropping"):
        client.drop_index(name, "title_trie")  # as in Milvus: only a released collection's index is dropped
    client.release_collection(name)
    client.drop_index(name, "title_trie")
    assert client.list_indexes(name) == ["year"]


def test_order_by_fields_in_query_and_search(client: MilvusClient) -> None:
    name = unique("ordered")
    client.create_collection(name, schema=library_schema())
    client.insert(name, library_rows(30))
    rows = client.query(name, filter="year < 2000", output_fields=["year"], order_by_fields=[{"field": "year", "order": "desc"}], limit=5)
    years = [row["year"] for row in rows]
    assert years == sorted(years, reverse=True) and len(years) == 5
    hits = client.search(name, [library_rows(30)[3]["emb"]], anns_field="emb", limit=10, output_fields=["year"], order_by_fields=[{"field": "year", "order": "asc"}])
    assert [hit["entity"]["year"] for hit in hits[0]] == sorted(hit["entity"]["year"] for hit in hits[0])


def test_varchar_primary_key_with_auto_id(client: MilvusClient) -> None:
    name = unique("textkeys")
    schema = MilvusClient.create_schema(auto_id=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)
    ids = list(client.insert(name, [{"v": vector.tolist()} for vector in vectors(3)])["ids"])
    assert len(set(ids)) == 3 and all(isinstance(key, str) for key in ids)
    assert [row["pk"] for row in client.get(name, ids=ids)] == ids


def test_partition_key_schemas(client: MilvusClient) -> None:
    name = unique("tenants")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tenant", DataType.VARCHAR, max_length=16, is_partition_key=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema, num_partitions=8)
    assert next(f for f in client.describe_collection(name)["fields"] if f["name"] == "tenant").get("is_partition_key")
    client.insert(name, [{"id": i, "tenant": f"t{i % 2}", "v": v.tolist()} for i, v in enumerate(vectors(6))])
    assert [row["id"] for row in client.query(name, filter="tenant == 't1'")] == [1, 3, 5]
    with pytest.raises(MilvusException, match="partition key"):
        client.create_partition(name, "manual")


@pytest.mark.parametrize(("data_type", "numpy_type"), [(DataType.FLOAT16_VECTOR, np.float16), (DataType.INT8_VECTOR, np.int8)])
def test_float16_and_int8_vectors_travel_packed(client: MilvusClient, data_type: DataType, numpy_type: Any) -> None:
    name = unique("narrow")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", data_type, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    values = (np.random.default_rng(2).integers(-50, 50, (20, DIM))).astype(numpy_type)
    client.insert(name, [{"id": i, "v": values[i]} for i in range(20)])
    hits = client.search(name, [values[5]], limit=1, anns_field="v")
    assert hits[0][0]["id"] == 5 and hits[0][0]["distance"] == pytest.approx(0.0, abs=1e-2)  # Faiss L2 expands the square
    stored = client.get(name, ids=[5], output_fields=["v"])[0]["v"]
    packed = stored[0] if isinstance(stored, list) and stored and isinstance(stored[0], bytes) else stored
    decoded = np.frombuffer(packed, dtype=numpy_type) if isinstance(packed, bytes) else np.asarray(packed)
    assert np.array_equal(decoded.astype(np.float32), values[5].astype(np.float32)), "pymilvus reads the packed bytes back"


def test_describe_replica_answers_one_replica(client: MilvusClient) -> None:
    name = unique("replica")
    client.create_collection(name, dimension=DIM)
    (replica,) = client.describe_replica(name)
    assert list(replica.group_nodes) == [1] and len(replica.shards) == 1


def test_alter_index_properties_and_fields(client: MilvusClient) -> None:
    name = unique("alter")
    client.create_collection(name, schema=library_schema())
    client.create_index(name, client.prepare_index_params("emb", index_type="FLAT", metric_type="L2"))
    client.alter_index_properties(name, index_name="emb", properties={"mmap.enabled": True})
    assert client.describe_index(name, "emb")["mmap.enabled"] in ("True", "true")  # pymilvus sends str(True)
    client.drop_index_properties(name, index_name="emb", property_keys=["mmap.enabled"])
    assert "mmap.enabled" not in client.describe_index(name, "emb")
    client.alter_collection_field(name, field_name="title", field_params={"max_length": 500, "mmap.enabled": True})
    title = next(f for f in client.describe_collection(name)["fields"] if f["name"] == "title")
    assert title["params"]["max_length"] == 500
    with pytest.raises(MilvusException, match="only max_length"):
        client.alter_collection_field(name, field_name="title", field_params={"dim": 3})


def test_truncate_collection(client: MilvusClient) -> None:
    name = unique("truncate")
    client.create_collection(name, dimension=DIM)
    client.insert(name, [{"id": i, "vector": v.tolist()} for i, v in enumerate(vectors(5))])
    client.truncate_collection(name)
    assert client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"] == 0
    assert client.has_collection(name)


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
def test_binary_vectors_travel_packed_and_rank_by_their_metric(client: MilvusClient, metric: str) -> None:
    name = unique("bits")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("bits", DataType.BINARY_VECTOR, dim=64)
    index = client.prepare_index_params()
    index.add_index("bits", index_type="BIN_IVF_FLAT", metric_type=metric, params={"nlist": 4})
    client.create_collection(name, schema=schema, index_params=index)
    bits = np.random.default_rng(3).random((200, 64)) < 0.4
    client.insert(name, [{"id": i, "bits": np.packbits(row).tobytes()} for i, row in enumerate(bits)])
    query = bits[7]
    hits = client.search(name, [np.packbits(query).tobytes()], limit=5, search_params={"params": {"nprobe": 4}})
    both, either = (bits & query).sum(axis=1), (bits | query).sum(axis=1)
    expected = (bits != query).sum(axis=1) if metric == "HAMMING" else 1 - both / either
    assert hits[0][0]["id"] == 7
    assert [hit["distance"] for hit in hits[0]] == pytest.approx(np.sort(expected)[:5].tolist(), abs=1e-6)
    stored = client.get(name, ids=[7], output_fields=["bits"])[0]["bits"]
    assert bytes(stored[0] if isinstance(stored, list) else stored) == np.packbits(query).tobytes()


def test_nullable_vectors_read_back_as_none_and_are_not_searched(client: MilvusClient) -> None:
    name = unique("nullable")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM, nullable=True)
    index = client.prepare_index_params()
    index.add_index("v", index_type="HNSW", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    values = vectors(10)
    client.insert(name, [{"id": i, "v": None if i % 2 else values[i].tolist()} for i in range(10)])
    assert [row["v"] is None for row in client.get(name, ids=[0, 1], output_fields=["v"])] == [False, True]
    hits = client.search(name, [values[0].tolist()], limit=10, output_fields=["v"])
    assert sorted(hit["id"] for hit in hits[0]) == [0, 2, 4, 6, 8]


def test_timestamptz_travels_as_iso_text_and_filters_by_instant(client: MilvusClient) -> None:
    name = unique("instants")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("ts", DataType.TIMESTAMPTZ, nullable=True)
    client.create_collection(name, schema=schema, properties={"timezone": "Asia/Shanghai"})
    values = vectors(3)
    client.insert(
        name,
        [
            {"id": 0, "v": values[0].tolist(), "ts": "2025-01-01T00:00:00"},
            {"id": 1, "v": values[1].tolist(), "ts": "2025-01-03T00:00:00Z"},
            {"id": 2, "v": values[2].tolist(), "ts": None},
        ],
    )
    rows = client.query(name, filter="id >= 0", output_fields=["ts"])
    assert {row["id"]: row["ts"] for row in rows} == {0: "2024-12-31T16:00:00Z", 1: "2025-01-03T00:00:00Z", 2: None}
    assert [row["id"] for row in client.query(name, filter="ts + INTERVAL 'P1D' <= ISO '2025-01-02T00:00:00'")] == [0]
    assert client.describe_collection(name)["properties"]["timezone"] == "Asia/Shanghai"
    assert [row["id"] for row in client.query(name, filter="ts == ISO '2024-12-31 16:00:00'", timezone="UTC")] == [0]
    with pytest.raises(MilvusException, match="time_fields"):
        client.query(name, filter="id >= 0", output_fields=["ts"], time_fields="year, month")


def test_database_properties_are_stored_described_and_go_with_their_database(milvus_server: MilvusServer) -> None:
    client = milvus_server.client()
    db_name = unique("props")
    client.create_database(db_name, properties={"owner": "search-team"})
    client.alter_database_properties(db_name, {"timezone": "Asia/Shanghai", "database.max.collections": 7})
    described = client.describe_database(db_name)
    assert described["owner"] == "search-team" and described["timezone"] == "Asia/Shanghai"
    client.drop_database_properties(db_name, ["owner"])
    assert "owner" not in client.describe_database(db_name)
    with pytest.raises(MilvusException):
        milvus_server.client("writer").alter_database_properties(db_name, {"owner": "me"})
    client.drop_database(db_name)
    client.create_database(db_name)
    assert "timezone" not in client.describe_database(db_name), "a dropped database's properties go with it"
    client.drop_database(db_name)


def test_field_ops_append_to_and_remove_from_arrays(client: MilvusClient) -> None:
    name = unique("field_ops")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("tags", DataType.ARRAY, element_type=DataType.INT64, max_capacity=8)
    client.create_collection(name, schema=schema)
    client.insert(name, [{"id": 1, "v": [0.5] * DIM, "tags": [1, 2]}])
    client.upsert(name, [{"id": 1, "v": [0.5] * DIM, "tags": [3]}], field_ops={"tags": FieldOp.array_append()})
    client.upsert(name, [{"id": 1, "v": [0.5] * DIM, "tags": [1]}], field_ops={"tags": "array_remove"})
    assert client.get(name, ids=[1], output_fields=["tags"])[0]["tags"] == [2, 3]


def test_sparse_vectors_travel_as_milvus_packs_them(client: MilvusClient) -> None:
    name = unique("sparse")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP", params={"inverted_index_algo": "DAAT_MAXSCORE"})
    client.create_collection(name, schema=schema, index_params=index)
    rows = [{"id": 1, "sparse": {3: 0.5, 70000: 1.0}}, {"id": 2, "sparse": {3: 2.0}}, {"id": 3, "sparse": {9: 1.0}}]
    client.insert(name, rows)
    hits = client.search(name, [{3: 1.0, 70000: 1.0}], limit=5, anns_field="sparse", search_params={"metric_type": "IP"}, output_fields=["sparse"])
    assert [(hit["id"], hit["distance"]) for hit in hits[0]] == [(2, 2.0), (1, 1.5)]
    stored = client.get(name, ids=[1], output_fields=["sparse"])[0]["sparse"]
    assert {int(k): v for k, v in dict(stored).items()} == {3: 0.5, 70000: 1.0}


def test_bm25_functions_and_run_analyzer(client: MilvusClient) -> None:
    name = unique("bm25")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=200, enable_analyzer=True, analyzer_params={"type": "english"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": 1.2, "bm25_b": 0.75})
    client.create_collection(name, schema=schema, index_params=index)
    described = client.describe_collection(name)
    assert described["functions"][0]["name"] == "bm25" and described["functions"][0]["output_field_names"] == ["sparse"]
    client.insert(name, [{"id": 1, "text": "running foxes"}, {"id": 2, "text": "a sleeping dog"}, {"id": 3, "text": "the fox runs"}])
    hits = client.search(name, ["fox running"], limit=3, anns_field="sparse", search_params={"metric_type": "BM25"}, output_fields=["text"])
    assert sorted(hit["id"] for hit in hits[0]) == [1, 3]
    analyzed = client.run_analyzer(["The Foxes ran"], analyzer_params={"type": "english"})
    assert [list(result.tokens) for result in analyzed] == [["fox", "ran"]]
    assert list(client.run_analyzer("Dogs", collection_name=name, field_name="text").tokens) == ["dog"]


def test_hybrid_search_fuses_dense_and_bm25_searches(client: MilvusClient) -> None:
    name = unique("hybrid")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("text", DataType.VARCHAR, max_length=100, enable_analyzer=True)
    schema.add_field("dense", DataType.FLOAT_VECTOR, dim=DIM)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function("bm25", FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
    client.create_collection(name, schema=schema)
    values = vectors(4)
    texts = ["red apple", "green apple", "red car", "blue sky"]
    client.insert(name, [{"id": i, "text": texts[i], "dense": values[i].tolist()} for i in range(4)])
    requests = [
        AnnSearchRequest([values[3].tolist()], "dense", {"metric_type": "COSINE"}, limit=4),
        AnnSearchRequest(["red"], "sparse", {"metric_type": "BM25"}, limit=4, expr="id < 3"),
    ]
    rrf = client.hybrid_search(name, requests, RRFRanker(60), limit=3, output_fields=["text"])
    assert {hit["id"] for hit in rrf[0][:2]} == {0, 2}, "found by both searches"
    assert (rrf[0][2]["id"], rrf[0][2]["distance"]) == (3, pytest.approx(1 / 61)), "first of the dense search only"
    assert rrf[0][0]["entity"]["text"] in ("red apple", "red car")
    weighted = client.hybrid_search(name, requests, WeightedRanker(0.0, 1.0), limit=2)
    assert {hit["id"] for hit in weighted[0]} == {0, 2}, "with all the weight on BM25, the two 'red' texts win"


def test_a_batch_whose_nullable_vectors_are_all_null_is_written(client: MilvusClient) -> None:
    name = unique("all_null")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM, nullable=True)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection(name, schema=schema, index_params=index)
    client.insert(name, [{"id": 1, "v": None}, {"id": 2}])
    assert [row["v"] for row in client.get(name, ids=[1, 2], output_fields=["v"])] == [None, None]
    with pytest.raises(MilvusException, match="with_detail"):
        client.run_analyzer("hello world", analyzer_params={"type": "standard"}, with_detail=True)


def test_hybrid_search_refuses_grouping_rather_than_ignoring_it(client: MilvusClient) -> None:
    name = unique("hybrid_group")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("cat", DataType.VARCHAR, max_length=4)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=DIM)
    client.create_collection(name, schema=schema)
    client.insert(name, [{"id": i, "cat": "ab"[i % 2], "v": vectors(4)[i].tolist()} for i in range(4)])
    request = AnnSearchRequest([vectors(4)[0].tolist()], "v", {}, limit=4)
    with pytest.raises(MilvusException, match="group_by_field"):
        client.hybrid_search(name, [request, request], RRFRanker(), limit=2, group_by_field="cat")


def test_num_shards_is_kept_and_described(client: MilvusClient) -> None:
    name, default = unique("sharded"), unique("unsharded")
    client.create_collection(name, dimension=DIM, num_shards=3)
    client.create_collection(default, dimension=DIM)
    assert client.describe_collection(name)["num_shards"] == 3
    assert client.describe_collection(default)["num_shards"] == 1  # none asked: Milvus's default
    with pytest.raises(MilvusException, match="num_shards"):
        client.create_collection(unique("too_many"), dimension=DIM, num_shards=4096)
