"""The lifecycle races over HTTP: several client processes against one real server (issue 18).

A server on loopback serves ``docs`` (its vector field indexed); four client
processes (``tests.support.lifecycle_client``) run at once for a few seconds: one
promotes and rolls back; one starts experiments and stops or promotes them; one
adds and drops a third model version and tries to drop the second; one inserts,
searches and reads rows. Each checks every answer (one model version per answer,
ranked by the version it returns, vectors of that version's dimension, the serving
version never retired) and prints what broke as JSON lines. The test asserts
nothing broke, every role did its work, and then, through one client, every
lifecycle invariant holds and every written row is there. (Before issue 18's lock
fixes the server deadlocked here: a promotion waited for the store's lock inside
its catalog transaction, or for the experiment service's.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.bound_collections import bound_schema
from tests.support.lifecycle_client import SEED_ROWS, V3
from tests.support.lifecycle_invariants import lifecycle_violations
from tests.support.server_process import REPOSITORY, TEST_EMBEDDERS, ServerProcess, start_server

import embedb

RUN_S = 10.0
ROLES = ("switch", "experiments", "versions", "readwrite")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server (auth on) on ``docs``: v1 serving, v2 READY, v3 registered, the field indexed."""
    data = tmp_path / "data"
    with embedb.connect(data) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_8")
        db.register_model("toy", "embedb.models.testing:hashing_embedder_32")
        db.create_collection(
            "docs",
            schema=bound_schema("toy", max_length=100),
        )
        db.insert("docs", [{"id": i, "text": f"seed {i} apples {i % 7}"} for i in range(SEED_ROWS)])
        db.create_index("docs", field_name="embedding", index_type="FLAT")
        db.add_embedding_version("docs", "embedding", "models:/toy/2", wait=True, timeout=60)
    running = start_server(data, allow_code_models=TEST_EMBEDDERS)
    yield running
    try:
        running.stop(timeout_s=15)
    except subprocess.TimeoutExpired:
        running.kill()  # a deadlocked server never finishes shutting down
        raise


def run_clients(server: ServerProcess) -> dict[str, dict[str, Any]]:
    """Run one client process per role at once; return each role's summary, failing on any reported failure."""
    assert server.token is not None
    command = [sys.executable, "-m", "tests.support.lifecycle_client", server.url, server.token]
    clients = {
        role: subprocess.Popen(
            [*command, role, str(RUN_S)], cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for role in ROLES
    }
    outputs = {role: client.communicate(timeout=RUN_S + 120) for role, client in clients.items()}
    summaries, failures = {}, []
    for role, (out, err) in outputs.items():
        assert clients[role].returncode == 0, f"{role} client exited {clients[role].returncode}: {err.decode()[-3000:]}"
        for line in out.decode().splitlines():
            record = json.loads(line)
            if "failure" in record:
                failures.append(f"{role}: {record['failure']}")
            else:
                summaries[role] = record
    assert failures == [], failures[:10]
    return summaries


def test_client_processes_racing_the_lifecycle_over_http_keep_every_invariant(server: ServerProcess) -> None:
    summaries = run_clients(server)
    assert summaries["switch"]["steps"] >= 10 and summaries["experiments"]["steps"] >= 10, summaries
    assert summaries["versions"]["steps"] >= 6, summaries  # v3 added and dropped twice, v2 dropped (or refused) twice
    assert summaries["readwrite"]["written"] >= 50, summaries

    with embedb.connect(server.url, token=server.token) as db:
        assert lifecycle_violations(db, "docs", dropped={V3}) == []
        written = sum(summary["written"] for summary in summaries.values())
        assert db.query("docs", "", output_fields=["count(*)"])[0]["count(*)"] == SEED_ROWS + written
        versions = db.describe_collection("docs")["embedding_versions"]["embedding"]
        assert {v["model_version"]: v["state"] for v in versions}.keys() == {"models:/toy/1", "models:/toy/2", V3}
