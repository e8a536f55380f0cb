"""A write in flight when the set of model versions changes (issue 18): it is embedded with the set that commits.

The write is held after it was embedded and before it reaches the WAL while a
backfill starts and finishes; when it goes on, the store refuses the append
(the fields' write set changed), the write is embedded again with the new set,
and every row ends up with a vector of every version that is not retired — so
the new version can be promoted and finds every row.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import bound_docs, bound_schema

import embedb
from embedb.backends.local import LocalBackend

FIRST = [f"first batch text {i} about apples and pears" for i in range(40)]
LATE = [f"late write {i} about whales and rivers" for i in range(60)]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LocalBackend]:
    client = bound_docs(tmp_path / "data", FIRST)
    client.flush("docs")
    yield client
    client.close()


@pytest.mark.parametrize("operation", ["insert", "upsert"])
def test_a_write_held_while_a_backfill_runs_gets_the_new_versions_vectors(db: LocalBackend, operation: str) -> None:
    hold = db.database.pause_points.hold("write.prepared")
    rows = [{"id": 1000 + i, "text": text} for i, text in enumerate(LATE)]
    outcome: dict[str, Any] = {}

    def write() -> None:
        outcome["result"] = getattr(db, operation)("docs", rows)

    writer = threading.Thread(target=write)
    writer.start()
    assert hold.reached.wait(10), "the write was embedded with the old set of versions and is held"
    job = db.add_embedding_version("docs", "embedding", "toy@challenger", wait=True)
    assert job["state"] == "DONE"
    hold.release()
    writer.join(20)
    assert "result" in outcome, outcome

    ids = [row["id"] for row in rows]
    with_new = db.get("docs", ids, output_fields=["embedding@models:/toy/2"])
    assert len(with_new) == len(ids)
    assert all(row["embedding@models:/toy/2"] is not None and len(row["embedding@models:/toy/2"]) == 8 for row in with_new)
    db.promote("docs", "embedding", "toy@challenger")
    (hits,) = db.search("docs", LATE[7], limit=1)
    assert hits[0]["id"] == 1007, "after the promotion, search finds the rows written during the backfill"
    total = db.query("docs", "", output_fields=["count(*)"])[0]["count(*)"]
    assert total == len(FIRST) + len(LATE)


def test_with_an_index_the_backfilled_version_can_be_promoted_after_a_held_write(tmp_path: Path) -> None:
    """Issue 18's second failure: a READY version whose index could never be complete (a segment lacked its column)."""
    client = embedb.connect(tmp_path / "indexed", durability="relaxed", index_min_rows=16)
    assert isinstance(client, LocalBackend)
    client.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    client.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
    client.create_collection(
        "docs",
        schema=bound_schema("toy"),
        index_params=[{"field_name": "embedding", "index_type": "HNSW", "params": {"M": 8, "efConstruction": 40}}],
    )
    client.insert("docs", [{"id": i, "text": text} for i, text in enumerate(FIRST)])
    client.flush("docs")
    hold = client.database.pause_points.hold("write.prepared")
    writer = threading.Thread(target=client.insert, args=("docs", [{"id": 1000 + i, "text": t} for i, t in enumerate(LATE)]))
    writer.start()
    assert hold.reached.wait(10)
    client.add_embedding_version("docs", "embedding", "toy@challenger", wait=True)
    hold.release()
    writer.join(20)
    client.flush("docs")  # the late rows become a sealed segment of their own, which must hold both versions
    (index_name,) = client.list_indexes("docs")
    assert client.wait_for_index("docs", index_name, timeout=60)["state"] == "Finished"
    moved = client.promote("docs", "embedding", "toy@challenger")
    assert moved["to_version"] == "models:/toy/2"
    (hits,) = client.search("docs", LATE[3], limit=5)
    assert 1003 in [hit["id"] for hit in hits], "the late rows are found through the new version's index"
    client.close()
