"""``embedb serve --cluster``: a real server process routes REST and Milvus gRPC clients to a sharded cluster on Ray."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymilvus import MilvusClient
from tests.support.s3_server import start_s3_server
from tests.support.server_process import free_port, start_server

from embedb.backends.http import HttpBackend
from embedb.errors import InvalidArgumentError


def test_rest_and_milvus_clients_share_one_cluster(tmp_path: Path) -> None:
    s3 = start_s3_server()
    milvus_port = free_port()
    server = start_server(
        tmp_path / "router",
        extra_args=[
            "--cluster", "ray", "--storage", s3.storage("serve"), "--shards", "3", "--milvus-port", str(milvus_port),
        ],
        wait_s=120,
    )  # fmt: skip
    try:
        rest = HttpBackend(server.url, token=server.token)
        rest.create_collection("docs", dimension=4, metric_type="L2")
        assert (
            rest.insert("docs", [{"id": i, "vector": [float(i), 0.0, 0.0, 0.0]} for i in range(30)])["insert_count"]
            == 30
        )
        hits = rest.search("docs", [[0.0, 0.0, 0.0, 0.0]], limit=3, offset=1)
        assert [hit["id"] for hit in hits[0]] == [1, 2, 3]
        with pytest.raises(InvalidArgumentError, match="not bound to an embedding model"):
            rest.fine_tune("docs", "vector", pairs=[["a", "b"]])  # carried out, and checked, as on one node

        milvus = MilvusClient(uri=f"http://127.0.0.1:{milvus_port}", token=server.token)
        assert milvus.list_collections() == ["docs"]
        assert milvus.query("docs", filter="id < 3", output_fields=["id"]) == [{"id": 0}, {"id": 1}, {"id": 2}]
        milvus.insert("docs", [{"id": 100, "vector": [0.5, 0.0, 0.0, 0.0]}])
        assert rest.get("docs", [100])[0]["id"] == 100
        assert [hit["id"] for hit in milvus.search("docs", [[0.0, 0.0, 0.0, 0.0]], limit=2)[0]] == [0, 100]
        rest.close()
        milvus.close()
    finally:
        server.stop()
        s3.stop()
