"""pymilvus-style code runs with only its import line changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedb.errors import (
    CollectionNotLoadedError,
    DatabaseNotFoundError,
    IndexAlreadyExistsError,
    InvalidArgumentError,
    InvalidStateError,
    SchemaError,
)
from embedb.milvus import DataType, LoadState, MilvusClient


def test_quickstart_from_the_milvus_lite_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    client = MilvusClient("./milvus_demo.db")
    if client.has_collection(collection_name="demo_collection"):
        client.drop_collection(collection_name="demo_collection")
    client.create_collection(collection_name="demo_collection", dimension=8)
    rng = np.random.default_rng(1)
    vectors = rng.random((10, 8)).tolist()
    data = [{"id": i, "vector": vectors[i], "text": f"doc {i}", "subject": "history" if i < 5 else "biology"} for i in range(10)]
    res = client.insert(collection_name="demo_collection", data=data, timeout=5)
    assert res["insert_count"] == 10 and res["ids"] == list(range(10))
    hits = client.search(
        collection_name="demo_collection",
        data=[vectors[7]],
        filter="subject == 'biology'",
        limit=2,
        output_fields=["text", "subject"],
        search_params={"metric_type": "COSINE", "params": {}},
    )
    assert len(hits) == 1 and hits[0][0]["id"] == 7
    assert hits[0][0]["entity"] == {"text": "doc 7", "subject": "biology"}
    assert abs(hits[0][0]["distance"] - 1.0) < 1e-5
    assert all(hit["entity"]["subject"] == "biology" for hit in hits[0])
    rows = client.query(collection_name="demo_collection", filter="subject == 'history'", output_fields=["text", "subject"])
    assert [r["id"] for r in rows] == [0, 1, 2, 3, 4]
    assert client.get(collection_name="demo_collection", ids=[0, 2], output_fields=["text"]) == [
        {"id": 0, "text": "doc 0"},
        {"id": 2, "text": "doc 2"},
    ]
    assert client.delete(collection_name="demo_collection", ids=[0, 2])["delete_count"] == 2
    assert client.delete(collection_name="demo_collection", filter="subject == 'biology'")["delete_count"] == 5
    assert client.query(collection_name="demo_collection", output_fields=["count(*)"]) == [{"count(*)": 3}]
    # Without output_fields, every field comes back, as from Milvus.
    every = client.query(collection_name="demo_collection", filter="id == 1")
    assert every == [{"id": 1, "vector": pytest.approx(vectors[1]), "text": "doc 1", "subject": "history"}]
    client.load_collection(collection_name="demo_collection")
    assert client.get_load_state(collection_name="demo_collection")["state"] is LoadState.Loaded
    client.close()
    assert (tmp_path / "milvus_demo.db").is_dir()


def test_custom_schema_with_auto_id_arrays_and_partitions(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=True)
    schema.add_field(field_name="pk", datatype=DataType.INT64, is_primary=True)
    schema.add_field(field_name="embedding", datatype=DataType.FLOAT_VECTOR, dim=3)
    schema.add_field(field_name="tags", datatype=DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=4, max_length=16)
    schema.add_field(field_name="price", datatype=DataType.DOUBLE, nullable=True)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="embedding", index_type="AUTOINDEX", metric_type="L2")
    client.create_collection(collection_name="products", schema=schema, index_params=index_params)
    client.create_partition(collection_name="products", partition_name="sale")
    inserted = client.insert(
        collection_name="products",
        data=[{"embedding": [0.0, 0.0, 1.0], "tags": ["a", "b"], "price": 3.5, "brand": "x"}],
        partition_name="sale",
    )
    client.insert(collection_name="products", data=[{"embedding": [1.0, 0.0, 0.0], "tags": ["c"]}])
    assert len(inserted["ids"]) == 1
    hits = client.search(
        collection_name="products",
        data=[[0.0, 0.1, 0.9]],
        limit=5,
        filter='array_contains(tags, "a") and brand == "x"',
        partition_names=["sale"],
        output_fields=["tags", "price", "brand"],
    )
    assert [h["id"] for h in hits[0]] == inserted["ids"]
    assert hits[0][0]["entity"] == {"tags": ["a", "b"], "price": 3.5, "brand": "x"}
    assert client.list_partitions(collection_name="products") == ["_default", "sale"]
    client.create_alias(collection_name="products", alias="shop")
    assert client.query(collection_name="shop", filter="price is null", output_fields=["tags"])[0]["tags"] == ["c"]
    assert client.describe_alias(alias="shop") == {"alias": "shop", "collection_name": "products"}
    client.close()


def test_unsupported_milvus_features_fail_clearly(tmp_path: Path) -> None:
    lite_file = tmp_path / "milvus_lite.db"
    lite_file.write_bytes(b"SQLite format 3\x00")
    with pytest.raises(InvalidArgumentError, match="needs a directory"):
        MilvusClient(str(lite_file))


def test_what_pymilvus_code_takes_for_granted(tmp_path: Path) -> None:
    """pymilvus's examples/simple.py stopped at progress_bar; Milvus drops missing things quietly."""
    from embedb.errors import CollectionNotFoundError, EmbedbError
    from embedb.milvus import MilvusException

    client = MilvusClient(str(tmp_path / "milvus.db"))
    client.drop_collection("never_created")  # a no-op in Milvus
    client.drop_alias("never_created")
    client.create_collection("docs", dimension=4, consistency_level="Strong")
    rows = [{"id": i, "vector": [float(i), 1.0, 0.0, 0.5]} for i in range(5)]
    assert client.insert("docs", rows, progress_bar=True)["insert_count"] == 5
    client.create_alias("docs", "current")
    with pytest.raises(InvalidArgumentError, match="'current' is an alias of 'docs'"):  # refused, not silently skipped
        client.drop_collection("current")
    assert client.has_collection("docs")
    assert MilvusException is EmbedbError and issubclass(CollectionNotFoundError, MilvusException)
    assert client.get_server_version().startswith("embedb-")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True).add_field("emb", DataType.FLOAT_VECTOR, dim=8)
    client.create_collection("both", dimension=4, schema=schema)  # as in pymilvus, the schema wins
    described = client.describe_collection("both")
    assert [(f["name"], f["type"], f["params"].get("dim")) for f in described["fields"]] == [
        ("id", DataType.INT64, None),
        ("emb", DataType.FLOAT_VECTOR, 8),
    ]
    assert described["fields"][0]["is_primary"] and described["consistency_level_name"] == "Strong"
    assert described["num_shards"] == 1
    client.create_collection("sharded", dimension=4, shards_num=2)  # the older keyword pymilvus still takes
    client.create_collection("unsharded", dimension=4, num_shards=0)  # 0: Milvus's default
    client.create_collection("either", dimension=4, num_shards=None, shards_num=3)
    client.create_collection("numpy_zero", dimension=4, num_shards=np.int64(0))
    assert client.describe_collection("sharded")["num_shards"] == 2
    assert client.describe_collection("unsharded")["num_shards"] == 1
    assert client.describe_collection("either")["num_shards"] == 3
    assert client.describe_collection("numpy_zero")["num_shards"] == 1
    client.delete("docs", ids=[0, 1, 2])
    job = client.compact("docs")
    assert isinstance(job, int) and client.get_compaction_state(job) == "Completed"
    with pytest.raises(InvalidArgumentError, match="no compaction job 999"):
        client.get_compaction_state(999)
    assert [r["id"] for r in client.query("docs", filter="id >= 0")] == [3, 4]
    client.drop_alias("current")
    client.drop_collection("docs")
    assert not client.has_collection("docs")
    client.close()


