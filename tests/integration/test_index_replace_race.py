"""Replacing an index while its build runs: the new index's build is waited for, never mistaken for done."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

import embedb
from embedb.backends.local import LocalBackend
from embedb.milvus import IndexParams

ROWS, DIM = 24_000, 32


def test_create_index_waits_for_the_new_build_after_dropping_one_in_flight(tmp_path: Path) -> None:
    db = embedb.connect(tmp_path / "db", durability="relaxed")
    assert isinstance(db, LocalBackend)
    abandoned = db.database.pause_points.hold("index.build.abandoned")
    db.create_collection("docs", dimension=DIM)
    vectors = np.random.default_rng(1).random((ROWS, DIM), dtype=np.float32)
    db.insert("docs", {"id": np.arange(ROWS), "vector": vectors})
    db.flush("docs")  # the quick-setup HNSW starts building now, in chunks
    deadline = time.monotonic() + 60
    while db.describe_index("docs", "vector")["segments"]["building"] == 0:
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.005)
    db.drop_index("docs", "vector")  # the running build notices at its next chunk and gives up
    params = IndexParams()
    params.add_index(field_name="vector", index_type="IVF_FLAT", index_name="ivf", metric_type="COSINE", params={"nlist": 16})
    create = threading.Thread(target=db.create_index, args=("docs", list(params)))  # sync: waits for the IVF build
    create.start()
    assert abandoned.reached.wait(30), "the dropped index's build never gave up"
    # The builder is held right after giving up, before it takes the IVF job: the IVF build is still
    # pending, so create_index must still be waiting (it returned here before: the give-up cleared it).
    create.join(0.5)
    assert create.is_alive(), "create_index returned while its index was still pending"
    abandoned.release()
    create.join(60)
    description = db.describe_index("docs", "ivf")
    assert (description["state"], description["indexed_rows"]) == ("Finished", ROWS)
    assert len(db.search("docs", vectors[:1], limit=5, search_params={"nprobe": 4})[0]) == 5
    db.close()
