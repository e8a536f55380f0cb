"""Backfill a new model version with no downtime, then promote it and roll back in one step."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.errors import AlreadyExistsError, FailedPreconditionError, InUseError, InvalidStateError
from embedb.models.testing import hash_embed
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

WORDS = ["apple", "pie", "market", "stock", "whale", "song", "river", "stone", "cloud", "train", "paper", "glass"]


def texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=4)) for _ in range(count)]


def schema() -> CollectionSchema:
    return CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=200),
            VectorField("embedding", source="text", model="toy@champion", metric_type="COSINE"),
        )
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[embedb.Backend]:
    client = embedb.connect(tmp_path / "data", segment_max_rows=700, background_compaction=False)
    client.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    client.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
    client.create_collection("docs", schema=schema())
    rows = texts(2500)
    for start in range(0, 2500, 500):
        client.insert("docs", [{"id": i, "text": rows[i]} for i in range(start, start + 500)])
    client.delete("docs", [3, 4])
    client.flush("docs")
    yield client
    client.close()


def versions(db: embedb.Backend) -> dict[str, dict[str, object]]:
    return {v["model_version"]: v for v in db.describe_collection("docs")["embedding_versions"]["embedding"]}


def test_backfill_embeds_every_row_and_new_writes_carry_both_versions(db: embedb.Backend) -> None:
    job = db.add_embedding_version("docs", "embedding", "toy@challenger", wait=True, timeout=60)
    assert job["state"] == "DONE" and job["rows_done"] == 2498 and job["progress"] == 1.0
    assert versions(db)["models:/toy/2"]["state"] == "READY"
    assert versions(db)["models:/toy/2"]["rows"] == 2498
    db.insert("docs", [{"id": 9000, "text": "whale song river"}])
    hits = db.search("docs", "whale song river", limit=50, embedding_version="toy/2")
    exact = [h["id"] for h in hits[0] if h["distance"] > 0.9999]
    assert 9000 in exact, "the new row was embedded with version 2 as it was written"
    stored = db.get("docs", [10], output_fields=["text"])[0]["text"]
    by_v2 = db.search("docs", hash_embed([stored], dimension=8), limit=3, embedding_version="toy/2")
    assert 10 in [h["id"] for h in by_v2[0]]
    served = db.search("docs", "whale song river", limit=50)
    assert 9000 in [h["id"] for h in served[0] if h["distance"] > 0.9999], "version 1 still serves"


def test_search_keeps_answering_while_a_backfill_runs(db: embedb.Backend) -> None:
    failures: list[BaseException] = []
    answered = 0
    stop = threading.Event()

    def searcher() -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                hits = db.search("docs", "apple pie market", limit=5)
                assert len(hits[0]) == 5
                answered += 1
            except BaseException as error:  # pragma: no cover - reported below
                failures.append(error)

    thread = threading.Thread(target=searcher)
    thread.start()
    job = db.add_embedding_version("docs", "embedding", "toy@challenger")
    for i in range(5):
        db.insert("docs", [{"id": 5000 + i, "text": "glass train"}])
    done = db.wait_job(job["job_id"], timeout=60)
    stop.set()
    thread.join()
    assert not failures and answered > 0
    assert done["state"] == "DONE"
    assert versions(db)["models:/toy/2"]["rows"] == 2503


def test_promote_and_rollback_move_serving_version_and_alias_together(db: embedb.Backend) -> None:
    with pytest.raises(FailedPreconditionError, match="not complete"):
        db.add_embedding_version("docs", "embedding", "toy@challenger", wait=False)
        db.promote("docs", "embedding", "toy/2")
    db.wait_job(db.list_jobs("docs")[-1]["job_id"], timeout=60)
    moved = db.promote("docs", "embedding", "toy@challenger", reason="challenger wins", actor="ci")
    assert moved["from_version"] == "models:/toy/1" and moved["to_version"] == "models:/toy/2"
    assert db.describe_model_version("toy@champion")["version"] == 2
    assert versions(db)["models:/toy/2"]["serving"]
    assert len(db.get("docs", [7], output_fields=["embedding"])[0]["embedding"]) == 8, "reads come from version 2"
    db.insert("docs", [{"id": 7000, "text": "zebra quartz"}])
    assert db.search("docs", "zebra quartz", limit=1)[0][0]["id"] == 7000, "query text is embedded by version 2"
    back = db.rollback("docs", "embedding", reason="latency regression")
    assert back["to_version"] == "models:/toy/1"
    assert db.describe_model_version("toy@champion")["version"] == 1
    assert db.search("docs", "zebra quartz", limit=1)[0][0]["id"] == 7000, (
        "rows written under version 2 have version 1 too"
    )
    history = [(h["action"], h["to_version"], h["reason"]) for h in db.serving_history("docs")]
    assert history == [
        ("promote", "models:/toy/2", "challenger wins"),
        ("rollback", "models:/toy/1", "latency regression"),
    ]
    alias_moves = [(c["from_version"], c["to_version"], c["reason"]) for c in db.model_alias_history("toy", "champion")]
    assert alias_moves[-2:] == [(1, 2, "challenger wins"), (2, 1, "latency regression")]


@pytest.mark.perf
def test_promote_takes_well_under_a_second(db: embedb.Backend) -> None:
    """Promotion moves what serves and embeds nothing: on 2,498 backfilled rows it is a metadata step."""
    db.add_embedding_version("docs", "embedding", "toy@challenger", wait=True, timeout=60)
    moved = db.promote("docs", "embedding", "toy@challenger")
    print(f"promote of 2,498 rows took {moved['elapsed_ms']:.1f} ms")
    assert moved["elapsed_ms"] < 1000


def test_versions_are_dropped_only_when_unused(db: embedb.Backend) -> None:
    job = db.add_embedding_version("docs", "embedding", "toy/2", wait=True, timeout=60)
    with pytest.raises(AlreadyExistsError):
        db.add_embedding_version("docs", "embedding", "toy/2")
    with pytest.raises(InUseError, match="it serves the field"):
        db.drop_embedding_version("docs", "embedding", "toy/1")
    with pytest.raises(InUseError, match="model alias toy@challenger"):
        db.drop_embedding_version("docs", "embedding", "toy/2")
    db.delete_model_alias("toy", "challenger")
    dropped = db.drop_embedding_version("docs", "embedding", "toy/2")
    assert dropped["segments"] >= 1
    assert "models:/toy/2" in versions(db) and versions(db)["models:/toy/2"]["state"] == "RETIRED"
    assert versions(db)["models:/toy/2"]["rows"] == 0
    db.insert("docs", [{"id": 8000, "text": "stone"}])
    assert versions(db)["models:/toy/1"]["rows"] == 2499
    assert job["state"] == "DONE"


def test_pause_resume_and_cancel_are_guarded(db: embedb.Backend) -> None:
    job = db.add_embedding_version("docs", "embedding", "toy/2")
    paused = db.pause_job(job["job_id"])
    if paused["state"] == "PAUSED":
        with pytest.raises(InvalidStateError):
            db.pause_job(job["job_id"])
        db.resume_job(job["job_id"])
    done = db.wait_job(job["job_id"], timeout=60)
    assert done["state"] == "DONE" and done["rows_done"] == 2498
    with pytest.raises(InvalidStateError, match="DONE"):
        db.cancel_job(job["job_id"])


def test_cancel_retires_the_version_and_drops_its_vectors(tmp_path: Path) -> None:
    with embedb.connect(tmp_path, segment_max_rows=200) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_8")
        db.create_collection("docs", schema=schema())
        db.insert("docs", [{"id": i, "text": t} for i, t in enumerate(texts(1000))])
        db.flush("docs")
        job = db.add_embedding_version("docs", "embedding", "toy/2")
        cancelled = db.cancel_job(job["job_id"])
        assert cancelled["state"] == "CANCELLED"
        assert versions(db)["models:/toy/2"]["state"] == "RETIRED"
        assert versions(db)["models:/toy/2"]["rows"] == 0
        db.insert("docs", [{"id": 5000, "text": "apple"}])
        assert versions(db)["models:/toy/2"]["rows"] == 0, "a retired version is not written any more"
