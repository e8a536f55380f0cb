"""BINARY_VECTOR fields: packed bytes in and out, HAMMING and JACCARD ranked exactly as NumPy counts bits."""

from __future__ import annotations

import numpy as np
import pytest

from embedb.client import Client
from embedb.errors import DataError, DimensionMismatchError, InvalidArgumentError, SchemaError

BITS = 64
ROWS = 300


def _schema(metric: str = "HAMMING", dim: int = BITS, vector_type: str = "BINARY_VECTOR") -> dict[str, object]:
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "bits", "type": vector_type, "dim": dim, "metric_type": metric},
        ]
    }


def _rows(bits: np.ndarray, start: int = 0) -> list[dict[str, object]]:
    return [{"id": start + i, "bits": np.packbits(row).tobytes()} for i, row in enumerate(bits)]


def _expected(bits: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    if metric == "HAMMING":
        return (bits != query).sum(axis=1).astype(np.float64)
    return 1.0 - (bits & query).sum(axis=1) / (bits | query).sum(axis=1)


@pytest.mark.parametrize("metric", ["HAMMING", "JACCARD"])
@pytest.mark.parametrize("index_type", ["BIN_FLAT", "BIN_IVF_FLAT"])
def test_search_ranks_by_the_bit_metric_over_sealed_and_growing_rows(
    db: Client, name: str, metric: str, index_type: str
) -> None:
    params = {"nlist": 8} if index_type == "BIN_IVF_FLAT" else {}
    db.create_collection(
        name,
        schema=_schema(metric),
        index_params=[{"field_name": "bits", "index_type": index_type, "metric_type": metric, "params": params}],
    )
    bits = np.random.default_rng(11).random((ROWS, BITS)) < 0.35
    db.insert(name, _rows(bits[:200]))
    db.flush(name)  # a sealed, indexed segment ...
    db.insert(name, _rows(bits[200:], start=200))  # ... and growing rows beside it
    for probe in (5, 250):
        query = bits[probe]
        hits = db.search(name, [np.packbits(query).tobytes()], limit=10, search_params={"params": {"nprobe": 8}})[0]
        expected = _expected(bits, query, metric)
        assert hits[0]["id"] == probe and hits[0]["distance"] == 0
        assert [hit["distance"] for hit in hits] == pytest.approx(np.sort(expected)[:10].tolist(), abs=1e-6)
        for hit in hits:
            assert expected[hit["id"]] == pytest.approx(hit["distance"], abs=1e-6)


def test_vectors_come_back_as_the_bytes_sent(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema())
    bits = np.random.default_rng(12).random((20, BITS)) < 0.5
    db.insert(
        name,
        _rows(bits[:10]) + [{"id": 10 + i, "bits": list(np.packbits(row).tolist())} for i, row in enumerate(bits[10:])],
    )
    db.flush(name)
    got = {row["id"]: row["bits"] for row in db.get(name, list(range(20)), output_fields=["bits"])}
    assert all(got[i] == np.packbits(bits[i]).tobytes() for i in range(20))
    hit = db.search(name, [np.packbits(bits[3]).tobytes()], limit=1, output_fields=["bits"])[0][0]
    assert hit["entity"]["bits"] == np.packbits(bits[3]).tobytes()


def test_range_search_keeps_distances_between_range_filter_and_radius(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema("JACCARD"))
    bits = np.random.default_rng(13).random((ROWS, BITS)) < 0.4
    db.insert(name, _rows(bits))
    query = bits[0]
    hits = db.search(
        name, [np.packbits(query).tobytes()], limit=ROWS, search_params={"params": {"radius": 0.7, "range_filter": 0.5}}
    )[0]
    expected = _expected(bits, query, "JACCARD")
    assert sorted(hit["id"] for hit in hits) == np.nonzero((expected >= 0.5) & (expected < 0.7))[0].tolist()


def test_bad_binary_input_is_refused_before_anything_is_written(db: Client, name: str) -> None:
    db.create_collection(name, schema=_schema("JACCARD"))
    with pytest.raises(DimensionMismatchError, match="8 bytes"):
        db.insert(name, [{"id": 1, "bits": b"\x01\x02"}])
    with pytest.raises(DataError, match="BINARY_VECTOR"):
        db.insert(name, [{"id": 1, "bits": [0.5] * 8}])
    with pytest.raises(DataError, match="no bit set"):
        db.search(name, [bytes(8)], limit=1)
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 0}]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (_schema(dim=12), "multiple of 8"),
        (_schema("COSINE"), "HAMMING or JACCARD"),
        (_schema("HAMMING", vector_type="FLOAT_VECTOR"), "COSINE, IP or L2"),
    ],
)
def test_binary_schema_rules(db: Client, name: str, schema: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        db.create_collection(name, schema=schema)


def test_index_types_must_fit_the_bits(db: Client, name: str, other_name: str) -> None:
    db.create_collection(name, schema=_schema())
    with pytest.raises(InvalidArgumentError, match="BIN_FLAT or BIN_IVF_FLAT"):
        db.create_index(name, field_name="bits", index_type="HNSW", metric_type="HAMMING")
    db.create_collection(other_name, schema=_schema("L2", vector_type="FLOAT_VECTOR"))
    with pytest.raises(InvalidArgumentError, match="other than BIN_FLAT"):
        db.create_index(other_name, field_name="bits", index_type="BIN_FLAT", metric_type="L2")
    db.create_index(name, field_name="bits", index_type="AUTOINDEX", metric_type="JACCARD")
    (index,) = db.list_indexes(name)
    assert db.describe_index(name, index)["index_type"] in ("AUTOINDEX", "BIN_FLAT")
