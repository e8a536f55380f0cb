"""One real ``embedb serve`` process (auth on, 1 MiB body limit) shared by the server integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.support.server_process import ServerProcess, issue_token, start_server

from embedb.backends.http import HttpBackend

MAX_BODY_MB = 1


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with auth and a 1 MiB body limit on a throwaway data directory."""
    running = start_server(tmp_path_factory.mktemp("server") / "data", extra_args=["--max-body-mb", str(MAX_BODY_MB)])
    yield running
    running.stop()


@pytest.fixture(scope="session")
def admin(server: ServerProcess) -> Iterator[HttpBackend]:
    """An ``HttpBackend`` with a global admin token."""
    backend = HttpBackend(server.url, token=server.token)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def raw(server: ServerProcess) -> Iterator[httpx.Client]:
    """A plain HTTP client with the admin token, for requests the Python client would never send."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def tokens(server: ServerProcess) -> dict[str, str]:
    """Tokens by label: one per role, and a writer limited to the collections ``mine`` and ``mine_scratch``."""
    issued = {role: issue_token(server.data_path, role) for role in ("reader", "writer", "admin")}
    issued["scoped_writer"] = issue_token(server.data_path, "writer", ["mine", "mine_scratch"])
    issued["scoped_admin"] = issue_token(server.data_path, "admin", ["mine", "mine_scratch"])
    return issued
