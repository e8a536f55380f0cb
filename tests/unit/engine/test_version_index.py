"""A tuned index survives a reopen, is rebuilt if it was not built, and a column's own spec goes with its index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.index import resolve_spec
from embedb.index.catalog import version_definition
from embedb.schema import MetricType


def _indexed(db: embedb.Client, rows: int = 3_000) -> np.ndarray:
    vectors = np.random.default_rng(3).normal(size=(rows, 16)).astype(np.float32)
    db.create_collection("docs", dimension=16, metric_type="L2")
    db.insert("docs", [{"id": i, "vector": vectors[i].tolist()} for i in range(rows)])
    db.flush("docs")
    assert db.describe_index("docs", "vector")["index_type"] == "HNSW"  # quick setup indexes the field
    return vectors


def test_a_tuned_field_index_replaces_the_old_one_under_its_name_and_is_loaded_not_rebuilt(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        vectors = _indexed(db)
        report = db.tune_index("docs", "vector", recall=0.9, trials=3, index_types=["IVF_FLAT"], apply=True)
        assert report["best"] is not None
        built = db.describe_index("docs", "vector")
    assert (built["index_name"], built["index_type"], built["state"]) == ("vector", "IVF_FLAT", "Finished")
    assert built["params"] == report["best"]["params"] and "version_indexes" not in built
    with embedb.connect(tmp_path / "data") as db:
        reopened = db.describe_index("docs", "vector")
        assert (reopened["index_type"], reopened["segments"]) == ("IVF_FLAT", built["segments"]), "loaded, not rebuilt"
        (hits,) = db.search("docs", vectors[:1], limit=3)
        assert hits[0]["id"] == 0


def test_an_own_spec_set_without_its_build_is_built_on_reopen(tmp_path: Path) -> None:
    """The spec commits before any build: a process that stops then leaves a spec the next open builds."""
    with embedb.connect(tmp_path / "data") as db:
        _indexed(db)
        database = db.database  # type: ignore[attr-defined]
        info = database.metadata.info("docs")
        assert database.indexes.collection(info).wait_idle("vector", 60)
        spec = resolve_spec("IVF_FLAT", MetricType.L2, {"nlist": 16}, dim=16)
        records = database.indexes.catalog.set_version_definition(
            info.id,
            version_definition(
                database.indexes.collection(info).definitions["vector"], "vector", spec, {"nprobe": 4}, 0.0
            ),
        )
        assert records, "the HNSW indexes of the column were forgotten with the same transaction"
    with embedb.connect(tmp_path / "data") as db:
        database = db.database  # type: ignore[attr-defined]
        info = database.metadata.info("docs")
        assert database.indexes.collection(info).wait_idle("vector", 60)
        index = db.describe_index("docs", "vector")
        assert index["state"] == "Finished" and index["version_indexes"]["vector"]["params"]["nlist"] == 16
        assert index["indexed_rows"] == 3_000
        db.drop_index("docs", "vector")
        db.create_index("docs", field_name="vector", index_type="FLAT", sync=True)
        assert "version_indexes" not in db.describe_index("docs", "vector"), "a column's own spec goes with its index"


def test_a_version_added_again_starts_with_its_fields_index(tmp_path: Path) -> None:
    """A tuning racing a version's drop could leave the dropped column's spec behind: a re-added version drops it."""
    from tests.support.bound_collections import bound_schema

    from embedb.datasets import load_revdict
    from embedb.errors import IndexNotFoundError
    from embedb.index import admin

    texts = [text for _, text in load_revdict().corpus[:1_500]]
    with embedb.connect(tmp_path / "data") as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "tests.support.toy_embedders:scrambled_8")
        db.create_collection("docs", schema=bound_schema("toy", max_length=2000))
        db.insert("docs", [{"id": i, "text": text} for i, text in enumerate(texts)])
        db.flush("docs")
        db.create_index("docs", field_name="embedding", index_type="HNSW", sync=True)
        db.add_embedding_version("docs", "embedding", "toy/2", wait=True, timeout=60)
        database = db.database  # type: ignore[attr-defined]
        info = database.metadata.info("docs")
        key = "embedding@toy/2"
        spec = resolve_spec("IVF_FLAT", MetricType.COSINE, {"nlist": 8}, dim=8)
        admin.set_version_index(database.indexes, info, key, spec, {"nprobe": 2}, sync=True, timeout=60)
        assert key in db.describe_index("docs", "embedding")["version_indexes"]
        db.drop_embedding_version("docs", "embedding", "toy/2")
        assert "version_indexes" not in db.describe_index("docs", "embedding")
        with pytest.raises(IndexNotFoundError, match="holds no vectors"):
            admin.set_version_index(database.indexes, info, key, spec, {"nprobe": 2}, sync=True, timeout=60)
        base = database.indexes.collection(info).definitions["embedding"]
        database.indexes.catalog.set_version_definition(info.id, version_definition(base, key, spec, {}, 0.0))  # the race
        db.add_embedding_version("docs", "embedding", "toy/2", wait=True, timeout=60)
        assert "version_indexes" not in db.describe_index("docs", "embedding"), "the re-added version starts afresh"
        (hits,) = db.search("docs", texts[9], limit=3, embedding_version="toy/2")
        assert hits[0]["id"] == 9
