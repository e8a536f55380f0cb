"""Dropping a version removes its indexes and their files at once, not at the next reopen (issue 18)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.lifecycle.conftest import bound_schema

import embedb
from embedb.backends.local import LocalBackend


def _index_files(path: Path) -> set[str]:
    return {p.name for p in (path / "collections").rglob("ann.*")}


def test_a_dropped_versions_index_files_go_with_it(tmp_path: Path) -> None:
    path = tmp_path / "data"
    db = embedb.connect(path, durability="relaxed", index_min_rows=16)
    assert isinstance(db, LocalBackend)
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8")
    db.create_collection(
        "docs",
        schema=bound_schema("toy"),
        index_params=[{"field_name": "embedding", "index_type": "HNSW", "params": {"M": 8, "efConstruction": 40}}],
    )
    db.insert("docs", [{"id": i, "text": f"text {i} about apples"} for i in range(100)])
    db.flush("docs")
    (index_name,) = db.list_indexes("docs")
    db.wait_for_index("docs", index_name, timeout=60)
    served_only = _index_files(path)
    db.add_embedding_version("docs", "embedding", "models:/toy/2", wait=True)
    assert db.wait_for_index("docs", index_name, timeout=60)["state"] == "Finished"
    both = _index_files(path)
    assert len(both) == 2 * len(served_only) >= 2, "one index per version and segment"

    db.drop_embedding_version("docs", "embedding", "models:/toy/2")
    assert _index_files(path) == served_only, "the dropped version's index files are gone now"
    described = db.describe_index("docs", index_name)
    assert described["state"] == "Finished" and described["failures"] == []
    db.close()
