"""``kill -9`` an ``embedb serve --milvus-port`` process while unmodified pymilvus clients write; nothing acknowledged is lost.

Writers insert and upsert over gRPC into a collection with a nullable float
vector and a binary vector (the two value paths with their own encoding: NaN
rows for nulls, unpacked bits); after the kill and a restart every acknowledged
row reads back with exactly the values sent, and the directory check is clean.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException
from tests.support.server_process import ServerProcess, free_port, start_server

from embedb.storage.check import check_directory

WRITERS = 3
BATCH = 10


def _row(key: int) -> dict[str, Any]:
    rng = np.random.default_rng(key)
    vector = None if key % 5 == 0 else rng.random(4, dtype=np.float32).tolist()
    return {"id": key, "v": vector, "bits": np.packbits(rng.random(16) < 0.5).tobytes()}


def _serve(data: Path) -> tuple[ServerProcess, str]:
    port = free_port()
    return start_server(data, extra_args=["--milvus-port", str(port)]), f"http://127.0.0.1:{port}"


def _write(uri: str, token: str, start: int, acknowledged: list[int], stop: threading.Event) -> None:
    client = MilvusClient(uri=uri, token=token, timeout=10)
    key = start
    try:
        while not stop.is_set():
            rows = [_row(k) for k in range(key, key + BATCH)]
            try:
                (client.upsert if (key // BATCH) % 2 else client.insert)("crash", rows)
            except MilvusException:
                return  # the server went away: this batch was not acknowledged
            acknowledged.extend(range(key, key + BATCH))
            key += BATCH
    finally:
        client.close()


def test_kill_9_during_grpc_writes_loses_no_acknowledged_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server, uri = _serve(data)
    client = MilvusClient(uri=uri, token=server.token or "")
    schema = MilvusClient.create_schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=4, nullable=True)
    schema.add_field("bits", DataType.BINARY_VECTOR, dim=16)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    index.add_index("bits", index_type="BIN_FLAT", metric_type="HAMMING")
    client.create_collection("crash", schema=schema, index_params=index)
    client.close()
    acknowledged: list[int] = []
    stop = threading.Event()
    writers = [
        threading.Thread(target=_write, args=(uri, server.token or "", n * 1_000_000, acknowledged, stop))
        for n in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill()
    stop.set()
    for writer in writers:
        writer.join(timeout=30)
    assert len(acknowledged) >= 300, "the writers did not get going"

    restarted, uri = _serve(data)
    try:
        reader = MilvusClient(uri=uri, token=restarted.token or "")
        keys = sorted(acknowledged)
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            for row in reader.get("crash", ids=keys[start : start + 500], output_fields=["v", "bits"]):
                found[row["id"]] = row
        assert not set(keys) - set(found), "acknowledged rows are missing after kill -9"
        for key in keys:
            sent, stored = _row(key), found[key]
            assert (stored["v"] is None) == (sent["v"] is None)
            if sent["v"] is not None:
                assert np.allclose(stored["v"], sent["v"])
            bits = stored["bits"]
            assert (
                bytes(bits[0] if isinstance(bits, list) else bits) == sent["bits"]
            )  # pymilvus wraps a row's bytes in a list
        reader.close()
    finally:
        restarted.stop()
    assert check_directory(data).ok
