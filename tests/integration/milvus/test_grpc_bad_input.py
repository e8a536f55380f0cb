"""Hand-built Milvus messages no client would send: each gets a specific status naming the problem, and writes nothing.

Found by an adversarial pass over the gRPC service; each case here failed before its fix
(an internal error with a traceback, a stored row that broke later reads, or a leak).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from pymilvus import MilvusClient
from pymilvus.grpc_gen import common_pb2, milvus_pb2, milvus_pb2_grpc, schema_pb2

from .conftest import MilvusServer

INVALID = 1100


@pytest.fixture(scope="module")
def stub(milvus_server: MilvusServer) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    channel = grpc.insecure_channel(milvus_server.uri.removeprefix("http://"))
    token = base64.b64encode(milvus_server.tokens["admin"].encode()).decode()
    yield milvus_pb2_grpc.MilvusServiceStub(channel), [("authorization", token)]
    channel.close()


@pytest.fixture
def collection(milvus_server: MilvusServer) -> Iterator[str]:
    name = f"bad_{uuid.uuid4().hex[:8]}"
    client = milvus_server.client()
    schema = MilvusClient.create_schema(enable_dynamic_field=True)
    schema.add_field("id", 5, is_primary=True)
    schema.add_field("s", 21, max_length=8)
    schema.add_field("meta", 23)
    schema.add_field("v", 101, dim=2)
    client.create_collection(name, schema=schema)
    client.insert(name, [{"id": 1, "s": "ok", "meta": {"a": 1}, "v": [1.0, 0.0]}])
    yield name
    client.drop_collection(name)
    client.close()


def _insert(name: str, meta: bytes | None = None, json_value: bytes = b"{}") -> milvus_pb2.InsertRequest:
    fields = [
        schema_pb2.FieldData(type=5, field_name="id", scalars={"long_data": {"data": [3]}}),
        schema_pb2.FieldData(type=21, field_name="s", scalars={"string_data": {"data": ["ok"]}}),
        schema_pb2.FieldData(type=23, field_name="meta", scalars={"json_data": {"data": [json_value]}}),
        schema_pb2.FieldData(type=101, field_name="v", vectors={"dim": 2, "float_vector": {"data": [0.5, 0.5]}}),
    ]
    if meta is not None:
        fields.append(schema_pb2.FieldData(type=23, field_name="$meta", is_dynamic=True, scalars={"json_data": {"data": [meta]}}))
    return milvus_pb2.InsertRequest(collection_name=name, fields_data=fields, num_rows=1)


def _rows(milvus_server: MilvusServer, name: str) -> list[dict[str, Any]]:
    return list(milvus_server.client().query(name, filter="", output_fields=["*"]))


def test_bad_rows_are_refused_before_anything_is_written(stub: Any, collection: str, milvus_server: MilvusServer) -> None:
    service, metadata = stub
    cases = [
        _insert(collection, meta=b'{"id": "x", "s": "far longer than eight"}'),  # dynamic keys shadowing fields
        _insert(collection, meta=b'{"$meta": 1}'),
        _insert(collection, meta=b"xx"),
        _insert(collection, json_value=b"{not json"),
        _insert(collection, json_value=b'"\xff\xfe"'),
        _insert(collection, json_value=b"[" * 10_000 + b"]" * 10_000),
    ]
    twice = _insert(collection)
    twice.fields_data.append(schema_pb2.FieldData(type=5, field_name="id", scalars={"long_data": {"data": [4]}}))
    cases.append(twice)
    for request in cases:
        status = service.Insert(request, metadata=metadata).status
        assert status.code == INVALID, (status.code, status.reason)
    rows = _rows(milvus_server, collection)
    assert [row["id"] for row in rows] == [1] and rows[0]["s"] == "ok", "a refused insert wrote nothing"


def test_bad_queries_get_specific_statuses(stub: Any, collection: str) -> None:
    service, metadata = stub

    def search(values: list[bytes], kind: int = common_pb2.FloatVector, **extra: Any) -> common_pb2.Status:
        group = common_pb2.PlaceholderGroup(placeholders=[common_pb2.PlaceholderValue(tag="$0", type=kind, values=values)])
        params = [common_pb2.KeyValuePair(key="topk", value="3"), *extra.pop("params", [])]
        request = milvus_pb2.SearchRequest(
            collection_name=collection, placeholder_group=group.SerializeToString(), search_params=params, **{"nq": 1, **extra}
        )
        return service.Search(request, metadata=metadata).status

    assert search([b"\x00" * 7]).code == INVALID
    assert search([np.ones(2, np.float32).tobytes()], kind=999).code == INVALID
    assert search([np.ones(2, np.float32).tobytes()], nq=5).code == INVALID
    deep = [common_pb2.KeyValuePair(key="params", value="[" * 5000 + "]" * 5000)]
    assert search([np.ones(2, np.float32).tobytes()], params=deep).code == INVALID
    template = {"t": schema_pb2.TemplateValue(bytes_val=b"{{")}
    query = milvus_pb2.QueryRequest(collection_name=collection, expr="id == {t}", output_fields=["id"], expr_template_values=template)
    assert service.Query(query, metadata=metadata).status.code == INVALID
    counted = service.Query(milvus_pb2.QueryRequest(collection_name=collection, expr="", output_fields=[" COUNT(*) "]), metadata=metadata)
    assert counted.status.code == 0 and list(counted.fields_data[0].scalars.long_data.data) == [1]


@pytest.mark.parametrize(
    ("data_type", "value", "params"),
    [
        (5, {"string_data": "abc"}, {}),
        (21, {"long_data": 5}, {"max_length": "8"}),
        (2, {"int_data": 1000}, {}),
        (1, {"string_data": "yes"}, {}),
        (21, {"string_data": "abcdef"}, {"max_length": "3"}),
        (5, {"double_data": 1.5}, {}),
        (10, {"float_data": float("nan")}, {}),
        (23, {"bytes_data": b"{not json"}, {}),
        (5, {}, {"dim": "\u0664"}),
    ],
)
def test_schemas_with_impossible_defaults_are_refused(stub: Any, data_type: int, value: dict[str, Any], params: dict[str, str]) -> None:
    service, metadata = stub
    name = f"bad_{uuid.uuid4().hex[:8]}"
    field = schema_pb2.FieldSchema(
        name="f", data_type=data_type, default_value=schema_pb2.ValueField(**value) if value else None,
        type_params=[common_pb2.KeyValuePair(key=k, value=v) for k, v in params.items()],
    )
    schema = schema_pb2.CollectionSchema(
        name=name,
        fields=[
            schema_pb2.FieldSchema(name="id", data_type=5, is_primary_key=True),
            field,
            schema_pb2.FieldSchema(name="v", data_type=101, type_params=[common_pb2.KeyValuePair(key="dim", value="2")]),
        ],
    )
    request = milvus_pb2.CreateCollectionRequest(collection_name=name, schema=schema.SerializeToString())
    status = service.CreateCollection(request, metadata=metadata)
    assert status.code == INVALID, (status.code, status.reason)
    assert not service.HasCollection(milvus_pb2.HasCollectionRequest(collection_name=name), metadata=metadata).value


def test_scoped_tokens_learn_nothing_about_other_databases_or_alias_targets(milvus_server: MilvusServer) -> None:
    admin = milvus_server.client()
    secret_db = f"secret_{uuid.uuid4().hex[:6]}"
    admin.create_database(secret_db)
    hidden = f"hidden_{uuid.uuid4().hex[:6]}"
    admin.create_collection(hidden, dimension=2)
    admin.create_alias(hidden, f"{hidden}_alias")
    channel = grpc.insecure_channel(milvus_server.uri.removeprefix("http://"))
    metadata = [("authorization", base64.b64encode(milvus_server.tokens["scoped_reader"].encode()).decode())]
    service = milvus_pb2_grpc.MilvusServiceStub(channel)
    for name in (secret_db, "never_made"):
        reply = service.DescribeDatabase(milvus_pb2.DescribeDatabaseRequest(db_name=name), metadata=metadata)
        assert reply.status.code == 1401 and secret_db not in reply.status.reason
    reply = service.Query(milvus_pb2.QueryRequest(collection_name=f"{hidden}_alias", expr="", output_fields=["id"]), metadata=metadata)
    assert reply.status.code == 1401 and f"'{hidden}'" not in reply.status.reason
    channel.close()
    admin.drop_collection(hidden)
    admin.drop_database(secret_db)
    assert secret_db not in admin.list_databases()
