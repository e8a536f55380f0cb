"""kill -9 inside drop_embedding_version (issue 18): the drop is finished by the next writable open.

A drop marks the version RETIRING, deletes its vectors and indexes, then marks it
RETIRED. A child process is killed with SIGKILL at each step; ``embedb check``
then lists the half-done drop (exit 1), the next open finishes it (no segment
holds the version's vectors, it is RETIRED) and ``embedb check`` is clean again.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.lifecycle import half_dropped_versions

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import embedb
    from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

    path, point = sys.argv[1], sys.argv[2]
    db = embedb.connect(path, background_compaction=False)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    schema = CollectionSchema((
        FieldSchema("id", DataType.INT64, is_primary=True),
        FieldSchema("text", DataType.VARCHAR, max_length=64),
        VectorField("embedding", source="text", model="toy@champion"),
    ))
    db.create_collection("docs", schema=schema)
    for start in (0, 200):
        db.insert("docs", [{"id": i, "text": f"row {i} apples {i % 5}"} for i in range(start, start + 200)])
        db.flush("docs")
    db.add_embedding_version("docs", "embedding", "models:/toy/2", wait=True)
    db.database.pause_points.arm(point, lambda: os.kill(os.getpid(), signal.SIGKILL))
    db.drop_embedding_version("docs", "embedding", "models:/toy/2")
    sys.exit(3)  # never reached: the drop is killed at the point
    """
)


def _version_two(path: Path) -> dict[str, object]:
    with embedb.connect(path) as db:
        (version,) = [
            v for v in db.describe_collection("docs")["embedding_versions"]["embedding"] if v["model_version"] == "models:/toy/2"
        ]
        return dict(version)


@pytest.mark.parametrize("point", ["lifecycle.drop.checked", "lifecycle.retire.before_files", "lifecycle.retire.files_dropped"])
def test_a_drop_killed_at_any_step_is_finished_by_the_next_open(tmp_path: Path, point: str) -> None:
    path = tmp_path / "data"
    child = subprocess.run([sys.executable, "-c", CHILD, str(path), point], cwd=REPO, capture_output=True, timeout=120)
    assert child.returncode == -9, child.stderr.decode()[-2000:]

    runner = CliRunner()
    before = runner.invoke(app, ["check", str(path)])
    if point == "lifecycle.drop.checked":  # killed before its transaction committed: nothing to finish
        assert before.exit_code == 0, before.output
    else:
        assert before.exit_code == 1 and "models:/toy/2" in before.output, before.output

    version = _version_two(path)  # the open finishes what the crash left
    if point == "lifecycle.drop.checked":
        assert version["state"] == "READY" and version["rows"] == 400
    else:
        assert version["state"] == "RETIRED" and version["rows"] == 0
        assert half_dropped_versions(path) == [], "no segment still holds the dropped version's vectors"
    after = runner.invoke(app, ["check", str(path)])
    assert after.exit_code == 0, after.output
    with embedb.connect(path) as db:
        (hits,) = db.search("docs", "row 7 apples 2", limit=3)
        assert len(hits) == 3, "the serving version answers"
