"""``embedb check`` lists a READY embedding version that a sealed segment holds no vectors of (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from tests.support.bound_collections import bound_schema
from typer.testing import CliRunner

import embedb
from embedb.backends.local import LocalBackend
from embedb.cli import app
from embedb.lifecycle import IncompleteVersion, incomplete_ready_versions

runner = CliRunner()
V2_COLUMN = "embedding@toy/2"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a wide terminal prints them, so no cell is cut."""
    monkeypatch.setattr("embedb.cli.data.console", Console(width=400))


@pytest.fixture
def two_segments(tmp_path: Path) -> Iterator[LocalBackend]:
    """``docs`` open on a data directory: ``embedding`` follows toy@champion (v1), two sealed segments of 100 rows."""
    db = embedb.connect(tmp_path / "data", background_compaction=False, backfill_chunk_rows=32)
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.create_collection(
        "docs",
        schema=bound_schema("toy", max_length=64),
    )
    for start in (0, 100):
        db.insert("docs", [{"id": i, "text": f"row {i} apples {i % 5}"} for i in range(start, start + 100)])
        db.flush("docs")
    yield db
    db.close()


def test_ready_versions_with_a_column_in_every_segment_check_clean(two_segments: LocalBackend) -> None:
    two_segments.add_embedding_version("docs", "embedding", "models:/toy/2", wait=True)
    assert incomplete_ready_versions(two_segments.database.path) == []
    result = runner.invoke(app, ["check", str(two_segments.database.path)])
    assert result.exit_code == 0, result.output


def test_a_version_still_backfilling_is_not_listed(two_segments: LocalBackend) -> None:
    hold = two_segments.database.pause_points.hold("backfill.column.published")
    job = two_segments.add_embedding_version("docs", "embedding", "models:/toy/2")
    assert hold.reached.wait(30), "the backfill never published a column"
    try:  # one segment has v2's column, the other not yet: a backfill in progress, not a gap
        result = runner.invoke(app, ["check", str(two_segments.database.path)])
        assert result.exit_code == 0, result.output
    finally:
        hold.release()
    assert two_segments.wait_job(job["job_id"], timeout=30)["state"] == "DONE"


def test_a_ready_version_missing_from_segments_fails_the_check_and_is_named(two_segments: LocalBackend) -> None:
    two_segments.add_embedding_version("docs", "embedding", "models:/toy/2", wait=True)
    database = two_segments.database
    # The vectors go while the catalog still says READY: what the check exists to find.
    database.storage.store(database.storage.collection("docs")).drop_vector_column(V2_COLUMN)
    assert incomplete_ready_versions(database.path) == [IncompleteVersion("docs", "embedding", "models:/toy/2", 2)]
    result = runner.invoke(app, ["check", str(database.path)])
    assert result.exit_code == 1, result.output
    assert "READY versions missing vectors" in result.output and "models:/toy/2" in result.output
    assert "models:/toy/1" not in result.output, "only the incomplete version is listed"
