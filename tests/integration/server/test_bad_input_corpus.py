"""The bad-input corpus (issue 11): hostile bodies and thousands of mutated filters, over one keep-alive connection.

Every answer must be a JSON body with a status under 500, and the server must
never end the connection: after a 500 uvicorn drops it, so a second TCP
connection (seen through the client's local port) would mean a request broke.
The filters are mutations of valid ones — tokens inserted, deleted and
duplicated, deep nesting, huge and odd numbers, Unicode (lone surrogates too),
long chains — from a fixed seed, so a failure reproduces.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.support.filter_mutations import SCHEMA, VALID_FILTERS, mutate, rows
from tests.support.server_process import ServerProcess

from embedb.backends.http import HttpBackend

MUTATED_FILTERS = 3_000
SEED = 11


@dataclass
class Corpus:
    """Sends requests over one client and keeps what the test checks: statuses and local ports."""

    client: httpx.Client
    ports: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    sent: int = 0

    def post(self, path: str, body: Any = None, *, content: bytes | None = None, label: str = "") -> None:
        if content is None:
            content = json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as \ud800
        self.sent += 1
        try:
            response = self.client.post(path, content=content, headers={"Content-Type": "application/json"})
        except httpx.TransportError as error:  # the server ended the connection mid-request
            self.failures.append(f"{type(error).__name__} {path} {label or content[:300]!r}")
            self.ports.add(-1)
            return
        try:
            payload = response.json()
        except ValueError:
            payload = None
        closing = response.headers.get("connection", "").lower() == "close"
        if response.status_code >= 500 or not isinstance(payload, dict) or closing:
            self.failures.append(f"{response.status_code} {path} {label or content[:300]!r}: {response.text[:300]}")


@pytest.fixture
def corpus(server: ServerProcess) -> Iterator[Corpus]:
    """One client on one keep-alive connection; a response hook notes the local port of each response."""
    ports: set[int] = set()

    def note_port(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        address = stream.get_extra_info("client_addr") if stream is not None else None
        ports.add(int(address[1]) if address else -1)

    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=60,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        event_hooks={"response": [note_port]},
    ) as client:
        yield Corpus(client, ports)


@pytest.fixture
def collection(admin: HttpBackend) -> Iterator[str]:
    name = f"corpus_{uuid.uuid4().hex[:10]}"
    admin.create_collection(name, schema=SCHEMA)
    admin.insert(name, rows(20))
    yield name
    admin.drop_collection(name)


def named_cases(collection: str) -> list[tuple[str, Any]]:
    """The cases issue 11 names, each as (path, JSON body) or (path, raw bytes)."""
    vector = [1.0, 2.0, 3.0, 4.0]
    deep = "[" * 600 + "1" + "]" * 600
    chain = " or ".join(f"id == {key}" for key in range(10_000))
    c = collection
    return [
        ("/v1/collections/describe", {"collection_name": "\ud800"}),
        ("/v1/collections/create", {"collection_name": "docs\n", "dimension": 4}),
        ("/v1/partitions/create", {"collection_name": c, "partition_name": "p\n"}),
        ("/v1/aliases/create", {"collection_name": c, "alias": "a\udfff"}),
        ("/v1/entities/insert", {"collection_name": c, "data": [{"id": 100, "vector": vector, "title": "\ud800"}]}),
        ("/v1/entities/insert", {"collection_name": c, "data": [{"id": 100, "vector": vector, "meta": {"\udc00": 1}}]}),
        ("/v1/entities/insert", {"collection_name": c, "data": [{"id": 100, "vector": vector, "colour": ["\ud800"]}]}),
        ("/v1/entities/insert", {"collection_name": c, "data": [{"id": 100, "vector": ["1", "2", "3", "4e0"]}]}),
        ("/v1/entities/insert", {"collection_name": c, "data": {"id": [], "vector": {"dtype": "float32", "shape": [0, 2**62], "b64": ""}}}),
        ("/v1/entities/search", {"collection_name": c, "data": [["1", "2", "3", "4e0"]]}),
        ("/v1/entities/search", {"collection_name": c, "data": {"dtype": "float32", "shape": [0, 2**62], "b64": ""}}),
        ("/v1/entities/search", {"collection_name": c, "data": [vector], "filter": chain}),
        ("/v1/entities/query", {"collection_name": c, "filter": chain, "limit": 5}),
        ("/v1/entities/query", {"collection_name": c, "filter": 'title == "\ud800"'}),
        ("/v1/entities/query", {"collection_name": c, "filter": "(" * 2_000 + "id == 1" + ")" * 2_000}),
        ("/v1/entities/query", {"collection_name": c, "filter": "not " * 2_000 + "id == 1"}),
        ("/v1/entities/query", {"collection_name": c, "filter": "-" * 2_000 + "id == 1"}),
        ("/v1/entities/query", {"collection_name": c, "filter": "meta" + '["k"]' * 2_000 + " == 1"}),
        ("/v1/entities/query", {"collection_name": c, "filter": "id == " + "9" * 5_000}),
        ("/v1/entities/query", {"collection_name": c, "filter": "id == {p}", "filter_params": {"p": 2**2_000}}),
        ("/v1/entities/insert", ('{"collection_name": "' + c + '", "data": ' + deep + "}").encode()),
        ("/v1/entities/query", ('{"collection_name": "' + c + '", "filter_params": {"p": ' + deep + "}}").encode()),
        ("/v1/entities/query", b'{"collection_name": "x", "filter": "\\udfff"'),
        ("/v1/entities/query", b"\xff\xfe not json"),
        ("/v1/entities/query", b""),
    ]  # fmt: skip


def test_the_bad_input_corpus_gets_no_5xx_and_keeps_the_connection(
    corpus: Corpus, admin: HttpBackend, collection: str
) -> None:
    for path, case in named_cases(collection):
        if isinstance(case, bytes):
            corpus.post(path, content=case)
        else:
            corpus.post(path, case)
    rng = random.Random(SEED)
    params = [1, "x", [1, 2], 10**30, None, {"a": 1}, "\ud800", 1e308, True]
    for index in range(MUTATED_FILTERS):
        expression = mutate(rng, rng.choice(VALID_FILTERS))
        body: dict[str, Any] = {"collection_name": collection, "filter": expression}
        if rng.random() < 0.5:
            body["filter_params"] = {"p": rng.choice(params), "q": rng.choice(params)}
        if index % 4 == 0:
            corpus.post("/v1/entities/search", {**body, "data": [[1.0, 2.0, 3.0, 4.0]], "limit": 3}, label=expression[:300])
        elif index % 25 == 1:
            corpus.post("/v1/entities/delete", body, label=expression[:300])
        else:
            corpus.post("/v1/entities/query", {**body, "limit": 5}, label=expression[:300])
    assert corpus.failures == [], f"{len(corpus.failures)} of {corpus.sent}:\n" + "\n".join(corpus.failures[:20])
    assert len(corpus.ports) == 1, f"the server ended the connection: {len(corpus.ports)} connections for {corpus.sent} requests"
    assert admin.describe_collection(collection)["collection_name"] == collection
