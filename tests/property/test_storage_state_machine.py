"""The public embedded API against a ``dict[pk, row]`` model, driven by hypothesis.

Every rule does one thing through ``embedb.connect(path)`` and the same thing
to the model; the invariant compares every live row after every step. Small
segment and compaction thresholds make seals and merges happen within a short
run, and the ``reopen`` rule closes the database and opens the directory again,
so recovery from the WAL and from sealed segments is part of every run.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import embedb
from embedb import (
    CollectionSchema,
    DataError,
    DataType,
    DimensionMismatchError,
    DuplicateKeyError,
    FieldSchema,
    MetricType,
)

DIM = 4
TAG_BYTES = 6
ARRAY_CAPACITY = 3
KEYS = st.integers(min_value=0, max_value=40)
ENGINE_SETTINGS: dict[str, Any] = {
    "segment_max_rows": 12,
    "compaction_min_segment_rows": 8,
    "compaction_deleted_ratio": 0.25,
    "background_compaction": False,
    # The housekeeping thread would seal at times hypothesis cannot replay;
    # the ``housekeeping`` rule runs the same pass deterministically instead.
    "background_interval_s": 3600.0,
    "durability": "relaxed",
}

components = st.integers(min_value=-3, max_value=3).map(float)
vectors = st.lists(components, min_size=DIM, max_size=DIM).filter(lambda v: any(v))
tags = st.text(alphabet="abé", max_size=TAG_BYTES).filter(lambda t: len(t.encode()) <= TAG_BYTES)
json_values = st.none() | st.dictionaries(
    st.sampled_from(["a", "b"]), st.integers(-3, 3) | st.text(alphabet="xy", max_size=2) | st.booleans(), max_size=2
)
optional_doubles = st.none() | st.floats(min_value=-10, max_value=10, allow_nan=False).map(lambda x: round(x, 3))


@st.composite
def rows_for(draw: st.DrawFn, keys: list[int]) -> list[dict[str, Any]]:
    """One valid row per key, as a user would pass it (optional fields sometimes left out)."""
    rows = []
    for key in keys:
        row: dict[str, Any] = {
            "id": key,
            "vector": draw(vectors),
            "n": draw(st.integers(-5, 5)),
            "tag": draw(tags),
            "arr": draw(st.lists(st.integers(-3, 3), max_size=ARRAY_CAPACITY)),
        }
        if draw(st.booleans()):
            row["opt"] = draw(optional_doubles)
        if draw(st.booleans()):
            row["meta"] = draw(json_values)
        if draw(st.booleans()):
            row["color"] = draw(st.sampled_from(["red", "blue"]))  # a dynamic field
        rows.append(row)
    return rows


def expected_row(row: dict[str, Any]) -> dict[str, Any]:
    """What ``get(..., output_fields=["*"])`` returns for a row inserted as ``row``."""
    return {"opt": None, "meta": None, **row}


def as_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The same rows as a dict of columns (NumPy where it fits), without dynamic keys."""
    return {
        "id": np.array([r["id"] for r in rows], dtype=np.int64),
        "vector": np.array([r["vector"] for r in rows], dtype=np.float32),
        "n": np.array([r["n"] for r in rows], dtype=np.int64),
        "tag": [r["tag"] for r in rows],
        "opt": [r.get("opt") for r in rows],
        "meta": [r.get("meta") for r in rows],
        "arr": [r["arr"] for r in rows],
    }


def without_dynamic(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "color"}


FILTERS: dict[str, Any] = {
    "n > {x}": lambda row, x: row["n"] > x,
    'n <= {x} and tag != ""': lambda row, x: row["n"] <= x and row["tag"] != "",
    "n in [{x}, 0]": lambda row, x: row["n"] in (x, 0),
    "opt is null": lambda row, x: row["opt"] is None,
    "array_contains(arr, {x})": lambda row, x: x in row["arr"],
    'tag like "a%"': lambda row, x: row["tag"].startswith("a"),
    'color == "red"': lambda row, x: row.get("color") == "red",
}


