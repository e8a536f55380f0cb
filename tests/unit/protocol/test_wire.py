"""Packed arrays, Arrow streams and JSON: exact round trips, clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from embedb.errors import DataError
from embedb.milvus import IndexParams, MilvusClient
from embedb.protocol import wire
from embedb.schema import CollectionSchema


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"])
def test_packed_arrays_round_trip_bit_exact(dtype: str) -> None:
    array = (np.random.default_rng(0).random((5, 3)) * 100).astype(dtype)
    packed = wire.pack_array(array)
    assert set(packed) == wire.PACKED_KEYS and packed["shape"] == [5, 3]
    back = wire.unpack_array(wire.loads(wire.dumps(packed)))
    assert back.dtype == array.dtype and back.tobytes() == array.tobytes()


def test_special_floats_survive_packing() -> None:
    array = np.array([np.nan, np.inf, -0.0, 1e-45, 3.4e38], dtype=np.float32)
    assert wire.unpack_array(wire.pack_array(array)).tobytes() == array.tobytes()


@pytest.mark.parametrize(
    "packed",
    [
        {"dtype": "complex64", "shape": [1], "b64": ""},
        {"dtype": "float32", "shape": [1, 1, 1], "b64": "AAAAAA=="},
        {"dtype": "float32", "shape": [-1], "b64": ""},
        {"dtype": "float32", "shape": "4", "b64": ""},
        {"dtype": "float32", "shape": [True], "b64": "AAAAAA=="},
        {"dtype": "float32", "shape": [2], "b64": "AAAAAA=="},
        {"dtype": "float32", "shape": [1], "b64": "not base64!"},
        {"dtype": "float32", "shape": [1], "b64": 5},
        {"dtype": "float32", "shape": [10**12, 10**12], "b64": ""},
        {"dtype": "float32", "shape": [0, 2**62], "b64": ""},
        {"dtype": "uint8", "shape": [2**31, 0], "b64": ""},
    ],
)
def test_bad_packed_arrays_are_data_errors(packed: dict[str, object]) -> None:
    with pytest.raises(DataError):
        wire.unpack_array(packed)


def test_unpack_nested_only_touches_packed_objects() -> None:
    vector = np.arange(4, dtype=np.float32)
    value = {"rows": [{"v": wire.pack_array(vector), "meta": {"dtype": "x"}}], "n": 1}
    unpacked = wire.unpack_nested(value)
    assert isinstance(unpacked["rows"][0]["v"], np.ndarray)
    assert unpacked["rows"][0]["meta"] == {"dtype": "x"}
    assert wire.unpack_to_lists(value)["rows"][0]["v"] == [0.0, 1.0, 2.0, 3.0]


def test_to_wire_converts_what_users_hand_the_client() -> None:
    assert wire.to_wire({"a": np.int64(3), "b": (1, 2), "c": np.float32(0.5)}) == {"a": 3, "b": [1, 2], "c": 0.5}
    assert wire.is_packed(wire.to_wire(np.ones((2, 2), dtype=np.float32)))
    assert wire.to_wire(np.array(["x", "y"])) == ["x", "y"]
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = np.ones(2, dtype=np.float32), [1.0, 2.0]
    converted = wire.to_wire(objects)
    assert wire.is_packed(converted[0]) and converted[1] == [1.0, 2.0]
    schema = CollectionSchema.quick(dimension=3)
    assert wire.to_wire(schema) == schema.to_dict()
    builder = (
        MilvusClient.create_schema().add_field("id", "INT64", is_primary=True).add_field("v", "FLOAT_VECTOR", dim=2)
    )
    assert wire.to_wire(builder)["fields"][1]["dim"] == 2
    params = IndexParams()
    params.add_index("v", "HNSW", params={"M": 8})
    assert wire.to_wire(params)[0]["params"] == {"M": 8}
    packed_bytes = wire.to_wire(b"raw\x00\xff")
    assert wire.is_packed(packed_bytes) and wire.unpack_to_lists([packed_bytes]) == [b"raw\x00\xff"]
    assert wire.loads(wire.dumps({"v": b"\x01"}))["v"] == packed_bytes | {"shape": [1], "b64": "AQ=="}
    with pytest.raises(DataError, match="set"):
        wire.to_wire({1, 2})
    with pytest.raises(DataError, match="packed bytes"):
        wire.unpack_array({"dtype": "bytes", "shape": [3], "b64": "AQ=="})


def test_dumps_writes_non_finite_floats_instead_of_failing() -> None:
    text = wire.dumps({"x": math.nan, "y": math.inf, "s": "ü"})
    assert text == b'{"x":NaN,"y":Infinity,"s":"\xc3\xbc"}'
    assert math.isnan(wire.loads(text)["x"])


def test_dumps_escapes_text_utf8_cannot_hold() -> None:
    """An error message quoting a lone surrogate goes out as a JSON escape, never as a failed response."""
    text = wire.dumps({"message": "bad name '\ud800'", "s": "ü"})
    assert text == b'{"message":"bad name \'\\ud800\'","s":"\\u00fc"}'
    assert wire.loads(text) == {"message": "bad name '\ud800'", "s": "ü"}


def nesting(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


def random_json(rng: np.random.Generator, level: int = 0) -> object:
    """Values whose strings are full of brackets, quotes and backslashes, to trip a scanner that counts naively."""
    choice = rng.integers(0, 10)
    if level > 7 or choice < 3:
        return str(rng.choice(['a"[b', "\\", '\\"[{', "x]]}", '"', "\\\\\"}", "é[", "\U0001f600{", "\\u005b"]))
    if choice < 4:
        return [1.5, None, True][int(rng.integers(0, 3))]
    if choice < 7:
        return [random_json(rng, level + 1) for _ in range(int(rng.integers(0, 4)))]
    keys = ["[", "k", "{\\", '\"']
    return {str(rng.choice(keys)) + str(i): random_json(rng, level + 1) for i in range(int(rng.integers(0, 4)))}


def test_json_depth_is_measured_without_parsing() -> None:
    rng = np.random.default_rng(11)
    for _ in range(2_000):
        value = random_json(rng)
        body = json.dumps(value, ensure_ascii=bool(rng.integers(0, 2))).encode()
        for limit in (0, 1, 2, 4, 7):
            assert wire.json_too_deep(body, limit) == (nesting(value) > limit), body
    assert not wire.json_too_deep(b"[" * wire.MAX_JSON_DEPTH + b"]" * wire.MAX_JSON_DEPTH)
    assert wire.json_too_deep(b"[" * (wire.MAX_JSON_DEPTH + 1) + b"]" * (wire.MAX_JSON_DEPTH + 1))
    assert not wire.json_too_deep(b'{"a": "' + b"[" * 10_000 + b'"}')
    assert wire.json_too_deep(b"[" * 10_000_000)  # a body of brackets: answered in chunks


def test_arrow_streams_round_trip() -> None:
    table = pa.table({"id": [1, 2], "v": [[1.0, 2.0], [3.0, 4.0]]})
    assert wire.read_arrow_stream(wire.write_arrow_stream(table)).equals(table)
    assert wire.read_arrow_stream(wire.write_arrow_stream(table.to_batches()[0])).equals(table)
    with pytest.raises(DataError):
        wire.read_arrow_stream(b"not arrow")
    with pytest.raises(DataError):
        wire.read_arrow_stream(b"")
