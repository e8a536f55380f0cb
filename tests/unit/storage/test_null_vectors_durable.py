"""Null vectors (NaN rows) survive the WAL, a flush, compaction and reopen, and leave the directory check clean."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import embedb
from embedb.storage.check import check_directory

DIM = 4


def test_null_vectors_survive_replay_flush_compaction_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db"
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "v", "type": "FLOAT_VECTOR", "dim": DIM, "nullable": True, "metric_type": "L2"},
        ]
    }
    vectors = np.arange(40 * DIM, dtype=np.float32).reshape(40, DIM)
    rows = [{"id": i, "v": None if i % 4 == 0 else vectors[i].tolist()} for i in range(40)]
    expected_hits = [i for i in range(40) if i % 4]

    def check(db: embedb.Client) -> None:
        got = {row["id"]: row["v"] for row in db.get("c", list(range(40)), output_fields=["v"])}
        assert all((got[i] is None) == (i % 4 == 0) for i in got) and len(got) == 40 - (39 not in expected_hits)
        hits = db.search("c", [vectors[5].tolist()], limit=40)[0]
        assert sorted(hit["id"] for hit in hits) == expected_hits and hits[0]["id"] == 5

    db = embedb.connect(path)
    db.create_collection("c", schema=schema)
    db.insert("c", rows[:20])
    db.close()  # rows 0..19 only in the WAL
    db = embedb.connect(path)
    db.insert("c", rows[20:])
    check(db)
    db.flush("c")
    db.delete("c", filter="id == 39")
    expected_hits.remove(39)
    db.compact("c")
    check(db)
    db.close()
    db = embedb.connect(path)
    check(db)
    db.close()
    assert check_directory(path).ok
