"""A backfill inside one large segment, killed with ``kill -9`` again and again, loses at most one chunk each time.

The collection is one sealed segment (some rows deleted, some without text), so
before chunked progress every kill would have sent the job back to row 0. A
child process runs the backfill and is killed at a random moment of a chunk
(embedding, writing, committing or publishing); after each kill the directory
checks clean, the job's ``rows_done`` (read without resuming it) is what the
catalog committed, and the next child resumes from there. The embedder logs how
many texts each process embedded, so the work redone is counted, not guessed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.config import Settings
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField
from embedb.storage import StorageEngine
from embedb.storage.check import check_directory

REPO = Path(__file__).resolve().parents[2]
ROWS = 8000
CHUNK = 400
KILLS = 4
KEY = "embedding@toy/2"
DELETED = range(0, ROWS, 17)


def text(i: int) -> str | None:
    return None if i % 13 == 5 else f"row{i} apple {i % 7} market {i % 11}"


def prepare(path: Path) -> None:
    """One sealed segment of ``ROWS`` rows, ``DELETED`` deleted after sealing, every 13th without text."""
    with embedb.connect(path, background_compaction=False) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "tests.support.slow_embedders:counted_hash_8")
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("text", DataType.VARCHAR, max_length=64, nullable=True),
                VectorField("embedding", source="text", model="toy@champion"),
            )
        )
        db.create_collection("docs", schema=schema)
        db.insert("docs", [{"id": i, "text": text(i)} for i in range(ROWS) if text(i) is not None])
        # Rows without text carry a vector of the serving version instead; the backfill leaves them zero.
        untexted = [i for i in range(ROWS) if text(i) is None]
        db.insert(
            "docs",
            [{"id": i, "text": None, "embedding": [1.0] * 16} for i in untexted],
            embedding_versions={"embedding": "toy/1"},
        )
        db.flush("docs")
        db.delete("docs", list(DELETED))


def committed_rows(path: Path) -> int:
    """The job's ``rows_done`` as the catalog has it, read without resuming the job."""
    with embedb.connect(path, read_only=True) as db:
        (job,) = db.list_jobs("docs")
        assert job["state"] == "RUNNING", "a killed job is still RUNNING: it resumes on the next writable open"
        return int(job["rows_done"])


def embedded_texts(log: Path) -> int:
    return sum(int(n) for n in log.read_text().split()) if log.exists() else 0


def run_child(path: Path, mode: str, log: Path, *, kill_after: float | None, committed: int) -> list[int]:
    """Run the backfill child; with ``kill_after``, SIGKILL it that many seconds after it committed a chunk.

    Returns the ``rows_done`` values it printed.
    """
    env = {**os.environ, "EMBEDB_EMBED_LOG": str(log), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.crash.backfill_child", str(path), mode, str(CHUNK)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    seen: list[int] = []
    try:
        for line in child.stdout:
            if line.startswith("rows "):
                seen.append(int(line.split()[1]))
                if kill_after is not None and seen[-1] > committed:
                    # A chunk of this run has committed: kill somewhere in the next one or two.
                    # (The pipe stays open: a child writing to a closed pipe would die on its own.)
                    time.sleep(kill_after)
                    child.send_signal(signal.SIGKILL)
                    break
    finally:
        child.wait(timeout=120)
        child.stdout.close()
    return seen


def column_of(path: Path) -> np.ndarray:
    """The new version's column of the one sealed segment, deleted rows included."""
    engine = StorageEngine(path, settings=Settings(), read_only=True, start_housekeeping=False)
    try:
        (data,) = engine.store(engine.collection("docs")).sealed_segments()
        return np.array(data.vectors[KEY])
    finally:
        engine.close()


def live_vectors(path: Path) -> dict[int, list[float]]:
    with embedb.connect(path, read_only=True) as db:
        rows = db.query("docs", "", output_fields=[KEY])
    vectors = {int(r["id"]): r[KEY] for r in rows}
    assert len(vectors) == len(rows), "each row once"
    return vectors


@pytest.mark.parametrize("seed", [11, 29])
def test_a_backfill_killed_mid_segment_resumes_from_its_last_committed_chunk(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data = tmp_path / "data"
    prepare(data)
    clean = tmp_path / "clean"
    shutil.copytree(data, clean)

    committed = 0
    mode = "start"
    for kill in range(KILLS):
        log = tmp_path / f"embedded.{kill}.log"
        # Embedding a chunk takes ~0.16 s here, committing it a few ms: a delay up to
        # 0.3 s lands anywhere in the cycle (the kill falls in the publish only by luck).
        run_child(data, mode, log, kill_after=rng.uniform(0.0, 0.3), committed=committed)
        mode = "resume"
        report = check_directory(data)
        assert report.ok, report.problems
        now = committed_rows(data)
        assert now > committed, f"kill {kill}: the job made progress before it was killed"
        lost = embedded_texts(log) - (now - committed)
        assert 0 <= lost <= CHUNK, f"kill {kill}: {lost} texts embedded but not kept: more than one chunk"
        committed = now

    log = tmp_path / "embedded.final.log"
    seen = run_child(data, "resume", log, kill_after=None, committed=committed)
    assert seen[0] >= committed and seen == sorted(seen), "after the reopen the job goes on from what was kept"
    live_total = ROWS - len(DELETED)
    assert embedded_texts(log) <= live_total - committed + CHUNK, "the resumed job redid at most one chunk"

    with embedb.connect(data, read_only=True) as db:
        (job,) = db.list_jobs("docs")
    without_text = sum(1 for i in range(ROWS) if text(i) is None and i not in DELETED)
    assert job["state"] == "DONE"
    assert (job["rows_done"], job["rows_without_source"]) == (live_total - without_text, without_text)
    assert job["segments_done"] == 1

    os.environ["EMBEDB_EMBED_LOG"] = str(tmp_path / "clean.log")
    try:
        with embedb.connect(clean, backfill_chunk_rows=CHUNK) as db:
            assert db.add_embedding_version("docs", "embedding", "toy/2", wait=True, timeout=120)["state"] == "DONE"
    finally:
        del os.environ["EMBEDB_EMBED_LOG"]
    resumed, reference = column_of(data), column_of(clean)
    assert resumed.shape == reference.shape == (ROWS, 8), "every row has exactly one vector of the new version"
    np.testing.assert_array_equal(resumed, reference)
    vectors = live_vectors(data)
    assert sorted(vectors) == sorted(set(range(ROWS)) - set(DELETED))
    assert vectors == live_vectors(clean)
    assert not list(data.glob("collections/*/segments/*/partial.*")), "the partial file went with the publication"
