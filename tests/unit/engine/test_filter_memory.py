"""A collection's compiled filters are remembered until its next DDL: one compile per filter a workload repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedb.backends.local import LocalBackend


def test_a_repeated_filter_is_compiled_once_and_a_change_of_the_collection_compiles_it_again(tmp_path: Path) -> None:
    with LocalBackend(tmp_path / "db") as db:
        db.create_collection("c", dimension=2, enable_dynamic_field=True)
        db.insert("c", [{"id": i, "vector": [1.0, float(i)], "n": i % 4, "when": "2025-01-01T00:00:00"} for i in range(40)])
        metadata = db.database.metadata
        info = metadata.info("c")
        first = metadata.compiled_filter(info, "n == {v}", {"v": 1})
        assert metadata.compiled_filter(info, "n == {v}", {"v": 1}) is first
        assert metadata.compiled_filter(info, "n == {v}", {"v": 2}) is not first, "other params, another filter"
        long_ids, ends_only = np.arange(2000), np.arange(2000)
        ends_only[3:-3] = 7
        assert metadata.compiled_filter(info, "id in {k}", {"k": long_ids}) is not metadata.compiled_filter(
            info, "id in {k}", {"k": ends_only}
        )
        assert metadata.compiled_filter(info, "n == 1", None, "Asia/Tokyo") is not metadata.compiled_filter(
            info, "n == 1", None
        ), "another zone reads ISO instants otherwise"
        db.alter_collection_properties("c", {"timezone": "Asia/Tokyo"})  # DDL: every filter compiled again
        again = metadata.info("c")
        assert metadata.compiled_filter(again, "n == {v}", {"v": 1}) is not first
        assert [row["id"] for row in db.query("c", "n == {v}", filter_params={"v": 1}, limit=3)] == [1, 5, 9]
