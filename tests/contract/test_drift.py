"""``drift``: a field's embeddings tested for drift, embedded and over HTTP, on texts, vectors and stored rows.

The field is bound to a real (toy, word-hashing) model and filled with shipped
WordNet texts: documents are lists of synonyms, queries are definitions, so a
stream of definitions after a reference of documents is a real shift of what the
field sees, and two random halves of the documents are not.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest

from embedb.client import Client
from embedb.datasets import load_revdict
from embedb.errors import InvalidArgumentError

DATA = load_revdict()
DOCS = [text for _, text in DATA.corpus[:400]]
DEFINITIONS = [text for _, text in DATA.queries[:200]]


@pytest.fixture
def collection(db: Client, name: str) -> str:
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 2000},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@champion"},
        ]
    }
    db.create_collection(name, schema=schema)
    rows = [{"id": i, "text": text} for i, text in enumerate(DOCS)]
    rows += [{"id": 1_000 + i, "text": text} for i, text in enumerate(DEFINITIONS)]
    db.insert(name, rows)
    db.flush(name)
    return name


def test_two_halves_of_one_stream_do_not_drift(db: Client, collection: str) -> None:
    report = db.drift(collection, "embedding", reference={"texts": DOCS[:200]}, current={"texts": DOCS[200:]})
    assert not report["detected"] and report["p_value"] > 0.05
    assert set(report["tests"]) == {"classifier", "mmd", "ood"}
    assert (report["reference_rows"], report["current_rows"]) == (200, 200)
    assert str(report["model_version"]).endswith("/1")


def test_a_new_kind_of_text_is_drift(db: Client, collection: str) -> None:
    report = db.drift(collection, "embedding", reference={"texts": DOCS[:200]}, current={"texts": DEFINITIONS})
    assert report["detected"] and report["p_value"] < 0.01
    assert report["tests"]["classifier"]["statistic"] > 0.8  # the held-out AUC
    stored = db.drift(
        collection, "embedding", reference={"filter": "id < 1000"}, current={"filter": "id >= 1000"}, max_rows=150
    )
    assert stored["detected"] and (stored["reference_rows"], stored["current_rows"]) == (150, 150)


def test_vectors_samples_and_chosen_tests(db: Client, collection: str) -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(size=(60, 16)).tolist()
    shifted = (rng.normal(size=(60, 16)) + 2.0).tolist()
    report = db.drift(
        collection,
        "embedding",
        reference={"vectors": same},
        current={"vectors": shifted},
        tests=["mmd"],
        permutations=199,
    )
    assert set(report["tests"]) == {"mmd"} and report["detected"]


def test_bad_requests_are_refused_by_name(db: Client, collection: str) -> None:
    good = {"texts": DOCS[:50]}
    for bad, match in (
        ({"words": DOCS[:50]}, "reference must be one of"),
        ({"texts": "one text"}, "list of strings"),
        ({"vectors": [[1.0, 2.0]] * 20}, "16-d vectors"),
        ({"filter": "id <"}, "expected a value"),
    ):
        with pytest.raises(InvalidArgumentError, match=match):
            db.drift(collection, "embedding", reference=bad, current=good)
    with pytest.raises(InvalidArgumentError, match="unknown drift tests"):
        db.drift(collection, "embedding", reference=good, current=good, tests=["ks"])
    with pytest.raises(InvalidArgumentError, match="max_rows"):
        db.drift(collection, "embedding", reference=good, current=good, max_rows=5)
    with pytest.raises(InvalidArgumentError, match="at least 10"):
        db.drift(collection, "embedding", reference={"texts": DOCS[:3]}, current=good)


def test_stored_rows_are_not_their_own_neighbours_however_they_are_given(db: Client, collection: str) -> None:
    rows = db.query(collection, "id < 150", output_fields=["embedding"], limit=150)
    vectors = [row["embedding"] for row in rows]
    for reference, current in (({"vectors": vectors}, {"filter": "id < 150"}), ({"filter": "id < 150"}, {"vectors": vectors})):
        report = db.drift(collection, "embedding", reference=reference, current=current, tests=["ood"])
        assert not report["detected"], report["tests"]["ood"]


def test_numbers_that_do_not_fit_are_refused_by_name(db: Client, collection: str) -> None:
    good = {"texts": DOCS[:50]}
    with pytest.raises(InvalidArgumentError, match="seed"):
        db.drift(collection, "embedding", reference=good, current=good, seed=-1)
    with pytest.raises(InvalidArgumentError, match="equal-length"):
        db.drift(collection, "embedding", reference={"vectors": [[1.0] * 16, [1.0] * 15] * 10}, current=good)
    with pytest.raises(InvalidArgumentError, match="seed"):
        db.tune_index(collection, "embedding", seed=-1)
    with pytest.raises(InvalidArgumentError, match="max_memory_mb"):
        db.tune_index(collection, "embedding", max_memory_mb=-1.0)
    with pytest.raises(InvalidArgumentError, match="max_memory_mb"):
        db.tune_index(collection, "embedding", max_memory_mb=1e308)
    with pytest.raises(InvalidArgumentError, match="eval_rows"):
        db.fine_tune(collection, "embedding", pairs=[], eval_rows=0)


def test_the_logged_query_stream_is_a_sample_in_time(db: Client, collection: str) -> None:
    """Text searches leave a sample of their texts; ``logged`` windows of them drift when the stream changes."""
    started = time.time()
    db.search(collection, DOCS[:15], limit=3)
    middle = time.time()
    db.drift(collection, "embedding", reference={"texts": DOCS[:20]}, current={"logged": [started, middle]})
    db.search(collection, DEFINITIONS[:15], limit=3)
    ended = time.time()
    calm = db.drift(collection, "embedding", reference={"texts": DOCS[20:60]}, current={"logged": [started, middle]})
    assert calm["current_rows"] == 15 and not calm["detected"]
    shifted = db.drift(collection, "embedding", reference={"logged": [started, middle]}, current={"logged": [middle, ended]})
    assert (shifted["reference_rows"], shifted["current_rows"]) == (15, 15) and shifted["detected"]
    with pytest.raises(InvalidArgumentError, match="kept 0 query texts"):
        db.drift(collection, "embedding", reference={"logged": [0, 1]}, current={"logged": [middle, ended]})
    with pytest.raises(InvalidArgumentError, match=r"\[since, until\]"):
        db.drift(collection, "embedding", reference={"logged": [ended, started]}, current={"logged": [middle, ended]})


def test_windows_past_any_clock_are_refused_by_name(db: Client, collection: str) -> None:
    """Huge finite bounds once overflowed SQLite's integers (a 500): now a clean refusal, for drift, decay and series."""
    windows: list[list[float]] = [[0.0, 1e308], [-1e308, 1e308], [1e30, 1e31]]
    for window in windows:
        with pytest.raises(InvalidArgumentError, match="epoch seconds"):
            db.drift(collection, "embedding", reference={"logged": window}, current={"texts": DOCS[:20]})
        with pytest.raises(InvalidArgumentError, match="epoch seconds"):
            db.decay(collection, "embedding", reference=window)
    with pytest.raises(InvalidArgumentError, match="epoch seconds"):
        db.monitor(collection, "embedding", since=1e30, until=1e30)


def test_a_drift_test_is_not_traffic_the_field_served(db: Client, collection: str) -> None:
    """The out-of-distribution test searches the field for each sample item: those searches are not counted."""
    db.search(collection, DOCS[:3], limit=3)

    def served() -> int:
        return sum(int(v["totals"]["queries"]) for v in db.monitor(collection, "embedding")["versions"].values())

    before = served()
    assert before == 3
    db.drift(collection, "embedding", reference={"texts": DOCS[:40]}, current={"filter": "id >= 1000"}, tests=["ood"])
    assert served() == before
