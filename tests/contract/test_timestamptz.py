"""TIMESTAMPTZ fields: ISO 8601 text in, UTC text out, filters on instants (ISO '...') and durations (INTERVAL '...')."""

from __future__ import annotations

import pytest

from embedb.client import Client
from embedb.errors import DataError, FilterError, InvalidArgumentError, SchemaError

ROWS = [
    {"id": 0, "v": [1.0, 2.0], "ts": "2025-01-01T00:00:00+08:00"},
    {"id": 1, "v": [3.0, 4.0], "ts": "2025-01-03T00:00:00Z"},
    {"id": 2, "v": [5.0, 6.0], "ts": "2024-02-29T00:00:00+03:00"},
    {"id": 3, "v": [7.0, 8.0], "ts": None},
    {"id": 4, "v": [9.0, 1.0], "ts": "2025-01-01 06:00:00.250"},  # no offset: the collection's timezone
]


def _create(
    db: Client,
    name: str,
    properties: dict[str, str] | None = None,
    default: str | None = None,
    *,
    nullable: bool = True,
) -> None:
    field: dict[str, object] = {"name": "ts", "type": "TIMESTAMPTZ", "nullable": nullable}
    if default is not None:
        field["default_value"] = default
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "v", "type": "FLOAT_VECTOR", "dim": 2},
            field,
        ]
    }
    db.create_collection(name, schema=schema, properties=properties)


def _ids(db: Client, name: str, expression: str) -> list[int]:
    return sorted(row["id"] for row in db.query(name, expression))


def test_instants_are_stored_in_utc_and_returned_as_utc_text(db: Client, name: str) -> None:
    _create(db, name, {"timezone": "Asia/Shanghai"})
    db.insert(name, ROWS)
    got = {row["id"]: row["ts"] for row in db.query(name, "", output_fields=["ts"])}
    assert got == {
        0: "2024-12-31T16:00:00Z",
        1: "2025-01-03T00:00:00Z",
        2: "2024-02-28T21:00:00Z",
        3: None,
        4: "2024-12-31T22:00:00.250000Z",
    }
    hit = db.search(name, [[1.0, 2.0]], limit=1, output_fields=["ts"])[0][0]
    assert hit["entity"]["ts"] == "2024-12-31T16:00:00Z"


def test_filters_compare_instants_and_add_durations(db: Client, name: str) -> None:
    _create(db, name)
    db.insert(name, ROWS)
    assert _ids(db, name, "ts >= ISO '2025-01-01T00:00:00Z'") == [1, 4]
    assert _ids(db, name, "ts <= ISO '2024-12-31T16:00:00Z'") == [0, 2]
    assert _ids(db, name, "ts == ISO '2025-01-01T00:00:00+08:00'") == [0]
    assert _ids(db, name, "ts != ISO '2025-01-03T00:00:00Z'") == [0, 2, 4]
    assert _ids(db, name, "ts + INTERVAL 'P1D' <= ISO '2025-01-01T16:00:00Z'") == [0, 2]
    assert _ids(db, name, "ts - INTERVAL 'PT6H' == ISO '2025-01-01T00:00:00.25'") == [4]
    assert _ids(db, name, "ts is null") == [3]
    assert _ids(db, name, "ts > ISO '2025-01-01' and id < 3") == [1]
    hits = db.search(name, [[1.0, 2.0]], limit=10, filter="ts < ISO '2025-01-01T00:00:00Z'")[0]
    assert sorted(hit["id"] for hit in hits) == [0, 2]


def test_text_without_an_offset_follows_the_collection_timezone(db: Client, name: str) -> None:
    _create(db, name, {"timezone": "UTC"})
    db.insert(
        name,
        [
            {"id": 0, "v": [1.0, 1.0], "ts": "2025-01-01T00:00:00"},
            {"id": 1, "v": [1.0, 1.0], "ts": "2024-12-31T16:00:00Z"},
        ],
    )
    assert _ids(db, name, "ts == ISO '2025-01-01T00:00:00'") == [0]
    db.alter_collection_properties(name, {"timezone": "Asia/Shanghai"})
    assert _ids(db, name, "ts == ISO '2025-01-01T00:00:00'") == [1], "a filter reads the literal in the new zone"
    with pytest.raises(InvalidArgumentError, match="unknown timezone"):
        db.alter_collection_properties(name, {"timezone": "Mars/Olympus"})


