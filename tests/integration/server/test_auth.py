"""The auth matrix: every role, global and per collection, on every endpoint of the operation table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest
from tests.support.server_process import ServerProcess

from embedb.backends.http import HttpBackend
from embedb.errors import PermissionDeniedError, UnauthenticatedError
from embedb.protocol import OPERATIONS, Body, Operation, Role, wire
from embedb.server.auth import TokenStore

# {c}: an existing collection; {s}: a name in the same scope that is never created, so that
# destructive operations which are allowed fail with 404 instead of changing the fixtures.
SAMPLES: dict[str, dict[str, Any]] = {
    "create_collection": {"collection_name": "{s}", "dimension": 0},
    "list_collections": {},
    "has_collection": {"collection_name": "{c}"},
    "describe_collection": {"collection_name": "{c}"},
    "drop_collection": {"collection_name": "{s}"},
    "rename_collection": {"old_name": "{s}", "new_name": "{s}_renamed"},
    "get_collection_stats": {"collection_name": "{c}"},
    "flush": {"collection_name": "{c}"},
    "compact": {"collection_name": "{c}"},
    "run_analyzer": {"texts": ["Hello, World"], "collection_name": "{c}", "field_name": "id"},
    "create_partition": {"collection_name": "{s}", "partition_name": "p"},
    "drop_partition": {"collection_name": "{c}", "partition_name": "never"},
    "has_partition": {"collection_name": "{c}", "partition_name": "p"},
    "list_partitions": {"collection_name": "{c}"},
    "alter_collection_properties": {"collection_name": "{s}", "properties": {"team": "x"}},
    "drop_collection_properties": {"collection_name": "{s}", "property_keys": ["team"]},
    "alter_collection_field": {"collection_name": "{s}", "field_name": "title", "field_params": {"max_length": 9}},
    "alter_index_properties": {"collection_name": "{s}", "index_name": "vector", "properties": {"a": 1}},
    "drop_index_properties": {"collection_name": "{s}", "index_name": "vector", "property_keys": ["a"]},
    "truncate_collection": {"collection_name": "{s}"},
    "load_collection": {"collection_name": "{c}"},
    "release_collection": {"collection_name": "{s}"},
    "get_load_state": {"collection_name": "{c}"},
    "load_partitions": {"collection_name": "{c}", "partition_names": ["_default"]},
    "release_partitions": {"collection_name": "{s}", "partition_names": ["_default"]},
    "create_alias": {"collection_name": "{s}", "alias": "{s}_alias"},
    "alter_alias": {"collection_name": "{s}", "alias": "{c}_alias"},
    "drop_alias": {"alias": "{c}_alias"},
    "list_aliases": {"collection_name": "{c}"},
    "describe_alias": {"alias": "{c}_alias"},
    "insert": {"collection_name": "{c}", "data": [{"id": 1, "vector": [1.0, 0.0]}]},
    "upsert": {"collection_name": "{c}", "data": [{"id": 1, "vector": [1.0, 0.0]}]},
    "insert_arrow": {"collection_name": "{c}"},
    "upsert_arrow": {"collection_name": "{c}"},
    "delete": {"collection_name": "{c}", "ids": [12345]},
    "get": {"collection_name": "{c}", "ids": [1]},
    "query": {"collection_name": "{c}", "filter": "id > 0"},
    "search": {"collection_name": "{c}", "data": [[1.0, 0.0]], "limit": 1},
    "hybrid_search": {"collection_name": "{c}", "reqs": [{"data": [[1.0, 0.0]], "anns_field": "vector", "limit": 2}], "limit": 1},
    "search_with": {"collection_name": "{c}", "config": "no_such_config", "data": "text"},
    "create_index": {"collection_name": "{s}", "field_name": "vector", "index_type": "FLAT"},
    "list_indexes": {"collection_name": "{c}"},
    "tune_index": {"collection_name": "{c}", "field_name": "vector", "trials": 1, "index_types": ["NOPE"]},
    "describe_index": {"collection_name": "{c}", "index_name": "vector"},
    "drop_index": {"collection_name": "{c}", "index_name": "never"},
    "start_experiment": {
        "collection_name": "{s}",
        "field_name": "vector",
        "champion": "m@a",
        "challenger": "m@b",
        "mode": "split",
    },
    "get_experiment": {"experiment_id": 999999},
    "list_experiments": {"collection_name": "{c}"},
    "experiment_report": {"experiment_id": 999999},
    "experiment_trajectory": {"experiment_id": 999999},
    "stop_experiment": {"experiment_id": 999999},
    "promote_experiment": {"experiment_id": 999999},
    "feedback": {"collection_name": "{c}", "query_id": "never", "doc_id": 1},
    "evaluate": {
        "collection_name": "{c}",
        "field_name": "vector",
        "queries": {"q": "x"},
        "qrels": {"q": {"1": 1.0}},
        "versions": ["m/1"],
    },
    "evaluate_search": {
        "collection_name": "{c}",
        "queries": {"q": "x"},
        "qrels": {"q": {"1": 1.0}},
        "configs": {"dense": {"anns_field": "vector"}},
    },
    "set_policy": {"collection_name": "{s}", "field_name": "vector", "policy": {"mode": "off"}},
    "get_policy": {"collection_name": "{c}", "field_name": "vector"},
    "run_policy": {"collection_name": "{s}", "field_name": "vector"},
    "select_model": {"collection_name": "{c}", "field_name": "vector", "queries": {}, "qrels": {}},
    "fine_tune": {"collection_name": "{c}", "field_name": "vector", "pairs": []},
    "monitor": {"collection_name": "{c}", "field_name": "vector"},
    "decay": {"collection_name": "{c}", "field_name": "vector"},
    "drift": {
        "collection_name": "{c}",
        "field_name": "vector",
        "reference": {"filter": "id >= 0"},
        "current": {"filter": "id < 0"},
    },
    "add_embedding_version": {"collection_name": "{c}", "field_name": "vector", "model": "never_registered/1"},
    "drop_embedding_version": {"collection_name": "{c}", "field_name": "vector", "model": "never_registered/1"},
    "promote": {"collection_name": "{c}", "field_name": "vector", "model": "never_registered/1"},
    "rollback": {"collection_name": "{c}", "field_name": "vector"},
    "serving_history": {"collection_name": "{c}"},
    "list_jobs": {"collection_name": "{c}"},
    "get_job": {"job_id": 999999},
    "wait_job": {"job_id": 999999, "timeout": 0},
    "pause_job": {"job_id": 999999},
    "resume_job": {"job_id": 999999},
    "cancel_job": {"job_id": 999999},
    "register_model": {"name": "{s}", "source": "embedb.models.testing:hash_embed_8", "flavor": "no_such_flavor"},
    "list_models": {},
    "describe_model": {"name": "never_registered"},
    "list_model_versions": {"name": "never_registered"},
    "describe_model_version": {"model": "never_registered/1"},
    "set_model_alias": {"name": "never_registered", "alias": "champion", "version": 1},
    "delete_model_alias": {"name": "never_registered", "alias": "champion"},
    "model_alias_history": {"name": "never_registered"},
    "set_model_tag": {"name": "never_registered", "key": "k", "value": "v"},
    "delete_model_version": {"name": "never_registered", "version": 1},
}
PRINCIPALS = ["anonymous", "bad_token", "reader", "writer", "admin", "scoped_writer", "scoped_admin"]
SCOPED_PRINCIPALS = {"scoped_writer": Role.WRITER, "scoped_admin": Role.ADMIN}


def _fill(value: Any, collection: str) -> Any:
    if isinstance(value, str):
        return value.replace("{c}", collection).replace("{s}", f"{collection}_scratch")
    if isinstance(value, dict):
        return {k: _fill(v, collection) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, collection) for v in value]
    return value


def _request(client: httpx.Client, operation: Operation, collection: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    assert operation.operation_id in SAMPLES, f"add a sample request for {operation.operation_id} to the auth matrix"
    body = _fill(SAMPLES[operation.operation_id], collection)
    if operation.body is Body.ARROW:
        stream = wire.write_arrow_stream(pa.table({"id": pa.array([77], pa.int64()), "vector": [[0.0, 1.0]]}))
        headers["Content-Type"] = wire.ARROW_STREAM
        return client.post(operation.path, params=body, content=stream, headers=headers)
    return client.post(operation.path, json=body, headers=headers)


def _expected_allowed(principal: str, operation: Operation, target: str) -> bool:
    role = SCOPED_PRINCIPALS.get(principal) or Role.parse(principal)
    if role < operation.role:
        return False
    if principal not in SCOPED_PRINCIPALS:
        return True
    if operation.listing:
        return True
    return bool(operation.scope_args) and target == "mine"


@pytest.fixture
def fixtures(admin: HttpBackend) -> None:
    """Collections ``mine`` and ``theirs``, each with an alias (re-made when an allowed drop removed it)."""
    for collection in ("mine", "theirs"):
        if not admin.has_collection(collection):
            admin.create_collection(collection, dimension=2)
        if not admin.list_aliases(collection)["aliases"]:
            admin.create_alias(collection, f"{collection}_alias")


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as plain:
        yield plain


@pytest.mark.parametrize("target", ["mine", "theirs"])
@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.operation_id for op in OPERATIONS])
def test_auth_matrix(
    operation: Operation, principal: str, target: str, fixtures: None, client: httpx.Client, tokens: dict[str, str]
) -> None:
    token = {"anonymous": None, "bad_token": "edb_0000_nope"}.get(principal, tokens.get(principal))
    response = _request(client, operation, target, token)
    body = response.json()
    if principal in ("anonymous", "bad_token"):
        assert response.status_code == 401 and body["error"]["wire_name"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    elif _expected_allowed(principal, operation, target):
        assert response.status_code not in (401, 403), body
        assert response.status_code < 500, body
    else:
        assert response.status_code == 403, body
        assert body["error"]["wire_name"] == "permission_denied"


def test_scoped_tokens_see_only_their_collections(
    server: ServerProcess, tokens: dict[str, str], fixtures: None
) -> None:
    scoped = HttpBackend(server.url, token=tokens["scoped_writer"])
    try:
        assert scoped.list_collections() == ["mine"]
        with pytest.raises(PermissionDeniedError):
            scoped.list_aliases()  # every alias of every collection: needs a global token
        assert (
            scoped.describe_collection("mine_alias")["collection_name"] == "mine"
        )  # an alias counts as its collection
        with pytest.raises(PermissionDeniedError):
            scoped.describe_collection("theirs_alias")
    finally:
        scoped.close()


def test_health_readiness_metrics_and_openapi_need_the_right_tokens(
    client: httpx.Client, tokens: dict[str, str]
) -> None:
    def get(path: str, label: str | None) -> int:
        headers = {"Authorization": f"Bearer {tokens[label]}"} if label else {}
        return client.get(path, headers=headers).status_code

    assert get("/healthz", None) == 200
    assert [get("/readyz", None), get("/readyz", "scoped_writer")] == [401, 200]
    assert [get("/openapi.json", None), get("/openapi.json", "reader")] == [401, 200]
    assert [get("/metrics", None), get("/metrics", "scoped_admin"), get("/metrics", "reader")] == [401, 403, 200]
    assert get("/v1/no/such/route", None) == 401  # nothing about routes leaks without a token


def test_malformed_authorization_headers(client: httpx.Client) -> None:
    for header in ("Basic abc", "Bearer", "Bearer edb_", "Bearer edb_x", "Bearer edbx_1_2", "token"):
        response = client.post("/v1/collections/list", json={}, headers={"Authorization": header})
        assert response.status_code == 401 and response.json()["error"]["wire_name"] == "unauthenticated"


def test_a_revoked_token_is_refused_within_seconds(server: ServerProcess) -> None:
    store = TokenStore.open(server.data_path)
    try:
        token, info = store.create(role="reader", name="short-lived")
        backend = HttpBackend(server.url, token=token)
        assert isinstance(backend.list_collections(), list)
        store.revoke(info.token_id)
    finally:
        store.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            backend.list_collections()
        except UnauthenticatedError:
            break
        assert time.monotonic() < deadline, "a revoked token still works after 10 s"
        time.sleep(0.2)
    backend.close()


def test_tokens_are_stored_hashed(server: ServerProcess, tokens: dict[str, str]) -> None:
    catalog_bytes = (server.data_path / "catalog.sqlite").read_bytes()
    wal = server.data_path / "catalog.sqlite-wal"
    stored = catalog_bytes + (wal.read_bytes() if wal.exists() else b"")
    for token in tokens.values():
        secret = token.split("_", 2)[2]
        assert secret.encode() not in stored
