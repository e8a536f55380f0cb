"""``tune_index``: the recipe it finds meets its recall target on queries it never saw, embedded and over HTTP.

Clustered 32-d vectors (a mixture of Gaussians, as embeddings are) in a real
collection; Optuna tunes on held-out stored rows; the recipe is applied (the
field's index rebuilt with it) and then fresh queries from the same mixture are
searched through EmbeDB with the recipe's search parameters and scored against
exact search.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from tests.support.bound_collections import bound_schema

from embedb.client import Client
from embedb.datasets import load_revdict
from embedb.errors import InvalidArgumentError

DIM, ROWS, CLUSTERS = 32, 6_000, 40


def mixture(rng: np.random.Generator, centers: np.ndarray, rows: int) -> np.ndarray:
    return (centers[rng.integers(0, len(centers), rows)] + 0.35 * rng.normal(size=(rows, DIM))).astype(np.float32)


@pytest.fixture
def clustered(db: Client, name: str) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(CLUSTERS, DIM))
    vectors = mixture(rng, centers, ROWS)
    db.create_collection(name, dimension=DIM, metric_type="L2")
    db.insert(name, [{"id": i, "vector": vectors[i].tolist()} for i in range(ROWS)])
    db.flush(name)
    return name, vectors, centers


def test_the_applied_recipe_meets_its_recall_on_unseen_queries(
    db: Client, clustered: tuple[str, np.ndarray, np.ndarray]
) -> None:
    name, vectors, centers = clustered
    report = db.tune_index(name, "vector", recall=0.9, k=10, trials=8, index_types=["HNSW", "IVF_FLAT"], apply=True)
    best = report["best"]
    assert best is not None and best["recall"] >= 0.9 and report["applied"]
    assert report["rows"] + report["queries"] == ROWS and report["queries"] == 200
    assert best in [{k: p[k] for k in best} for p in report["points"]]
    assert all(p["recall"] <= 1.0 and p["memory_bytes"] > 0 for p in report["points"])
    index = db.describe_index(name, "vector")
    assert index["index_type"] == best["index_type"]
    queries = mixture(np.random.default_rng(99), centers, 100)
    hits = db.search(name, queries, limit=10, search_params={"params": best["search_params"]})
    squared = (queries**2).sum(1)[:, None] + (vectors**2).sum(1)[None, :] - 2 * queries @ vectors.T
    exact = np.argsort(squared, axis=1)[:, :10]
    found = np.mean([len({h["id"] for h in q} & set(e.tolist())) / 10 for q, e in zip(hits, exact, strict=True)])
    assert found >= 0.85, found  # the target, less what a new sample of 100 queries may vary


def test_the_front_has_no_dominated_point_and_budgets_bind(
    db: Client, clustered: tuple[str, np.ndarray, np.ndarray]
) -> None:
    name, _, _ = clustered
    report = db.tune_index(name, "vector", recall=0.8, trials=6, index_types=["IVF_FLAT", "IVF_SQ8"], sample_rows=3_000)
    front = report["pareto"]
    measures = [(p["recall"], p["qps"], -p["memory_bytes"], -p["build_s"]) for p in front]
    for one in measures:  # larger is better in each measure here
        assert not any(all(o >= m for o, m in zip(other, one, strict=True)) and other != one for other in measures)
    tiny = db.tune_index(
        name, "vector", recall=0.8, trials=3, index_types=["IVF_FLAT"], sample_rows=3_000, max_memory_mb=0.01
    )
    assert tiny["best"] is None and not any(p["feasible"] for p in tiny["points"])


def test_bad_settings_are_refused(db: Client, clustered: tuple[str, np.ndarray, np.ndarray]) -> None:
    name, _, _ = clustered
    for options, match in (
        ({"recall": 1.5}, "recall"),
        ({"trials": 0}, "trials"),
        ({"index_types": ["FLATTISH"]}, "cannot tune"),
        ({"queries": {"texts": ["x"]}}, "model-bound"),
        ({"queries": {"vectors": [[1.0] * 3]}}, "32-d"),
    ):
        with pytest.raises(InvalidArgumentError, match=match):
            db.tune_index(name, "vector", **options)


def test_a_tuned_challenger_gets_its_own_index_and_is_promoted_on_it(db: Client, name: str) -> None:
    """The challenger's column is indexed by its recipe; the champion's index is untouched; promotion serves it."""
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model(model, "tests.support.toy_embedders:scrambled_8")  # a vector per distinct text
    texts = list(dict.fromkeys(text for _, text in load_revdict().corpus[:2_500]))
    db.create_collection(name, schema=bound_schema(model, max_length=2000))
    db.insert(name, [{"id": i, "text": text} for i, text in enumerate(texts)])
    db.flush(name)
    db.create_index(name, field_name="embedding", index_type="HNSW", params={"M": 8, "efConstruction": 40}, sync=True)
    db.add_embedding_version(name, "embedding", f"{model}/2", wait=True, timeout=120)
    report = db.tune_index(
        name, "embedding", embedding_version=f"{model}/2", recall=0.9, trials=4, index_types=["IVF_FLAT"], apply=True
    )
    best = report["best"]
    assert best is not None and report["applied"] and report["model_version"] == f"models:/{model}/2"
    index = db.describe_index(name, "embedding")
    assert (index["index_type"], index["params"]["M"]) == ("HNSW", 8), "the field's index (the champion's) stays"
    (own,) = index["version_indexes"].values()
    assert own == {"index_type": "IVF_FLAT", "params": best["params"], "search_params": best["search_params"]}
    assert index["state"] == "Finished" and index["failures"] == []
    (hits,) = db.search(name, texts[5], limit=5, embedding_version=f"{model}/2")
    assert hits[0]["id"] == 5
    moved = db.promote(name, "embedding", f"{model}/2")
    assert moved["to_version"] == f"models:/{model}/2"
    (served,) = db.search(name, texts[7], limit=5)
    assert served[0]["id"] == 7 and served[0]["distance"] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InvalidArgumentError, match="nprobe"):
        db.search(name, texts[7], limit=5, search_params={"params": {"nprobe": 0}})
    db.drop_index(name, "embedding")
    assert db.list_indexes(name) == []
    db.create_index(name, field_name="embedding", index_type="FLAT", sync=True)
    assert "version_indexes" not in db.describe_index(name, "embedding"), "a dropped index takes its versions' along"
