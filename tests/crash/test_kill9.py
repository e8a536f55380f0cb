"""``kill -9`` a writing process at random moments; every acknowledged write must survive.

A child process (``tests.crash.writer``) writes numbered batches (inserts,
upserts, deletes; from one row to a few thousand, enough to seal segments with
the small thresholds it uses) with the default durability, flushes and compacts
now and then, and lets the background thread seal and merge. It prints each
batch number once the call returned. The test SIGKILLs it, reopens the
directory and checks that it holds exactly the acknowledged batches, plus or
minus the one in flight, which must be all there or not at all. The rounds
write on into the same directory, so each recovery starts from a recovered one.
"""

from __future__ import annotations

import os
import queue
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.crash import workload

import embedb
from embedb.storage.check import check_directory

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("EMBEDB_CRASH_SEED", "20240611"))
RANDOM_ROUNDS = int(os.environ.get("EMBEDB_CRASH_ROUNDS", "24"))
CHILD_TIMEOUT_S = 60.0


@dataclass
class History:
    """What the test knows of the directory: the rows of every batch applied so far."""

    seed: int
    model: dict[int, int] = field(default_factory=dict)
    next_batch: int = 1

    def after(self, number: int) -> dict[int, int]:
        model = dict(self.model)
        workload.apply(model, self.seed, number)
        return model


@dataclass
class Round:
    lines: list[str]
    returncode: int
    stderr: str

    @property
    def acked(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines if line.startswith("ack ")]


def run_child(path: Path, history: History, mode: str, kill_when: str | None, delay_s: float) -> Round:
    """Start the writer, SIGKILL it ``delay_s`` after the line ``kill_when`` (never, for a self-killing mode)."""
    command = [sys.executable, "-m", "tests.crash.writer", str(path), str(history.seed), str(history.next_batch), mode]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        seen = _drive(child, kill_when, delay_s)
        assert child.stderr is not None
        return Round(seen, child.returncode, child.stderr.read())


def _drive(child: subprocess.Popen[str], kill_when: str | None, delay_s: float) -> list[str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line.strip())
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    if kill_when == "start":
        time.sleep(delay_s)
        child.kill()
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            child.kill()
            break
        if line is None:
            break
        seen.append(line)
        if kill_when is not None and line == kill_when:
            time.sleep(delay_s)
            child.kill()
            kill_when = None
    child.wait()
    reader.join()
    return seen


def check_round(path: Path, history: History, result: Round) -> str:
    """Reopen and compare with the history; return which outcome the in-flight batch had."""
    assert result.returncode == -9, f"the writer died on its own (rc {result.returncode}):\n{result.stderr}"
    acked = result.acked
    assert acked == list(range(history.next_batch, history.next_batch + len(acked))), "acks arrive in order"
    for number in acked:
        workload.apply(history.model, history.seed, number)
    in_flight = history.next_batch + len(acked)
    with embedb.connect(path, background_compaction=False) as db:
        rows = db.query(workload.COLLECTION, "", output_fields=["n", "tag", "vector"])
        stats = db.get_collection_stats(workload.COLLECTION)
    found = {row["id"]: row for row in rows}
    assert len(found) == len(rows) == stats["row_count"], "each key is live once"
    actual = {key: row["n"] for key, row in found.items()}
    if actual == history.model:
        outcome = "without"
    else:
        with_in_flight = history.after(in_flight)
        missing = sorted(set(history.model) - set(actual))[:10]
        assert actual == with_in_flight, (
            f"batch {in_flight} was in flight, but the directory matches neither outcome; "
            f"acknowledged rows missing: {missing}, seed {history.seed}"
        )
        history.model = with_in_flight
        outcome = "with"
    check_values(found, history.seed)
    history.next_batch = in_flight + 1
    report = check_directory(path)
    assert report.ok, report.problems
    return outcome


def check_values(found: dict[int, dict[str, Any]], seed: int) -> None:
    """Every row holds the values its batch wrote (the batch number is in the row)."""
    by_batch: dict[int, list[int]] = {}
    for key, row in found.items():
        by_batch.setdefault(int(row["n"]), []).append(key)
    for number, keys in by_batch.items():
        written = workload.batch(seed, number)
        index = {key: i for i, key in enumerate(written.keys.tolist())}
        assert {found[key]["tag"] for key in keys} == {f"b{number}"}
        stored = np.array([found[key]["vector"] for key in keys], dtype=np.float32)
        expected = written.vectors[[index[key] for key in keys]]
        wrong = np.nonzero(~(stored == expected).all(axis=1))[0]
        assert wrong.size == 0, f"rows {[keys[i] for i in wrong[:5]]} of batch {number} hold other vectors"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    workload.create(str(path))
    return path


def test_acknowledged_batches_survive_repeated_kill9(data_dir: Path) -> None:
    rng = random.Random(SEED)
    history = History(SEED)
    outcomes: list[str] = []
    for round_number in range(RANDOM_ROUNDS):
        kind = round_number % 6
        if kind == 0:
            # Killed early: during start-up or recovery of the last round's crash.
            result = run_child(data_dir, history, "run", "start", rng.uniform(0.0, 0.6))
        elif kind == 1:
            result = run_child(data_dir, history, "run", "begin flush", rng.uniform(0.0, 0.03))
        elif kind == 2:
            result = run_child(data_dir, history, "run", "begin compact", rng.uniform(0.0, 0.03))
        else:
            result = run_child(data_dir, history, "run", "ready", rng.uniform(0.05, 0.8))
        outcomes.append(check_round(data_dir, history, result))
    assert history.next_batch > 3 * RANDOM_ROUNDS, "the rounds wrote something"
    assert len(history.model) > 0


@pytest.mark.parametrize(
    "point",
    [
        "seal-after-rotate",
        "seal-after-segment-files",
        "seal-after-deletion-files",
        "seal-after-commit",
        "seal-before-wal-drop",
        "compact-after-segment-files",
        "compact-after-commit",
    ],
)
def test_a_crash_at_each_step_of_a_seal_or_compaction_loses_nothing(data_dir: Path, point: str) -> None:
    history = History(SEED + 1)
    # Write a while first, so that there are sealed segments with deletions to carry forward.
    check_round(data_dir, history, run_child(data_dir, history, "run", "ready", 0.6))
    result = run_child(data_dir, history, f"crash-at:{point}", None, 0.0)
    assert "crash point reached" in result.lines, f"the writer never reached {point}"
    check_round(data_dir, history, result)
    # And the directory goes on working: more writes, another crash, another recovery.
    check_round(data_dir, history, run_child(data_dir, history, "run", "ready", 0.2))


@pytest.mark.parametrize(("point", "outcome"), [("wal-after-append", "with"), ("wal-torn-record", "without")])
def test_an_unacknowledged_batch_is_all_there_or_not_at_all(data_dir: Path, point: str, outcome: str) -> None:
    history = History(SEED + 2)
    check_round(data_dir, history, run_child(data_dir, history, "run", "ready", 0.3))
    result = run_child(data_dir, history, f"crash-at:{point}", None, 0.0)
    assert "crash point reached" in result.lines
    # Written to the OS, the record survives the kill; half written, it is cut as a torn tail.
    assert check_round(data_dir, history, result) == outcome
    check_round(data_dir, history, run_child(data_dir, history, "run", "ready", 0.2))