class StorageMachine(RuleBasedStateMachine):
    """A collection with an INT64 key, a 4-d vector and scalar, nullable, JSON, ARRAY and dynamic fields."""

    def __init__(self) -> None:
        super().__init__()
        self.path = tempfile.mkdtemp(prefix="embedb-state-")
        self.model: dict[int, dict[str, Any]] = {}
        self.db: Any = None
        self.metric = MetricType.L2

    @initialize(metric=st.sampled_from([MetricType.L2, MetricType.COSINE]))
    def create(self, metric: MetricType) -> None:
        self.metric = metric
        self.db = embedb.connect(self.path, **ENGINE_SETTINGS)
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM, metric_type=metric),
                FieldSchema("n", DataType.INT64),
                FieldSchema("tag", DataType.VARCHAR, max_length=TAG_BYTES),
                FieldSchema("opt", DataType.DOUBLE, nullable=True),
                FieldSchema("meta", DataType.JSON, nullable=True),
                FieldSchema("arr", DataType.ARRAY, element_type=DataType.INT64, max_capacity=ARRAY_CAPACITY),
            ),
            enable_dynamic_field=True,
        )
        self.db.create_collection("c", schema=schema)

    def teardown(self) -> None:
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)

    # ------------------------------------------------------------- writes

    @precondition(lambda self: len(self.model) < 30)
    @rule(data=st.data(), columnar=st.booleans())
    def insert_new_keys(self, data: st.DataObject, columnar: bool) -> None:
        keys = data.draw(st.lists(KEYS.filter(lambda k: k not in self.model), min_size=1, max_size=6, unique=True))
        rows = data.draw(rows_for(keys))
        if columnar:
            rows = [without_dynamic(r) for r in rows]
        result = self.db.insert("c", as_columns(rows) if columnar else rows)
        assert result["insert_count"] == len(rows)
        assert result["ids"] == keys
        for row in rows:
            self.model[row["id"]] = expected_row(row)

    @precondition(lambda self: 0 < len(self.model) < 30)
    @rule(data=st.data())
    def insert_existing_key_is_refused(self, data: st.DataObject) -> None:
        existing = data.draw(st.sampled_from(sorted(self.model)))
        fresh = data.draw(st.lists(KEYS.filter(lambda k: k not in self.model), max_size=3, unique=True))
        keys = data.draw(st.permutations([existing, *fresh]))
        with pytest.raises(DuplicateKeyError):
            self.db.insert("c", data.draw(rows_for(keys)))

    @rule(data=st.data(), keys=st.lists(KEYS, min_size=1, max_size=6, unique=True), columnar=st.booleans())
    def upsert(self, data: st.DataObject, keys: list[int], columnar: bool) -> None:
        rows = data.draw(rows_for(keys))
        if columnar:
            rows = [without_dynamic(r) for r in rows]
        assert self.db.upsert("c", as_columns(rows) if columnar else rows)["upsert_count"] == len(rows)
        for row in rows:
            self.model[row["id"]] = expected_row(row)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=6))
    def delete_by_ids(self, keys: list[int]) -> None:
        expected = {k for k in keys if k in self.model}
        assert self.db.delete("c", ids=keys)["delete_count"] == len(expected)
        for key in expected:
            del self.model[key]

    @rule(x=st.integers(-6, 6))
    def delete_by_filter(self, x: int) -> None:
        doomed = [k for k, row in self.model.items() if row["n"] > x]
        assert self.db.delete("c", filter=f"n > {x}")["delete_count"] == len(doomed)
        for key in doomed:
            del self.model[key]

    # ---------------------------------------------------------- bad input

    @rule(
        data=st.data(), mistake=st.sampled_from(["dimension", "nan", "long_tag", "duplicate_in_batch", "cosine_zero"])
    )
    def bad_batch_is_refused_and_changes_nothing(self, data: st.DataObject, mistake: str) -> None:
        keys = data.draw(st.lists(KEYS, min_size=1, max_size=4, unique=True))
        rows = data.draw(rows_for(keys))
        victim = data.draw(st.integers(0, len(rows) - 1))
        expected_error: type[Exception] = DataError
        if mistake == "dimension":
            rows[victim]["vector"] = rows[victim]["vector"] + [1.0]
            expected_error = DimensionMismatchError
        elif mistake == "nan":
            rows[victim]["vector"][data.draw(st.integers(0, DIM - 1))] = math.nan
        elif mistake == "long_tag":
            rows[victim]["tag"] = data.draw(
                st.text(alphabet="abé", min_size=4, max_size=10).filter(lambda t: len(t.encode()) > TAG_BYTES)
            )
        elif mistake == "duplicate_in_batch":
            rows.append({**rows[victim], "n": 0})
        elif self.metric == "COSINE":
            rows[victim]["vector"] = [0.0] * DIM
        else:
            return  # a zero vector is a fine L2 vector
        operation = data.draw(st.sampled_from([self.db.insert, self.db.upsert]))
        with pytest.raises(expected_error):
            operation("c", rows)

    # -------------------------------------------------------------- reads

    @rule(keys=st.lists(KEYS, max_size=6))
    def get(self, keys: list[int]) -> None:
        got = self.db.get("c", keys, output_fields=["*"])
        wanted = [k for k in dict.fromkeys(keys) if k in self.model]  # a repeated key gives one row
        assert [row["id"] for row in got] == wanted
        for row in got:
            assert row == self.model[row["id"]]

    @rule(template=st.sampled_from(sorted(FILTERS)), x=st.integers(-6, 6))
    def query_with_filter(self, template: str, x: int) -> None:
        text = template.format(x=x)
        wanted = sorted(k for k, row in self.model.items() if FILTERS[template](row, x))
        got = self.db.query("c", text, output_fields=["*"])
        assert [row["id"] for row in got] == wanted, text
        for row in got:
            assert row == self.model[row["id"]]
        assert self.db.query("c", text, output_fields=["count(*)"]) == [{"count(*)": len(wanted)}]

    @rule(query=vectors, limit=st.integers(1, 6))
    def exact_search_matches_brute_force(self, query: list[float], limit: int) -> None:
        (hits,) = self.db.search("c", [query], limit=limit)
        keys = sorted(self.model)
        assert len(hits) == min(limit, len(keys))
        if not keys:
            return
        truth = brute_force_distances(np.array(query), np.array([self.model[k]["vector"] for k in keys]), self.metric)
        by_key = dict(zip(keys, truth.tolist(), strict=True))
        best_first = np.sort(truth)[::-1] if self.metric == "COSINE" else np.sort(truth)
        for rank, hit in enumerate(hits):
            assert hit["id"] in by_key
            assert hit["distance"] == pytest.approx(by_key[hit["id"]], abs=1e-4)
            # Ties may come in any order, but the k-th hit is as close as the true k-th.
            assert hit["distance"] == pytest.approx(float(best_first[rank]), abs=1e-4)
        assert len({hit["id"] for hit in hits}) == len(hits)

    # -------------------------------------------------------- maintenance

    @rule()
    def flush(self) -> None:
        self.db.flush("c")

    @rule()
    def compact(self) -> None:
        self.db.compact("c")

    @rule()
    def housekeeping(self) -> None:
        # What the background thread does: seal full segments, then compact.
        self.db.engine.housekeeping()

    @rule()
    def reopen(self) -> None:
        self.db.close()
        self.db = embedb.connect(self.path, **ENGINE_SETTINGS)

    # ---------------------------------------------------------- invariant

    @invariant()
    def every_live_row_matches_the_model(self) -> None:
        if self.db is None:
            return
        rows = self.db.query("c", "", output_fields=["*"])
        assert [row["id"] for row in rows] == sorted(self.model)
        for row in rows:
            assert row == self.model[row["id"]]
        assert self.db.query("c", "", output_fields=["count(*)"]) == [{"count(*)": len(self.model)}]
        assert self.db.get_collection_stats("c")["row_count"] == len(self.model)


def brute_force_distances(query: np.ndarray, matrix: np.ndarray, metric: str) -> np.ndarray:
    """Milvus distances in float64: squared L2, or cosine similarity."""
    if metric == "L2":
        return np.asarray(((matrix - query) ** 2).sum(axis=1))
    return np.asarray(matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)))


StorageMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_storage_state_machine = StorageMachine.TestCase
