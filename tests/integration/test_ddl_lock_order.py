"""Collection DDL from many threads at once finishes: one lock order for storage and catalog, and no
write that races a drop ends in a raw OS error (found by the adversarial pass over the gRPC service)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import embedb
from embedb.errors import ClosedError, CollectionNotFoundError


@pytest.mark.timeout(120)
def test_create_drop_load_release_and_writes_race_to_the_end(tmp_path: Path) -> None:
    db = embedb.connect(tmp_path / "db")
    db.create_collection("steady", dimension=2)
    stop = time.monotonic() + 4
    unexpected: list[BaseException] = []

    def guarded(step: object) -> None:
        while time.monotonic() < stop:
            try:
                step()  # type: ignore[operator]
            except (CollectionNotFoundError, ClosedError):
                pass  # the race lost: a clear answer
            except BaseException as error:
                unexpected.append(error)
                return

    def churn(k: int) -> None:
        db.create_collection(f"x{k}", dimension=2)
        db.drop_collection(f"x{k}")

    def load_cycle() -> None:
        db.release_collection("steady")
        db.load_collection("steady")
        db.create_partition("steady", "p")
        db.drop_partition("steady", "p")

    def write_to_churned() -> None:
        db.upsert("x0", [{"id": 1, "vector": [1.0, 0.0]}])

    threads = [
        threading.Thread(target=guarded, args=(lambda k=k: churn(k),)) for k in range(2)
    ] + [threading.Thread(target=guarded, args=(load_cycle,)), threading.Thread(target=guarded, args=(write_to_churned,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a DDL call never returned: a lock-order deadlock"
    assert unexpected == [], unexpected[:3]
    db.close()
