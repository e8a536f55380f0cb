"""One real ``embedb serve --milvus-port`` process (auth on) that the unmodified pymilvus client talks to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymilvus import MilvusClient
from tests.support.server_process import ServerProcess, free_port, issue_token, start_server


@dataclass(frozen=True)
class MilvusServer:
    """The server process, the Milvus gRPC URI and tokens by label."""

    process: ServerProcess
    uri: str
    tokens: dict[str, str]

    def client(self, label: str = "admin", **kwargs: object) -> MilvusClient:
        return MilvusClient(uri=self.uri, token=self.tokens[label], **kwargs)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    port = free_port()
    process = start_server(tmp_path_factory.mktemp("milvus") / "data", extra_args=["--milvus-port", str(port)])
    tokens = {role: issue_token(process.data_path, role) for role in ("reader", "writer")}
    tokens["admin"] = process.token or ""
    tokens["scoped_reader"] = issue_token(process.data_path, "reader", ["scoped_mine"])
    yield MilvusServer(process, f"http://127.0.0.1:{port}", tokens)
    process.stop()


@pytest.fixture
def client(milvus_server: MilvusServer) -> Iterator[MilvusClient]:
    """An admin pymilvus client."""
    connection = milvus_server.client()
    yield connection
    connection.close()
