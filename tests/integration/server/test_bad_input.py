"""Bad requests get a 4xx with the typed error's wire name, never a 500, and never write anything."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import numpy as np
import pyarrow as pa
import pytest
from tests.integration.server.conftest import MAX_BODY_MB

from embedb.backends.http import HttpBackend
from embedb.errors import DataError, PayloadTooLargeError
from embedb.protocol import wire


@pytest.fixture
def collection(admin: HttpBackend) -> Iterator[str]:
    name = f"bad_{uuid.uuid4().hex[:10]}"
    admin.create_collection(name, dimension=4)
    admin.insert(name, [{"id": 1, "vector": [1.0, 2.0, 3.0, 4.0]}])
    yield name
    admin.drop_collection(name)


def rows_in(admin: HttpBackend, collection: str) -> int:
    return int(admin.query(collection, "", output_fields=["count(*)"])[0]["count(*)"])


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["wire_name"], error["message"]


@pytest.mark.parametrize(
    ("body", "wire_name", "mentions"),
    [
        (b'{"collection_name": "x", "data": [', "invalid_argument", "not valid JSON"),
        (b"[1, 2]", "invalid_argument", "body"),
        (b"", "invalid_argument", "JSON object body"),
        (b'"just a string"', "invalid_argument", "body"),
        (b'{"collection_name": 5, "data": []}', "invalid_argument", "collection_name"),
        (b'{"collection_name": "{c}", "data": [], "colour": "red"}', "invalid_argument", "unknown field 'colour'"),
        (b'{"collection_name": "{c}"}', "invalid_argument", "data"),
        (b'{"collection_name": "{c}", "data": [{"id": 2, "vector": [1, 2]}]}', "dimension_mismatch", "dimension 4"),
        (b'{"collection_name": "{c}", "data": [{"id": 2, "vector": [1, 2, 3, NaN]}]}', "data_error", "NaN"),
        (b'{"collection_name": "{c}", "data": [{"id": 1, "vector": [1, 2, 3, 4]}]}', "duplicate_key", "already exist"),
        (
            b'{"collection_name": "{c}", "data": {"dtype": "float32", "shape": [1], "b64": "@@"}}',
            "data_error",
            "base64",
        ),
        (
            b'{"collection_name": "{c}_missing", "data": [{"id": 3, "vector": [1, 2, 3, 4]}]}',
            "collection_not_found",
            "does not exist",
        ),
    ],
)
def test_bad_insert_bodies(
    raw: httpx.Client, admin: HttpBackend, collection: str, body: bytes, wire_name: str, mentions: str
) -> None:
    response = raw.post(
        "/v1/entities/insert",
        content=body.replace(b"{c}", collection.encode()),
        headers={"Content-Type": "application/json"},
    )
    status, name, message = error_of(response)
    assert 400 <= status < 500 and name == wire_name and mentions in message, message
    assert rows_in(admin, collection) == 1


@pytest.mark.parametrize(
    ("path", "body", "wire_name", "mentions"),
    [
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "limit": "10"}, "invalid_argument", "limit"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "limit": True}, "invalid_argument", "limit"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "limit": 10**30}, "invalid_argument", "limit"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "filter": "id >"}, "filter_syntax_error", "position"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "filter": 'id == "x"'}, "filter_error", "id"),
        ("/v1/entities/search", {"data": [[1, 2]]}, "dimension_mismatch", "dimension 4"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "offset": 2**70}, "invalid_argument", "64-bit"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "search_params": {"ef": 2**70}}, "invalid_argument", "ef"),
        ("/v1/entities/search", {"data": [[1, 2, 3, 4]], "output_fields": "id"}, "invalid_argument", "output_fields"),
        ("/v1/entities/query", {"filter": "id in [1, 2", "limit": 5}, "filter_syntax_error", "position"),
        ("/v1/entities/get", {"ids": [10**30]}, "data_error", "id"),
        ("/v1/entities/get", {"ids": [{"a": 1}]}, "data_error", "id"),
        ("/v1/entities/delete", {"filter": "nonsense ==="}, "filter_syntax_error", "position"),
        ("/v1/entities/delete", {}, "invalid_argument", "ids or a non-empty filter"),
    ],
)
def test_bad_read_and_delete_bodies(
    raw: httpx.Client,
    admin: HttpBackend,
    collection: str,
    path: str,
    body: dict[str, object],
    wire_name: str,
    mentions: str,
) -> None:
    response = raw.post(path, json={"collection_name": collection, **body})
    status, name, message = error_of(response)
    assert 400 <= status < 500 and name == wire_name and mentions in message, message
    assert rows_in(admin, collection) == 1


def test_wrong_content_type_and_method(raw: httpx.Client, collection: str) -> None:
    text = raw.post(
        "/v1/collections/describe",
        content=json.dumps({"collection_name": collection}),
        headers={"Content-Type": "text/plain"},
    )
    assert error_of(text)[:2] == (400, "invalid_argument")
    assert error_of(raw.get("/v1/collections/describe"))[:2] == (405, "invalid_argument")
    assert error_of(raw.post("/v1/collections/nothing", json={}))[:2] == (404, "not_found")
    arrow_as_json = raw.post("/v1/entities/insert_arrow", params={"collection_name": collection}, json={"id": 1})
    assert error_of(arrow_as_json)[:2] == (400, "invalid_argument")
    garbage = raw.post(
        "/v1/entities/insert_arrow",
        params={"collection_name": collection},
        content=b"not arrow",
        headers={"Content-Type": wire.ARROW_STREAM},
    )
    assert error_of(garbage)[:2] == (400, "data_error")
    no_name = raw.post("/v1/entities/insert_arrow", content=b"x", headers={"Content-Type": wire.ARROW_STREAM})
    assert error_of(no_name)[:2] == (400, "invalid_argument")


def test_bodies_over_the_limit_are_refused_before_parsing(
    raw: httpx.Client, admin: HttpBackend, collection: str
) -> None:
    limit = MAX_BODY_MB * 1024 * 1024
    declared = raw.post(
        "/v1/entities/insert", content=b"{" + b" " * limit + b"}", headers={"Content-Type": "application/json"}
    )
    assert error_of(declared)[:2] == (413, "payload_too_large")

    def stream() -> Iterator[bytes]:
        yield b'{"collection_name": "' + collection.encode() + b'", "data": ['
        for _ in range(limit // 1000 + 10):
            yield b'{"id": 5, "vector": [1, 2, 3, 4]}, ' * 30

    streamed = raw.post("/v1/entities/insert", content=stream(), headers={"Content-Type": "application/json"})
    assert error_of(streamed)[:2] == (413, "payload_too_large")
    vectors = np.ones((limit // 16 + 10, 4), dtype=np.float32)
    with pytest.raises(PayloadTooLargeError):
        admin.insert(collection, {"id": np.arange(10, 10 + len(vectors)), "vector": vectors})
    assert rows_in(admin, collection) == 1
    # below the limit, the same data in slices goes through
    admin.insert(collection, {"id": np.arange(10, 5010), "vector": vectors[:5000]})
    assert rows_in(admin, collection) == 5001


def test_arrow_and_packed_inserts(admin: HttpBackend, collection: str) -> None:
    vectors = np.random.default_rng(5).random((3, 4), dtype=np.float32) + 0.1
    table = pa.table({"id": pa.array([20, 21, 22], pa.int64()), "vector": vectors.tolist(), "tag": ["a", "b", "c"]})
    assert admin.insert(collection, table) == {"insert_count": 3, "ids": [20, 21, 22]}
    assert admin.upsert(collection, table.slice(0, 1)) == {"upsert_count": 1}
    got = admin.get(collection, [21], output_fields=["tag", "vector"])
    assert got == [{"id": 21, "tag": "b", "vector": vectors[1].tolist()}]
    with pytest.raises(DataError):
        admin.insert(collection, pa.table({"id": pa.array([30], pa.int64()), "vector": [[1.0, 2.0]]}))


def test_hostile_packed_shapes_are_data_errors(raw: httpx.Client, collection: str) -> None:
    for packed in (
        {"dtype": "float32", "shape": [2**40, 2**40], "b64": ""},
        {"dtype": "object", "shape": [1], "b64": "AAAA"},
        {"dtype": "float32", "shape": [1, 4], "b64": "AAAA"},
        {"dtype": "float32", "shape": [0, 2**62], "b64": ""},
        {"dtype": "int64", "shape": [2**62, 0], "b64": ""},
    ):
        response = raw.post("/v1/entities/search", json={"collection_name": collection, "data": packed})
        assert error_of(response)[:2] == (400, "data_error")
        insert = {"collection_name": collection, "data": {"id": [], "vector": packed}}
        assert error_of(raw.post("/v1/entities/insert", json=insert))[:2] == (400, "data_error")


def test_empty_packed_arrays_are_typed_errors(raw: httpx.Client, collection: str) -> None:
    for shape in ([0, 4], [0, 2**31 - 1], [2**31 - 1, 0], [0]):
        packed = {"dtype": "float32", "shape": shape, "b64": ""}
        response = raw.post("/v1/entities/search", json={"collection_name": collection, "data": packed})
        assert response.status_code < 500, response.text


@pytest.mark.parametrize("depth", [600, 10_000, 200_000])
def test_bodies_nested_past_the_limit_are_refused_before_parsing(
    raw: httpx.Client, admin: HttpBackend, collection: str, depth: int
) -> None:
    nested = b"[" * depth + b"1" + b"]" * depth
    for path, body in (
        ("/v1/entities/insert", b'{"collection_name": "' + collection.encode() + b'", "data": ' + nested + b"}"),
        ("/v1/entities/search", b'{"collection_name": "' + collection.encode() + b'", "data": ' + nested + b"}"),
        ("/v1/entities/query", b'{"collection_name": "' + collection.encode() + b'", "filter_params": {"x": ' + nested + b"}}"),
    ):
        response = raw.post(path, content=body, headers={"Content-Type": "application/json"})
        status, name, message = error_of(response)
        assert (status, name) == (400, "invalid_argument") and str(wire.MAX_JSON_DEPTH) in message, message
    assert rows_in(admin, collection) == 1


def test_bodies_nested_up_to_the_limit_get_a_typed_answer(raw: httpx.Client, collection: str) -> None:
    inner = wire.MAX_JSON_DEPTH - 3  # body, data, row, then the value
    value = json.loads("[" * inner + "1" + "]" * inner)
    for body in (
        {"collection_name": collection, "data": [{"id": 7, "vector": [1, 2, 3, 4], "deep": value}]},
        {"collection_name": collection, "data": [{"id": 8, "vector": [1, 2, 3, 4], "text": "[" * 5_000}]},
    ):
        response = raw.post("/v1/entities/insert", json=body)
        assert response.status_code < 500 and (response.status_code == 200 or error_of(response)[1] == "data_error")


@pytest.mark.parametrize(
    ("path", "body", "wire_name"),
    [
        ("/v1/collections/describe", b'{"collection_name": "\\ud800"}', "invalid_name"),
        ("/v1/collections/create", b'{"collection_name": "x\\udfff", "dimension": 4}', "invalid_name"),
        ("/v1/entities/insert", b'{"collection_name": "{c}", "data": [{"id": 9, "vector": [1, 2, 3, 4], "s": "\\ud800"}]}', "data_error"),
        ("/v1/entities/query", b'{"collection_name": "{c}", "filter": "tag == \\"\\ud800\\" or"}', "filter_syntax_error"),
        ("/v1/entities/query", b'{"collection_name": "{c}", "filter": "id > 0", "output_fields": ["\\udc00"]}', "invalid_argument"),
        ("/v1/entities/get", b'{"collection_name": "{c}", "ids": ["\\ud800"]}', "data_error"),
    ],
)
def test_lone_surrogates_are_refused_and_the_error_is_valid_json(
    raw: httpx.Client, admin: HttpBackend, collection: str, path: str, body: bytes, wire_name: str
) -> None:
    response = raw.post(path, content=body.replace(b"{c}", collection.encode()), headers={"Content-Type": "application/json"})
    response.content.decode("utf-8")  # the error quotes the input, escaped: the body is still UTF-8
    status, name, message = error_of(response)
    assert (status, name) == (400, wire_name), message
    assert rows_in(admin, collection) == 1
    assert raw.post("/v1/entities/query", json={"collection_name": collection, "filter": "id >= 0"}).status_code == 200
