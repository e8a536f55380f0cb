"""Writers, readers, seals and compactions at once: no write is lost, no reader sees a key twice."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

import embedb

DIM = 4
WRITERS = 3
ROUNDS = 60


def vector(key: int, version: int) -> list[float]:
    return [float(key % 97) + 1.0, float(version), 1.0, float(key % 5)]


def writer(db: Any, worker: int, model: dict[int, int], errors: list[BaseException]) -> None:
    """Insert, upsert and delete keys of this worker's own range; record the outcome in ``model``."""
    rng = np.random.default_rng(worker)
    base = worker * 1_000_000
    next_key = base
    try:
        for step in range(ROUNDS):
            size = int(rng.integers(1, 40))
            keys = list(range(next_key, next_key + size))
            next_key += size
            db.insert("c", [{"id": k, "vector": vector(k, step), "version": step} for k in keys])
            model.update(dict.fromkeys(keys, step))
            live = sorted(model)
            if live and step % 3 == 0:
                chosen = rng.choice(live, size=min(len(live), 8), replace=False).tolist()
                db.upsert("c", [{"id": k, "vector": vector(k, step), "version": step} for k in chosen])
                model.update(dict.fromkeys(chosen, step))
            if live and step % 4 == 1:
                doomed = rng.choice(live, size=min(len(live), 5), replace=False).tolist()
                assert db.delete("c", ids=doomed)["delete_count"] == len(doomed)
                for k in doomed:
                    del model[k]
    except BaseException as error:
        errors.append(error)


def reader(db: Any, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        while not stop.is_set():
            keys = [row["id"] for row in db.query("c", "", output_fields=["id"])]
            assert len(keys) == len(set(keys)), "a key is live twice in one snapshot"
            hits = db.search("c", [vector(3, 1)], limit=20)[0]
            assert len({h["id"] for h in hits}) == len(hits)
    except BaseException as error:
        errors.append(error)


def live_versions(path: Path) -> dict[int, int]:
    with embedb.connect(path, background_compaction=False) as db:
        return {row["id"]: row["version"] for row in db.query("c", "", output_fields=["version"])}


def test_concurrent_writers_readers_and_housekeeping(tmp_path: Path) -> None:
    path = tmp_path / "data"
    db = embedb.connect(
        path,
        durability="relaxed",
        segment_max_rows=200,
        compaction_min_segment_rows=150,
        background_interval_s=0.01,
    )
    db.create_collection("c", dimension=DIM, metric_type="L2")
    models: list[dict[int, int]] = [{} for _ in range(WRITERS)]
    errors: list[BaseException] = []
    stop = threading.Event()
    threads = [threading.Thread(target=writer, args=(db, w, models[w], errors)) for w in range(WRITERS)]
    readers = [threading.Thread(target=reader, args=(db, stop, errors)) for _ in range(2)]
    for thread in threads + readers:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert not errors, errors
    expected = {k: v for model in models for k, v in model.items()}
    stats = db.get_collection_stats("c")
    assert stats["sealed_segments"] > 0, "housekeeping sealed segments during the run"
    assert {row["id"]: row["version"] for row in db.query("c", "", output_fields=["version"])} == expected
    db.close()
    assert live_versions(path) == expected
