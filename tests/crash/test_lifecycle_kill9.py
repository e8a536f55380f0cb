"""kill -9 at every step of every multi-step lifecycle transition, then check, reopen and the invariants (issue 18).

Each case runs ``tests.crash.lifecycle_child`` in a fresh data directory: it sets
up ``docs``, arms SIGKILL at one pause point and runs one transition (adding a
version and its backfill, cancelling a backfill, dropping a version, promote,
rollback, starting, stopping and promoting an experiment). Then:

- ``embedb check`` on the killed directory exits 0, or 1 naming the version when
  the kill left a drop (or cancel) half done;
- the reopen finishes what it must (a half-done drop, a resumed backfill) and the
  transition either committed whole or not at all: the serving version, the
  version's state and the experiment's state are one of the two outcomes;
- every invariant of ``tests.support.lifecycle_invariants`` holds;
- ``embedb check`` exits 0 after the reopen.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.lifecycle_invariants import UNFINISHED_JOB_STATES, lifecycle_violations
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.client import Client

REPO = Path(__file__).resolve().parents[2]
V1, V2 = "models:/toy/1", "models:/toy/2"
ROWS = 420  # lifecycle_child: two sealed segments of 200 and 20 rows in the WAL


@dataclass(frozen=True)
class After:
    """What the reopened directory holds: the serving version, v2's state (None: absent), the experiment's state."""

    serving: str
    v2: str | None
    experiment: str | None = None
    # the kill left v2 RETIRING: ``embedb check`` lists it until the reopen finishes the drop
    half_dropped: bool = False


BEFORE_ADD = After(V1, None)
ADDED = After(V1, "READY")
RETIRED = After(V1, "RETIRED", half_dropped=True)

CASES: dict[tuple[str, str], After] = {
    ("add", "lifecycle.add.checked"): BEFORE_ADD,
    ("add", "lifecycle.add.committed"): ADDED,  # the job is PENDING: the reopen runs it
    ("add", "backfill.chunk.committed"): ADDED,  # inside the first segment
    ("add", "backfill.chunk.committed:5"): ADDED,  # the first chunk of the second segment
    ("add", "backfill.column.published"): ADDED,
    ("add", "backfill.column.published:3"): ADDED,  # the last segment (the WAL rows, sealed by the job)
    ("add", "backfill.ready.checked"): ADDED,
    ("add", "backfill.ready.committed"): ADDED,
    ("cancel", "lifecycle.cancel.checked"): ADDED,  # not cancelled: the job resumes and finishes
    ("cancel", "lifecycle.retire.before_files"): RETIRED,
    ("cancel", "lifecycle.retire.files_dropped"): RETIRED,
    ("drop", "lifecycle.drop.checked"): ADDED,
    ("drop", "lifecycle.retire.before_files"): RETIRED,
    ("drop", "lifecycle.retire.files_dropped"): RETIRED,
    ("promote", "lifecycle.promote.checked"): After(V1, "READY", "RUNNING"),
    ("promote", "lifecycle.promote.committed"): After(V2, "READY", "STOPPED"),
    ("rollback", "lifecycle.rollback.checked"): After(V2, "READY", "RUNNING"),
    ("rollback", "lifecycle.rollback.committed"): After(V1, "READY", "STOPPED"),
    ("start_experiment", "experiments.start.checked"): ADDED,
    ("start_experiment", "experiments.start.committed"): After(V1, "READY", "RUNNING"),
    ("stop_experiment", "experiments.stop.checked"): After(V1, "READY", "RUNNING"),
    ("stop_experiment", "experiments.stop.committed"): After(V1, "READY", "STOPPED"),
    ("promote_experiment", "experiments.promote.checked"): After(V1, "READY", "RUNNING"),
    # inside the experiment's transaction: the promotion has not committed yet
    ("promote_experiment", "lifecycle.promote.checked"): After(V1, "READY", "RUNNING"),
    ("promote_experiment", "lifecycle.promote.committed"): After(V1, "READY", "RUNNING"),
    ("promote_experiment", "experiments.promote.committed"): After(V2, "READY", "PROMOTED"),
}


def wait_for_jobs(db: Client, timeout_s: float = 60.0) -> None:
    """Wait until the backfills the reopen resumed have finished."""
    deadline = time.monotonic() + timeout_s
    while any(job["state"] in ("PENDING", "RUNNING") for job in db.list_jobs("docs")):
        assert time.monotonic() < deadline, db.list_jobs("docs")
        time.sleep(0.05)


def outcome(db: Client, half_dropped: bool) -> After:
    versions = {v["model_version"]: v for v in db.describe_collection("docs")["embedding_versions"]["embedding"]}
    (serving,) = [uri for uri, version in versions.items() if version["serving"]]
    experiments = db.list_experiments("docs")
    return After(
        serving,
        versions[V2]["state"] if V2 in versions else None,
        experiments[-1]["state"] if experiments else None,
        half_dropped,
    )


@pytest.mark.parametrize(("transition", "point"), list(CASES), ids=[f"{t}-{p}" for t, p in CASES])
def test_a_transition_killed_at_a_step_commits_whole_or_not_at_all(tmp_path: Path, transition: str, point: str) -> None:
    path = tmp_path / "data"
    child = subprocess.run(
        [sys.executable, "-m", "tests.crash.lifecycle_child", str(path), transition, point],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -9, f"never killed at {point} (exit {child.returncode}): {child.stderr.decode()[-3000:]}"
    expected = CASES[(transition, point)]

    runner = CliRunner()
    killed = runner.invoke(app, ["check", str(path)])
    if expected.half_dropped:
        assert killed.exit_code == 1 and V2 in killed.output and "RETIRING" in killed.output, killed.output
    else:
        assert killed.exit_code == 0, killed.output

    with embedb.connect(path) as db:  # the open finishes a half-done drop and resumes a backfill
        wait_for_jobs(db)
        assert outcome(db, expected.half_dropped) == expected
        assert lifecycle_violations(db, "docs", dropped={V2} if transition == "drop" else ()) == []
        assert all(job["state"] not in UNFINISHED_JOB_STATES for job in db.list_jobs("docs"))
        assert db.query("docs", "", output_fields=["count(*)"])[0]["count(*)"] == ROWS
        (hits,) = db.search("docs", "row 7 apples 2", limit=3, output_fields=["embedding@version"])
        (answered,) = {hit["entity"]["embedding@version"] for hit in hits}  # one version per answer
        assert len(hits) == 3 and answered in ({V1, V2} if expected.experiment == "RUNNING" else {expected.serving})
    after = runner.invoke(app, ["check", str(path)])
    assert after.exit_code == 0, after.output
