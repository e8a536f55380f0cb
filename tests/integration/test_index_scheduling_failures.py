"""A storage event the index layer fails to handle leaves a visible failure, not a build that never comes.

The failure is real: a trigger in the catalog makes SQLite refuse to delete
segment index rows, so the index layer raises while it handles a compaction —
after the merged segment was published, before its build was scheduled.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.storage.engine import CATALOG_FILE

DIM = 8
ROWS_PER_SEGMENT = 1_500
runner = CliRunner()


@contextlib.contextmanager
def index_row_deletes_fail(data_path: Path) -> Iterator[None]:
    """While inside, SQLite refuses to delete rows of the segment index table (every other write works)."""
    catalog = sqlite3.connect(data_path / CATALOG_FILE, timeout=30)
    try:
        catalog.execute(
            "CREATE TRIGGER refuse_index_row_deletes BEFORE DELETE ON segment_indexes"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END"
        )
        catalog.commit()
        yield
    finally:
        catalog.execute("DROP TRIGGER IF EXISTS refuse_index_row_deletes")
        catalog.commit()
        catalog.close()


def test_an_unscheduled_build_shows_in_describe_index_and_embedb_check(tmp_path: Path) -> None:
    path = tmp_path / "data"
    vectors = np.random.default_rng(3).standard_normal((2 * ROWS_PER_SEGMENT, DIM)).astype(np.float32)
    db = embedb.connect(path, durability="relaxed", background_compaction=False)
    try:
        db.create_collection("docs", dimension=DIM)  # quick setup: an AUTOINDEX on "vector"
        for start in (0, ROWS_PER_SEGMENT):
            db.insert("docs", {"id": np.arange(start, start + ROWS_PER_SEGMENT), "vector": vectors[start:][:ROWS_PER_SEGMENT]})
            db.flush("docs")
        built = db.wait_for_index("docs", "vector", timeout=60)
        assert built["state"] == "Finished" and built["indexed_rows"] == 2 * ROWS_PER_SEGMENT
        assert runner.invoke(app, ["check", str(path)]).exit_code == 0

        with index_row_deletes_fail(path):
            assert db.compact("docs")["merged_segments"] == 2
        described = db.wait_for_index("docs", "vector", timeout=5)
        assert described["state"] == "Failed", "not InProgress forever"
        assert described["segments"]["failed"] == 1 and described["indexed_rows"] == 0
        (failure,) = described["failures"]
        assert "index build not scheduled" in failure["error"] and "injected" in failure["error"]
        assert db.search("docs", vectors[7:8], limit=1)[0][0]["id"] == 7, "the segment is searched exactly meanwhile"

        checked = runner.invoke(app, ["check", str(path)])  # beside the open database, as beside a server
        assert checked.exit_code == 1, checked.output
        assert "never ran" in checked.output and str(failure["segment_id"]) in checked.output
        assert "injected" in checked.output
    finally:
        db.close()

    with embedb.connect(path, background_compaction=False) as reopened:  # a writable open retries the build
        rebuilt = reopened.wait_for_index("docs", "vector", timeout=60)
        assert rebuilt["state"] == "Finished" and rebuilt["failures"] == []
        assert rebuilt["indexed_rows"] == 2 * ROWS_PER_SEGMENT
    checked = runner.invoke(app, ["check", str(path)])
    assert checked.exit_code == 0, checked.output