def test_defaults_and_order_by(db: Client, name: str) -> None:
    _create(db, name, {"timezone": "Asia/Shanghai"}, default="2025-01-01T00:00:00")
    db.insert(
        name,
        [
            {"id": 0, "v": [1.0, 1.0]},
            {"id": 1, "v": [1.0, 1.0], "ts": "2026-06-01T00:00:00Z"},
            {"id": 2, "v": [1.0, 1.0], "ts": "1999-01-01T00:00:00Z"},
        ],
    )
    rows = db.query(name, "", output_fields=["ts"], order_by=["ts:desc"])
    assert [row["id"] for row in rows] == [1, 0, 2] and rows[1]["ts"] == "2024-12-31T16:00:00Z"


def test_bad_instants_are_refused_naming_the_row(db: Client, name: str) -> None:
    _create(db, name)
    for bad in ("invalid", "2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-01-01T00:00:00+24:00", 17):
        with pytest.raises(DataError, match="row 1"):
            db.insert(
                name, [{"id": 0, "v": [1.0, 1.0], "ts": "2025-01-01T00:00:00Z"}, {"id": 1, "v": [1.0, 1.0], "ts": bad}]
            )
    assert db.query(name, "", output_fields=["count(*)"]) == [{"count(*)": 0}]
    for expression, message in (
        ("ts > '2025-01-01'", "write an instant as ISO"),
        ("ts > 5", "cannot compare"),
        ("ts + 1 > ISO '2025-01-01'", "INTERVAL"),
        ("ts > ISO 'yesterday'", "not an ISO 8601 timestamp"),
        ("ts + INTERVAL 'P1M' > ISO '2025-01-01'", "years and months"),
    ):
        with pytest.raises(FilterError, match=message):
            db.query(name, expression)


def test_a_default_must_be_an_instant(db: Client, name: str) -> None:
    with pytest.raises(SchemaError, match="default value"):
        _create(db, name, default="soon")


def test_a_sorted_index_answers_the_same_rows(db: Client, name: str) -> None:
    _create(db, name, nullable=False)
    rows = [{"id": i, "v": [1.0, float(i)], "ts": f"2025-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"} for i in range(3000)]
    db.insert(name, rows)
    db.flush(name)
    expression = "ts >= ISO '2025-01-05T00:00:00Z' and ts < ISO '2025-01-06T00:00:00Z'"
    scanned = _ids(db, name, expression)
    db.create_index(name, field_name="ts", index_type="STL_SORT")
    assert _ids(db, name, expression) == scanned and len(scanned) > 50


def test_a_request_timezone_reads_the_filter_literals_there(db: Client, name: str) -> None:
    _create(db, name, {"timezone": "Asia/Shanghai"})
    db.insert(name, ROWS)
    assert _ids(db, name, "ts == ISO '2024-12-31 17:00:00'") == []
    rows = db.query(name, "ts == ISO '2024-12-31 11:00:00'", timezone="America/New_York")
    assert [row["id"] for row in rows] == [0]
    hits = db.search(name, [[1.0, 2.0]], limit=5, filter="ts == ISO '2024-12-31 16:00:00'", timezone="UTC")[0]
    assert [hit["id"] for hit in hits] == [0]
    with pytest.raises(InvalidArgumentError, match="unknown timezone"):
        db.query(name, "", timezone="Nowhere/Land")


def test_a_datetime_is_an_instant_embedded_and_over_http(db: Client, name: str) -> None:
    import datetime as dt

    _create(db, name)
    db.insert(
        name, [{"id": 9, "v": [1.0, 1.0], "ts": dt.datetime(2025, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))}]
    )
    assert db.query(name, "", output_fields=["ts"]) == [{"id": 9, "ts": "2025-01-01T00:00:00Z"}]
