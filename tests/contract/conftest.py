"""The ``db`` fixture: every contract test runs embedded and over HTTP against a real server process.

Both backends live for the whole session (one data directory each, one
``embedb serve`` subprocess); each test gets a fresh collection name, so tests
never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.support.server_process import ServerProcess, start_server

from embedb.backends import Backend
from embedb.backends.http import HttpBackend
from embedb.backends.local import LocalBackend

BACKENDS = ["embedded", "http"]


@pytest.fixture(scope="session")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("contract-http") / "data")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    backend = LocalBackend(tmp_path_factory.mktemp("contract-embedded") / "data")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def http_db(contract_server: ServerProcess) -> Iterator[Backend]:
    backend = HttpBackend(contract_server.url, token=contract_server.token)
    yield backend
    backend.close()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Backend:
    """The backend under test: embedded, then HTTP."""
    backend: Backend = request.getfixturevalue(f"{request.param}_db")
    return backend


@pytest.fixture
def name() -> str:
    """A collection name no other test uses."""
    return f"c_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def other_name() -> str:
    return f"c_{uuid.uuid4().hex[:12]}"
