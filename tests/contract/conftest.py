"""The ``db`` fixture: every contract test runs embedded and over HTTP against a real server process.

Both backends live for the whole session (one data directory each, one
``embedb serve`` subprocess); each test gets a fresh collection name, so tests
never see each other's data. Every result of every operation either backend
returns is checked against the type the contract declares for it
(``embedb.contract.check_result``), so a result field that drifts on one side
fails whichever test called it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.server_process import TEST_EMBEDDERS, ServerProcess, start_server

from embedb.backends.http import HttpBackend
from embedb.backends.local import LocalBackend
from embedb.client import Client
from embedb.contract import check_result

BACKENDS = ["embedded", "http"]
# The name of the admin token ``start_server`` issues: over HTTP, the actor of every alias move.
SERVER_ACTOR = "test-admin"


class CheckedLocalBackend(LocalBackend):
    """The embedded backend, checking every result against the contract's declared type."""

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        result = super()._dispatch(name, arguments)
        check_result(name, result)
        return result


class CheckedHttpBackend(HttpBackend):
    """The HTTP backend, checking every result against the contract's declared type."""

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        result = super()._dispatch(name, arguments)
        check_result(name, result)
        return result


@pytest.fixture(scope="session")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("contract-http") / "data", allow_code_models=TEST_EMBEDDERS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    backend = CheckedLocalBackend(tmp_path_factory.mktemp("contract-embedded") / "data")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def http_db(contract_server: ServerProcess) -> Iterator[Client]:
    backend = CheckedHttpBackend(contract_server.url, token=contract_server.token)
    yield backend
    backend.close()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Client:
    """The backend under test: embedded, then HTTP."""
    backend: Client = request.getfixturevalue(f"{request.param}_db")
    return backend


@pytest.fixture
def recorded_actor(db: Client) -> Callable[[str | None], str | None]:
    """The actor history records for a move that claims an actor: embedded the claim, over HTTP the token's name."""
    return lambda claimed: SERVER_ACTOR if isinstance(db, HttpBackend) else claimed


@pytest.fixture
def name() -> str:
    """A collection name no other test uses."""
    return f"c_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def other_name() -> str:
    return f"c_{uuid.uuid4().hex[:12]}"
