"""A backfill killed with ``kill -9`` resumes on the next open, redoing at most one segment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

import embedb
from embedb.models.testing import hash_embed
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

REPO = Path(__file__).resolve().parents[2]
ROWS = 3000
SEGMENT_ROWS = 500


def text(i: int) -> str:
    return f"row{i} apple {i % 7} market {i % 11}"


def prepare(path: Path) -> None:
    with embedb.connect(path, background_compaction=False) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "tests.support.slow_embedders:counted_hash_8")
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("text", DataType.VARCHAR, max_length=64),
                VectorField("embedding", source="text", model="toy@champion"),
            )
        )
        db.create_collection("docs", schema=schema)
        for start in range(0, ROWS, SEGMENT_ROWS):
            db.insert("docs", [{"id": i, "text": text(i)} for i in range(start, start + SEGMENT_ROWS)])
            db.flush("docs")


def test_backfill_resumes_after_kill_9_without_redoing_finished_segments(tmp_path: Path) -> None:
    data = tmp_path / "data"
    prepare(data)
    log = tmp_path / "embedded.log"
    env = {**os.environ, "EMBEDB_EMBED_LOG": str(log), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash.backfill_child", str(data), "start"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    done_before_kill = 0
    for line in child.stdout:
        if line.startswith("segments "):
            done_before_kill = int(line.split()[1])
            if done_before_kill >= 2:
                break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert 2 <= done_before_kill < ROWS // SEGMENT_ROWS, "killed in the middle of the job"

    os.environ["EMBEDB_EMBED_LOG"] = str(log)
    try:
        with embedb.connect(data) as db:
            (job,) = db.list_jobs("docs")
            assert job["segments_done"] >= done_before_kill, "finished segments are recorded"
            job = db.wait_job(job["job_id"], timeout=120)
            assert job["state"] == "DONE"
            assert job["rows_done"] == ROWS
            versions = {
                v["model_version"]: v for v in db.describe_collection("docs")["embedding_versions"]["embedding"]
            }
            assert versions["models:/toy/2"]["rows"] == ROWS
            rows = db.query("docs", "", output_fields=["text", "embedding@toy/2", "embedding@version"])
            assert [r["id"] for r in rows] == list(range(ROWS))
            expected = hash_embed([r["text"] for r in rows], dimension=8)
            np.testing.assert_array_equal(np.array([r["embedding@toy/2"] for r in rows], dtype=np.float32), expected)
            assert {r["embedding@version"] for r in rows} == {"models:/toy/1"}
    finally:
        del os.environ["EMBEDB_EMBED_LOG"]
    embedded = sum(int(n) for n in log.read_text().split())
    assert embedded <= ROWS + SEGMENT_ROWS, f"{embedded} texts embedded for {ROWS} rows: more than one segment redone"
