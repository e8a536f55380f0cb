"""Dropping a collection while its backfill runs stops the backfill first (issue 18): no thread outlives the store."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from tests.integration.lifecycle.conftest import bound_schema
from tests.support.toy_embedders import Gate

import embedb
from embedb.backends.local import LocalBackend


def test_a_backfill_running_when_its_collection_is_dropped_stops_without_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate = Gate(tmp_path / "gate")
    db = embedb.connect(tmp_path / "data", durability="relaxed")
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "tests.support.toy_embedders:gated_hash_8", alias="challenger")
    schema = bound_schema("toy")
    db.create_collection("docs", schema=schema)
    db.insert("docs", [{"id": i, "text": f"row {i} {gate.word}"} for i in range(50)])
    db.flush("docs")
    job = db.add_embedding_version("docs", "embedding", "toy@challenger")
    deadline = time.monotonic() + 10
    while db.get_job(job["job_id"])["state"] != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.get_job(job["job_id"])["state"] == "RUNNING", "held inside its first chunk until the gate opens"

    caplog.set_level(logging.WARNING, logger="embedb")
    dropping = threading.Thread(target=db.drop_collection, args=("docs",))
    dropping.start()
    gate.path.touch()  # the chunk in hand finishes; the drop stopped the job before anything more is written
    dropping.join(30)
    assert not dropping.is_alive()
    assert db.list_collections() == []
    assert not [t for t in threading.enumerate() if t.name == f"embedb-backfill-{job['job_id']}"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    db.close()
