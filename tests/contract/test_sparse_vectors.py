"""SPARSE_FLOAT_VECTOR fields: {dimension: weight} rows in and out, searched by inner product exactly as SciPy computes it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from embedb.client import Client
from embedb.errors import DataError, FilterError, InvalidArgumentError

SCHEMA = {
    "fields": [
        {"name": "id", "type": "INT64", "is_primary": True},
        {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR"},
        {"name": "tag", "type": "INT64"},
    ]
}


def _rows(count: int, seed: int, dims: int = 2000, start: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        chosen = rng.choice(dims, size=int(rng.integers(0, 12)), replace=False)
        rows.append({"id": start + i, "sparse": {int(d): float(rng.random()) for d in chosen}, "tag": (start + i) % 3})
    return rows


def _matrix(rows: list[dict[str, object]], dims: int) -> sp.csr_matrix:
    data, indices, indptr = [], [], [0]
    for row in rows:
        vector = row["sparse"]
        assert isinstance(vector, dict)
        for dim, weight in sorted(vector.items()):
            indices.append(dim)
            data.append(np.float32(weight))
        indptr.append(len(indices))
    return sp.csr_matrix((np.asarray(data, dtype=np.float32), indices, indptr), shape=(len(rows), dims))


def _expected(
    rows: list[dict[str, object]],
    query: dict[int, float],
    k: int,
    keep: Callable[[dict[str, object]], bool] | None = None,
) -> list[tuple[int, float]]:
    scores = (_matrix(rows, 2000) @ _matrix([{"sparse": query}], 2000).T).toarray().ravel()
    shares = (
        _matrix(rows, 2000).astype(bool).astype(np.int32)
        @ _matrix([{"sparse": query}], 2000).astype(bool).astype(np.int32).T
    ).toarray().ravel() > 0
    ranked = [
        (int(rows[i]["id"]), float(scores[i]))
        for i in np.argsort(-scores, kind="stable")
        if shares[i] and (keep is None or keep(rows[i]))
    ]
    return ranked[:k]


def test_search_matches_scipy_over_sealed_and_growing_rows(db: Client, name: str) -> None:
    db.create_collection(
        name,
        schema=SCHEMA,
        index_params=[{"field_name": "sparse", "index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP"}],
    )
    rows = _rows(400, seed=1)
    db.insert(name, rows[:250])
    db.flush(name)
    db.insert(name, rows[250:])
    db.delete(name, ids=[5, 260])
    live = [row for row in rows if row["id"] not in (5, 260)]
    for probe in (7, 300):
        query = rows[probe]["sparse"]
        assert isinstance(query, dict) and query
        hits = db.search(name, [query], limit=10, anns_field="sparse")[0]
        expected = _expected(live, query, 10)
        assert [hit["id"] for hit in hits] == [i for i, _ in expected]
        assert [hit["distance"] for hit in hits] == pytest.approx([s for _, s in expected], rel=1e-5)
    query = rows[7]["sparse"]
    assert isinstance(query, dict)
    filtered = db.search(name, [query], limit=5, filter="tag == 1")[0]
    assert [hit["id"] for hit in filtered] == [i for i, _ in _expected(live, query, 5, lambda r: r["tag"] == 1)]


def test_rows_come_back_as_given_and_scipy_rows_are_accepted(db: Client, name: str) -> None:
    db.create_collection(name, schema=SCHEMA)
    matrix = sp.csr_matrix(np.array([[0, 1.5, 0, 0.25], [0, 0, 0, 0]], dtype=np.float32))
    db.insert(name, {"id": [1, 2], "sparse": matrix, "tag": [0, 0]})
    db.insert(name, [{"id": 3, "sparse": [(7, 0.5), (2, 1.0)], "tag": 1}, {"id": 4, "sparse": {"9": 2.0}, "tag": 1}])
    got = {row["id"]: row["sparse"] for row in db.get(name, [1, 2, 3, 4], output_fields=["sparse"])}
    assert got == {1: {1: 1.5, 3: 0.25}, 2: {}, 3: {2: 1.0, 7: 0.5}, 4: {9: 2.0}}
    hit = db.search(name, [{9: 1.0}], limit=5, output_fields=["sparse"])[0]
    assert [(h["id"], h["entity"]["sparse"]) for h in hit] == [(4, {9: 2.0})], "rows sharing no dimension are not hits"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({2**32 - 1: 1.0}, "not an integer in"),
        ({-1: 1.0}, "not an integer in"),
        ({1: float("nan")}, "finite"),
        ({"x": 1.0}, "not an integer"),
        ([1.0, 2.0], "dict of dimension"),
        ([(1, 1.0), (1, 2.0)], "given twice"),
    ],
)
def test_bad_sparse_rows_are_refused_naming_the_row(db: Client, name: str, row: object, message: str) -> None:
    db.create_collection(name, schema=SCHEMA)
    with pytest.raises(DataError, match=message):
        db.insert(name, [{"id": 0, "sparse": {1: 1.0}, "tag": 0}, {"id": 1, "sparse": row, "tag": 0}])
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 0}]


def test_sparse_fields_are_not_filters_and_keep_their_metric(db: Client, name: str) -> None:
    db.create_collection(name, schema=SCHEMA)
    with pytest.raises(FilterError, match="vector field"):
        db.query(name, "sparse is null")
    with pytest.raises(InvalidArgumentError, match="uses metric IP"):
        db.create_index(name, field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="L2")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 30))
@example(seed=196, k=21)  # a query weight of 0 on the only dimension a row shares: no match
def test_any_query_ranks_as_the_exact_scipy_product(embedded_db: Client, seed: int, k: int) -> None:
    name = f"sparse_prop_{seed}_{k}"
    if not embedded_db.has_collection(name):
        embedded_db.create_collection(name, schema=SCHEMA)
        embedded_db.insert(name, _rows(120, seed, dims=50))
    rows = embedded_db.query(name, "", output_fields=["sparse", "tag"])
    query = {
        int(d): float(w)
        for d, w in zip(*np.unique(np.random.default_rng(seed + 1).integers(0, 50, 6), return_index=True), strict=True)
    }
    hits = embedded_db.search(name, [query], limit=k)[0]
    expected = _expected(rows, query, k)
    assert [hit["distance"] for hit in hits] == pytest.approx([s for _, s in expected], rel=1e-5)
    assert (
        {hit["id"] for hit in hits if hit["distance"] > expected[-1][1] + 1e-5} <= {i for i, _ in expected}
        if expected
        else hits == []
    )
