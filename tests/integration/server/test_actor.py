"""Over the server, the history records who moved an alias: the calling token's name, never a claimed actor."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.support.bound_collections import FIELD, HASH_8, bound_collection, unique_model
from tests.support.server_process import TEST_EMBEDDERS, ServerProcess, start_server

from embedb.backends.http import HttpBackend
from embedb.server.auth import TokenStore


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("actor") / "data", allow_code_models=TEST_EMBEDDERS)
    yield running
    running.stop()


def client_with_token(server: ServerProcess, *, name: str) -> HttpBackend:
    store = TokenStore.open(server.data_path)
    try:
        token, _ = store.create(role="admin", name=name)
    finally:
        store.close()
    return HttpBackend(server.url, token=token)


def claims_in_log(server: ServerProcess) -> list[dict[str, object]]:
    lines = (line for line in server.log().splitlines() if line.startswith("{") and "claimed_actor" in line)
    return [json.loads(line) for line in lines]


def test_alias_moves_record_the_token_name_not_the_claimed_actor(server: ServerProcess) -> None:
    model, name = unique_model(), "docs_actor"
    with client_with_token(server, name="alice") as alice:
        bound_collection(alice, name, model)
        alice.register_model(model, HASH_8, alias="canary", actor="mallory")
        alice.set_model_alias(model, "beta", 2, actor="mallory", reason="claimed")
        alice.delete_model_alias(model, "beta", actor="mallory", reason="claimed")
        alice.promote(name, FIELD, f"{model}@challenger", reason="claimed", actor="mallory")
        alice.rollback(name, FIELD, reason="claimed", actor="mallory")

        alias_moves = alice.model_alias_history(model)
        serving = alice.serving_history(name)
    assert len(alias_moves) == 7 and len(serving) == 2
    assert {move["actor"] for move in alias_moves} == {"alice"}, alias_moves
    assert {move["actor"] for move in serving} == {"alice"}, serving
    claims = claims_in_log(server)
    assert {(c["operation"], c["actor"], c["claimed_actor"]) for c in claims} >= {
        ("set_model_alias", "alice", "mallory"),
        ("promote", "alice", "mallory"),
    }, "the claim is kept only where it says it was claimed"


def test_an_unnamed_token_is_recorded_by_its_id(server: ServerProcess) -> None:
    model = unique_model()
    with client_with_token(server, name="") as anonymous:
        anonymous.register_model(model, HASH_8, alias="champion", actor="mallory")
        (move,) = anonymous.model_alias_history(model)
    assert isinstance(move["actor"], str) and move["actor"].startswith("token:") and "mallory" not in move["actor"]
