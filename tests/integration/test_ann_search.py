"""ANN search through the public API: recall against exact search, filters, deletions, reopen, compaction, threads.

The two thread tests measure time and cores, so they carry the ``perf`` marker: ``make test``
runs them in a separate pass and prints what they measured.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.unit.index.conftest import clustered, unit

import embedb
from embedb.backends.local import LocalBackend
from embedb.errors import (
    CollectionNotFoundError,
    FieldNotFoundError,
    IndexAlreadyExistsError,
    IndexNotFoundError,
    InvalidArgumentError,
)
from embedb.index.manager import BuildState
from embedb.milvus import MilvusClient, MilvusSchema
from embedb.search import CostModel, SegmentPlanner

DIM = 32
ROWS = 6000
SETTINGS: dict[str, Any] = {"durability": "relaxed", "background_compaction": False, "background_interval_s": 3600}
NEVER_EXACT = CostModel(gather_per_row=1e9, exact_per_row=1e9, exact_batch_per_row=1e9)

# (index type, build params, search params, minimum recall@10 on 6000 x 32 clustered vectors)
INDEXES: list[tuple[str, dict[str, Any], dict[str, Any], float]] = [
    ("HNSW", {"M": 16, "efConstruction": 64}, {"ef": 64}, 0.95),
    ("IVF_FLAT", {"nlist": 64}, {"nprobe": 16}, 0.95),
    ("IVF_SQ8", {"nlist": 64}, {"nprobe": 16}, 0.9),
    ("IVF_PQ", {"nlist": 64, "m": 8, "nbits": 8}, {"nprobe": 16}, 0.45),
    ("FLAT", {}, {}, 0.999),
    ("HNSWLIB", {"M": 16, "efConstruction": 64}, {"ef": 64}, 0.95),
    ("ANNOY", {"n_trees": 16}, {"search_k": 8000}, 0.9),
]


class Data:
    """Rows as inserted: unit vectors, a random bucket in [0, 100) per row, and held-out queries."""

    def __init__(self) -> None:
        vectors = unit(clustered(ROWS + 60, DIM, seed=5))
        self.vectors = np.ascontiguousarray(vectors[:ROWS])
        self.queries = np.ascontiguousarray(vectors[ROWS:])
        self.bucket = np.random.default_rng(9).integers(0, 100, ROWS)
        self.ids = np.arange(ROWS, dtype=np.int64)

    def exact(self, live: np.ndarray, k: int = 10) -> list[list[int]]:
        rows = np.nonzero(live)[0]
        scores = self.queries @ self.vectors[rows].T
        return [rows[np.argsort(-s, kind="stable")[:k]].tolist() for s in scores]


@pytest.fixture(scope="module")
def data() -> Data:
    return Data()


def _schema() -> MilvusSchema:
    schema = MilvusClient.create_schema()
    schema.add_field("id", "INT64", is_primary=True).add_field("vector", "FLOAT_VECTOR", dim=DIM).add_field("bucket", "INT64")
    return schema


def _fill(db: embedb.Client, name: str, data: Data, *, batches: int = 1) -> None:
    db.create_collection(name, schema=_schema().to_schema())
    for part in np.array_split(np.arange(ROWS), batches):
        db.insert(name, {"id": data.ids[part], "vector": data.vectors[part], "bucket": data.bucket[part]})
        db.flush(name)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[embedb.Client]:
    client = embedb.connect(tmp_path / "db", **SETTINGS)
    yield client
    client.close()


def _recall(hits: Sequence[Sequence[Mapping[str, Any]]], truth: list[list[int]]) -> float:
    found = sum(len({h["id"] for h in q} & set(t)) for q, t in zip(hits, truth, strict=True))
    return found / sum(len(t) for t in truth)


def _embedded(db: embedb.Client) -> LocalBackend:
    """The embedded engine behind ``db``, for the tests that look at its index state."""
    assert isinstance(db, LocalBackend), type(db)
    return db


def _planner(db: embedb.Client, name: str) -> SegmentPlanner:
    engine = _embedded(db)
    return SegmentPlanner(engine.indexes.collection(engine.database.metadata.info(name)).lookup)


@pytest.mark.parametrize(("index_type", "build", "search", "minimum"), INDEXES, ids=[i[0] for i in INDEXES])
def test_recall_against_exact_with_filters_and_deletions(
    db: embedb.Client, data: Data, index_type: str, build: dict[str, Any], search: dict[str, Any], minimum: float
) -> None:
    _fill(db, "docs", data)
    db.create_index("docs", field_name="vector", index_type=index_type, params=build)
    assert db.describe_index("docs", "vector")["state"] == "Finished"
    live = np.ones(ROWS, dtype=bool)
    searches = {
        "all": ("", live),
        "1%": ("bucket < 1", data.bucket < 1),
        "10%": ("bucket < 10", data.bucket < 10),
        "50%": ("bucket < 50", data.bucket < 50),
    }
    for label, (expr, allowed) in searches.items():
        hits = db.search("docs", data.queries, limit=10, filter=expr, search_params={"params": search})
        assert all(bool(allowed[h["id"]]) for q in hits for h in q), label
        assert _recall(hits, data.exact(allowed)) >= minimum, label
    deleted = data.ids[np.random.default_rng(1).random(ROWS) < 0.15]
    db.delete("docs", ids=deleted.tolist())
    live[deleted] = False
    planner = _planner(db, "docs")
    for costs in (planner.costs, NEVER_EXACT):  # the planner's own choice, then the kernel with the bitmap always
        planner.costs = costs
        for label, (expr, allowed) in searches.items():
            hits = db.search("docs", data.queries, limit=10, filter=expr, search_params=search)
            assert not {h["id"] for q in hits for h in q} & set(deleted.tolist()), f"deleted rows came back ({label})"
            assert _recall(hits, data.exact(allowed & live)) >= minimum, f"{label} after deletes"


def test_single_queries_and_batches_agree(db: embedb.Client, data: Data) -> None:
    _fill(db, "docs", data)
    db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
    batch = db.search("docs", data.queries[:8], limit=5, search_params={"ef": 32})
    single = [db.search("docs", q, limit=5, search_params={"ef": 32})[0] for q in data.queries[:8]]
    assert [[h["id"] for h in q] for q in batch] == [[h["id"] for h in q] for q in single]


def test_the_short_search_path_answers_like_the_general_one(db: embedb.Client, data: Data) -> None:
    _fill(db, "docs", data)
    db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
    db.search("docs", data.queries[:1], limit=3)  # the general path fills the caches the short one reads
    for queries, params in ((data.queries[:1], {"ef": 40}), (data.queries[:7], None), (data.queries[:2], {"metric_type": "COSINE"})):
        short = db.search("docs", queries, limit=6, search_params=params)
        general = db.search("docs", queries, limit=6, search_params=params, output_fields=[])  # not the short path
        # The same hits; distances agree to float32 rounding (the short path normalises the query in the kernel).
        assert [[h["id"] for h in q] for q in short] == [[h["id"] for h in q] for q in general]
        np.testing.assert_allclose(
            [[h["distance"] for h in q] for q in short], [[h["distance"] for h in q] for q in general], rtol=0, atol=1e-6
        )
        assert all(h["entity"] == {} for q in short for h in q)
    with pytest.raises(InvalidArgumentError, match="ef=2"):
        db.search("docs", data.queries[:1], limit=6, search_params={"ef": 2})
    with pytest.raises(InvalidArgumentError, match="limit"):
        db.search("docs", data.queries[:1], limit=0)


def test_indexes_survive_reopen_without_a_rebuild(tmp_path: Path, data: Data) -> None:
    with embedb.connect(tmp_path / "db", **SETTINGS) as db:
        _fill(db, "docs", data)
        db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
        before = db.search("docs", data.queries, limit=10, search_params={"ef": 48})
        files = sorted(p.name for p in (tmp_path / "db").rglob("ann.*"))
    assert len(files) == 1
    with embedb.connect(tmp_path / "db", **SETTINGS) as db:
        engine = _embedded(db)
        collection = engine.indexes.collection(engine.database.metadata.info("docs"))
        assert [s.state for s in collection.status.values()] == [BuildState.READY], "loaded, not queued for a build"
        assert db.search("docs", data.queries, limit=10, search_params={"ef": 48}) == before
        assert db.describe_index("docs", "vector")["indexed_rows"] == ROWS
    assert sorted(p.name for p in (tmp_path / "db").rglob("ann.*")) == files


def test_a_read_only_open_uses_the_built_indexes(tmp_path: Path, data: Data) -> None:
    with embedb.connect(tmp_path / "db", **SETTINGS) as db:
        _fill(db, "docs", data)
        db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
        before = db.search("docs", data.queries[:5], limit=10)
    with embedb.connect(tmp_path / "db", read_only=True) as db:
        assert db.search("docs", data.queries[:5], limit=10) == before
        assert db.describe_index("docs", "vector")["indexed_rows"] == ROWS
        with pytest.raises(embedb.StorageError):
            db.drop_index("docs", "vector")


def test_a_corrupt_index_file_is_rebuilt_on_open(tmp_path: Path, data: Data) -> None:
    with embedb.connect(tmp_path / "db", **SETTINGS) as db:
        _fill(db, "docs", data)
        db.create_index("docs", field_name="vector", index_type="IVF_FLAT", params={"nlist": 32})
    (path,) = (tmp_path / "db").rglob("ann.*")
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0x55
    path.write_bytes(bytes(raw))
    with embedb.connect(tmp_path / "db", **SETTINGS) as db:
        hits = db.search("docs", data.queries[:5], limit=10)  # exact until the rebuild is done
        assert _recall(hits, data.exact(np.ones(ROWS, dtype=bool))[:5]) == 1.0
        assert db.wait_for_index("docs", "vector", timeout=60)["state"] == "Finished"
    assert not path.exists(), "the damaged file was replaced"


def test_compaction_rebuilds_the_merged_segment(db: embedb.Client, data: Data, tmp_path: Path) -> None:
    _fill(db, "docs", data, batches=3)
    db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
    description = db.describe_index("docs", "vector")
    assert description["segments"]["ready"] == 3 and description["indexed_rows"] == ROWS
    old_files = set((tmp_path / "db").rglob("ann.*"))
    assert len(old_files) == 3
    deleted = list(range(0, ROWS, 7))
    db.delete("docs", ids=deleted)
    assert db.compact("docs")["merged_segments"] == 3
    description = db.wait_for_index("docs", "vector", timeout=120)
    assert description["segments"]["ready"] == 1 and description["indexed_rows"] == ROWS - len(deleted)
    assert not any(p.exists() for p in old_files)
    live = np.ones(ROWS, dtype=bool)
    live[deleted] = False
    hits = db.search("docs", data.queries, limit=10, search_params={"ef": 64})
    assert _recall(hits, data.exact(live)) >= 0.95


def test_a_search_during_compaction_sees_one_consistent_snapshot(db: embedb.Client, data: Data) -> None:
    _fill(db, "docs", data, batches=4)
    db.create_index("docs", field_name="vector", index_type="FLAT")
    deleted = list(range(0, ROWS, 5))
    db.delete("docs", ids=deleted)
    live = np.ones(ROWS, dtype=bool)
    live[deleted] = False
    expected = data.exact(live)
    failures: list[str] = []
    stop = threading.Event()

    def search_loop() -> None:
        rounds = 0
        while not stop.is_set() or rounds < 3:
            hits = db.search("docs", data.queries, limit=10, filter="bucket >= 0")
            got = [[h["id"] for h in q] for q in hits]
            if got != expected:
                failures.append(f"round {rounds}: {sum(a != b for a, b in zip(got, expected, strict=True))} queries differ")
            rounds += 1

    reader = threading.Thread(target=search_loop)
    reader.start()
    try:
        assert db.compact("docs")["merged_segments"] == 4
        db.wait_for_index("docs", "vector", timeout=120)
    finally:
        stop.set()
        reader.join()
    assert not failures, failures[:3]


@pytest.fixture
def hnsw_docs(db: embedb.Client, data: Data) -> str:
    _fill(db, "docs", data)
    db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
    return "docs"


def _progress_beside(job: Callable[[], object]) -> int:
    """How many times this thread counts while ``job`` runs in another thread: ~0 if ``job`` holds the GIL."""
    worker = threading.Thread(target=job)
    count = 0
    worker.start()
    while worker.is_alive():
        count += 1
    worker.join()
    return count


def _cores_used(job: Callable[[], object]) -> float:
    """CPU seconds per wall-clock second while two threads run ``job`` at once (at most 1.0 if it holds the GIL)."""
    workers = [threading.Thread(target=job) for _ in range(2)]
    wall, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


@pytest.mark.perf
def test_searches_release_the_gil(db: embedb.Client, data: Data, hnsw_docs: str) -> None:
    """A thread keeps running Python while another searches; the control is C code that keeps the GIL."""
    query = data.queries[:1]
    big = list(range(3_000_000, 0, -1))

    def searches() -> None:
        # For a fixed time, not a fixed count: the counter's total then does not shrink when searches get faster.
        deadline = time.perf_counter() + 1.5
        while time.perf_counter() < deadline:
            db.search(hnsw_docs, query, limit=10, search_params={"ef": 4096})

    holding = _progress_beside(lambda: sorted(big))  # C code that keeps the GIL: the counter stalls
    releasing = _progress_beside(searches)
    print(f"counter beside a GIL-holding sort: {holding:,}; beside 1.5 s of searches: {releasing:,}")
    assert releasing > 20 * max(holding, 1_000), (releasing, holding)


@pytest.mark.perf
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_concurrent_searches_use_both_cores(db: embedb.Client, data: Data, hnsw_docs: str) -> None:
    """Two searching threads use about as many cores as two threads of GIL-free hashing.

    The hashing is the control: C code that releases the GIL, as Faiss does, measured in
    rounds interleaved with the searches. When other processes hold a core the control
    cannot use two either, so the searches are held to what the control got, not to a
    fixed number: three quarters of it (the rest is room for the Python around each
    kernel call). Searches that held the GIL would stay at one core, below that bar
    whenever the control got more than 1.33 cores.
    """
    query = data.queries[:1]

    def searching() -> None:
        for _ in range(100):
            db.search(hnsw_docs, query, limit=10, search_params={"ef": 2048})  # long kernel calls

    block = bytes(64 << 20)

    def hashing() -> None:
        for _ in range(3):
            hashlib.sha256(block).digest()

    rounds = [(_cores_used(hashing), _cores_used(searching)) for _ in range(5)]
    control = max(hashed for hashed, _ in rounds)
    searched = max(searched for _, searched in rounds)
    bar = 0.75 * control
    print(f"cores used by two threads, best of {len(rounds)} rounds: hashing {control:.2f}, searching {searched:.2f}, bar {bar:.2f}")
    assert searched >= bar, f"two searching threads used {searched:.2f} cores where GIL-free hashing used {control:.2f}"


def test_index_admin_follows_milvus(db: embedb.Client) -> None:
    db.create_collection("quick", dimension=DIM)
    description = db.describe_index("quick", "vector")
    assert (description["index_type"], description["requested_index_type"], description["metric_type"]) == ("HNSW", "AUTOINDEX", "COSINE")
    assert description["M"] == 16 and description["state"] == "Finished"
    db.create_collection("docs", schema=_schema().to_schema())
    assert db.list_indexes("docs") == []
    params = MilvusClient.prepare_index_params()
    params.add_index(field_name="vector", index_type="IVF_FLAT", index_name="ivf", metric_type="COSINE", params={"nlist": 16})
    db.create_index("docs", params)
    db.create_index("docs", params)  # the same index again: a no-op, as in Milvus
    assert db.list_indexes("docs") == ["ivf"] == db.list_indexes("docs", field_name="vector")
    assert db.describe_index("docs", "ivf")["nlist"] == 16
    with pytest.raises(IndexAlreadyExistsError, match="already has index 'ivf'"):
        db.create_index("docs", field_name="vector", index_type="HNSW")
    with pytest.raises(InvalidArgumentError, match=r"ef=3 is out of range: use an integer in \[5, 32768\]"):
        db.search("quick", np.ones(DIM), limit=5, search_params={"ef": 3})
    assert db.search("docs", np.ones(DIM), limit=5, search_params={"ef": 3}) == [[]], "ef does not apply to IVF_FLAT"
    db.drop_index("docs", "ivf")
    with pytest.raises(IndexNotFoundError):
        db.describe_index("docs", "ivf")
    with pytest.raises(IndexNotFoundError):
        db.drop_index("docs", "ivf")
    refused: list[tuple[dict[str, Any], str]] = [
        ({"index_type": "HNSW", "params": {"M": 0}}, "M=0 is out of range"),
        ({"index_type": "NOPE"}, "unknown index_type 'NOPE'"),
        ({"index_type": "HNSW", "field_name": "bucket"}, r"field .bucket. \(INT64\): unknown scalar index type .HNSW."),
    ]
    for bad, error in refused:
        with pytest.raises(InvalidArgumentError, match=error):
            db.create_index("docs", **{"field_name": "vector", **bad})
    with pytest.raises(FieldNotFoundError):
        db.create_index("docs", field_name="nope")
    with pytest.raises(CollectionNotFoundError):
        db.create_index("nope", field_name="vector")
    assert db.list_indexes("docs") == [], "a refused request defines nothing"


def test_index_params_at_create_collection_set_the_metric(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "milvus"))
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type="HNSW", metric_type="L2", params={"M": 8, "efConstruction": 32})
    client.create_collection("l2", schema=_schema(), index_params=params)
    assert client.backend.describe_collection("l2")["fields"][1]["metric_type"] == "L2"  # EmbeDB keeps it on the field
    assert client.describe_index("l2", "vector")["metric_type"] == "L2"
    client.close()


def test_range_and_grouping_search(db: embedb.Client, data: Data) -> None:
    _fill(db, "docs", data)
    db.create_index("docs", field_name="vector", index_type="HNSW", params={"M": 16, "efConstruction": 64})
    hits = db.search("docs", data.queries[:3], limit=20, search_params={"metric_type": "COSINE", "params": {"radius": 0.3, "range_filter": 0.7}})
    assert all(0.3 < h["distance"] <= 0.7 for q in hits for h in q) and all(len(q) == 20 for q in hits)
    grouped = db.search("docs", data.queries[:3], limit=4, group_by_field="bucket", group_size=2, strict_group_size=True)
    for q in grouped:
        buckets = [h["entity"]["bucket"] for h in q]
        assert len(q) == 8 and len(set(buckets)) == 4 and all(buckets.count(b) == 2 for b in buckets)
    with pytest.raises(InvalidArgumentError, match="grouping needs a BOOL, integer or VARCHAR field"):
        db.search("docs", data.queries[:1], limit=4, group_by_field="vector")