def test_a_milvus_type_embedb_lacks_is_named_not_a_bare_attribute_error(tmp_path: Path) -> None:
    from embedb.errors import SchemaError, UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError, match="GEOMETRY is not supported by EmbeDB yet; supported: BOOL"):
        _ = DataType.GEOMETRY
    assert not hasattr(DataType, "GEOMETRY"), "still an AttributeError for hasattr()"
    schema = MilvusClient.create_schema()
    with pytest.raises(SchemaError, match="GEOMETRY is not supported"):
        schema.add_field("v", "GEOMETRY")
    with pytest.raises(AttributeError) as missing:
        _ = DataType.NO_SUCH_TYPE
    assert not isinstance(missing.value, SchemaError), "a name Milvus does not have either is a plain AttributeError"


def test_async_client_runs_the_same_calls_as_coroutines(tmp_path: Path) -> None:
    import asyncio

    from embedb.errors import CollectionNotFoundError
    from embedb.milvus import AsyncMilvusClient

    async def main() -> None:
        async with AsyncMilvusClient(str(tmp_path / "async.db")) as client:
            schema = AsyncMilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True).add_field("vector", DataType.FLOAT_VECTOR, dim=4)
            index = AsyncMilvusClient.prepare_index_params()
            index.add_index("vector", index_type="FLAT", metric_type="L2")
            await client.create_collection("docs", schema=schema, index_params=index)
            rows = [{"id": i, "vector": [float(i), 0.0, 0.0, 0.0]} for i in range(20)]
            assert (await client.insert("docs", rows))["insert_count"] == 20
            searches = [client.search("docs", [[float(i), 0.0, 0.0, 0.0]], limit=1) for i in range(5)]
            answers = await asyncio.gather(*searches)  # concurrent calls on one client
            assert [a[0][0]["id"] for a in answers] == [0, 1, 2, 3, 4]
            assert [r["id"] for r in await client.query("docs", filter="id < 3")] == [0, 1, 2]
            with pytest.raises(CollectionNotFoundError):
                await client.describe_collection("nope")

    asyncio.run(main())


def test_load_state_follows_milvus_and_survives_a_reopen(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    client.create_collection("docs", dimension=2)
    client.create_partition("docs", "old")
    client.insert("docs", [{"id": 1, "vector": [1.0, 0.0]}], partition_name="old")
    assert client.get_load_state("docs")["state"] is LoadState.Loaded
    with pytest.raises(InvalidStateError, match="release_partitions before dropping"):
        client.drop_partition("docs", "old")
    assert client.get_partition_stats("docs", "old") == {"row_count": 1}
    assert [replica["nodes"] for replica in client.describe_replica("docs")] == [[1]]
    client.release_partitions("docs", ["old"])
    assert client.get_load_state("docs", partition_name="old")["state"] is LoadState.NotLoad
    client.release_collection("docs")
    with pytest.raises(CollectionNotLoadedError):
        client.search("docs", [[1.0, 0.0]], limit=1)
    client.close()

    reopened = MilvusClient(str(tmp_path / "db"))
    assert reopened.get_load_state("docs")["state"] is LoadState.NotLoad
    reopened.load_partitions("docs", ["_default"])
    assert reopened.get_load_state("docs")["state"] is LoadState.Loaded
    assert reopened.get_load_state("docs", partition_name="old")["state"] is LoadState.NotLoad
    reopened.drop_partition("docs", "old")
    assert reopened.list_partitions("docs") == ["_default"]
    reopened.close()


def test_databases_are_data_directories_beside_the_default_one(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    client.create_database("staging")
    client.use_database("staging")
    client.create_collection("docs", dimension=2)
    client.insert("docs", [{"id": 5, "vector": [1.0, 0.0]}])
    client.use_database("default")
    assert client.list_collections() == []
    with pytest.raises(InvalidStateError, match="drop them first"):
        client.drop_database("staging")
    client.close()

    reopened = MilvusClient(str(tmp_path / "db"), db_name="staging")
    assert reopened.list_databases() == ["default", "staging"]
    assert [row["id"] for row in reopened.query("docs", filter="")] == [5]
    reopened.drop_collection("docs")
    reopened.drop_database("staging")
    assert reopened.list_databases() == ["default"] and not (tmp_path / "db" / "databases" / "staging").exists()
    with pytest.raises(DatabaseNotFoundError):
        reopened.use_database("staging")
    reopened.drop_database("staging")  # dropping a database that does not exist is a no-op, as in Milvus
    with pytest.raises(DatabaseNotFoundError):
        MilvusClient(str(tmp_path / "db"), db_name="missing")
    reopened.close()


def test_hits_answer_as_pymilvus_hits(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    schema = MilvusClient.create_schema(enable_dynamic_field=True)
    schema.add_field("uid", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection("docs", schema=schema)
    client.insert("docs", [{"uid": 4, "v": [1.0, 0.0], "title": "four"}])
    hit = client.search("docs", [[1.0, 0.0]], limit=1, output_fields=["title"])[0][0]
    assert hit == {"id": 4, "distance": pytest.approx(1.0), "entity": {"title": "four"}}
    assert hit["uid"] == hit["id"] == hit.id == hit.pk == 4
    assert hit["title"] == hit.entity["title"] == "four" and hit.distance == pytest.approx(1.0)
    with pytest.raises(KeyError):
        hit["nowhere"]
    client.close()


def test_one_index_params_holds_vector_and_scalar_indexes(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("title", DataType.VARCHAR, max_length=32)
    schema.add_field("embeddings", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection("docs", schema=schema)
    index_params = client.prepare_index_params()
    index_params.add_index(field_name="embeddings", metric_type="L2")
    index_params.add_index(field_name="title", index_type="Trie", index_name="my_trie")
    client.create_index("docs", index_params)
    assert sorted(client.list_indexes("docs")) == ["embeddings", "my_trie"]
    assert client.describe_index("docs", "embeddings")["metric_type"] == "L2"
    with pytest.raises(InvalidStateError, match="release_collection"):
        client.drop_index("docs", "my_trie")
    client.release_collection("docs")
    client.drop_index("docs", "my_trie")
    bad = client.prepare_index_params()
    bad.add_index(field_name="embeddings", metric_type="L2")
    bad.add_index(field_name="title", index_type="STL_SORT", index_name="embeddings")
    with pytest.raises(IndexAlreadyExistsError):
        client.create_index("docs", bad)
    assert client.list_indexes("docs") == ["embeddings"], "a refused request defines nothing"
    client.close()


def test_partition_key_collections_place_rows_by_the_key(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("tenant", DataType.VARCHAR, max_length=16, is_partition_key=True)
    schema.add_field("year", DataType.INT32, is_clustering_key=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    client.create_collection("docs", schema=schema, num_partitions=16)
    fields = {f["name"]: f for f in client.describe_collection("docs")["fields"]}
    assert fields["tenant"].get("is_partition_key") and fields["year"].get("is_clustering_key")
    client.insert("docs", [{"id": i, "tenant": f"t{i % 3}", "year": 2000 + i, "v": [1.0, i / 10]} for i in range(3000)])
    client.flush("docs")
    assert [r["id"] for r in client.query("docs", filter="tenant == 't1' and year < 2010")] == [1, 4, 7]
    for refused in (
        lambda: client.create_partition("docs", "p"),
        lambda: client.insert("docs", [{"id": 9000, "tenant": "t0", "year": 1, "v": [1.0, 0.0]}], partition_name="_default"),
        lambda: client.query("docs", filter="", partition_names=["_default"]),
    ):
        with pytest.raises(InvalidArgumentError, match="partition key 'tenant'"):
            refused()
    bad = MilvusClient.create_schema()
    bad.add_field("id", DataType.INT64, is_primary=True, is_partition_key=True)
    bad.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    with pytest.raises(SchemaError, match="partition key"):
        client.create_collection("bad", schema=bad)
    client.close()


def test_database_properties_persist_in_the_data_directory(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "db"))
    client.create_database("reports", properties={"owner": "ana"})
    client.alter_database_properties("default", {"note": "main"})
    client.close()
    reopened = MilvusClient(str(tmp_path / "db"))
    assert reopened.describe_database("reports") == {"name": "reports", "owner": "ana"}
    assert reopened.describe_database() == {"name": "default", "note": "main"}
    reopened.drop_database_properties("default", ["note"])
    assert reopened.describe_database("default") == {"name": "default"}
    with pytest.raises(DatabaseNotFoundError):
        reopened.alter_database_properties("missing", {"a": 1})
    reopened.close()


def test_index_type_members_name_index_types(tmp_path: Path) -> None:
    from embedb.milvus import IndexType

    client = MilvusClient(str(tmp_path / "db"))
    client.create_collection("docs", dimension=4)
    client.release_collection("docs")
    client.drop_index("docs", "vector")
    params = client.prepare_index_params()
    params.add_index("vector", index_type=IndexType.IVFLAT, metric_type="COSINE", params={"nlist": 8})
    client.create_index("docs", params)
    assert client.describe_index("docs", "vector")["index_type"] in ("IVF_FLAT",)
    assert str(IndexType.HNSW) == "HNSW" and int(IndexType.HNSW) == 11
    client.close()


def test_two_clients_of_one_directory_see_each_others_database_properties(tmp_path: Path) -> None:
    first, second = MilvusClient(str(tmp_path / "db")), MilvusClient(str(tmp_path / "db"))
    first.create_database("d1")
    first.alter_database_properties("d1", {"a": 1})
    second.alter_database_properties("d1", {"b": 2})
    assert first.describe_database("d1") == {"name": "d1", "a": 1, "b": 2}
    with pytest.raises(InvalidArgumentError, match="property_keys"):
        first.drop_database_properties("d1", "a")  # type: ignore[arg-type]  # a name, not a list of names
    first.close()
    second.close()
