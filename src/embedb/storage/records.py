"""What a write is, in storage terms, and how it is encoded in a WAL record.

A ``RowBatch`` has passed every check of the collection layer: the primary keys
are unique within the batch, the Arrow table matches the schema, each vector
column is a C-contiguous float32 matrix of the right width with finite values.
Storage trusts it. The encoding is one Arrow IPC stream, so decoding a 10k-row
batch costs no per-row Python work.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

VECTOR_PREFIX = "__vector__:"


class RecordKind(enum.IntEnum):
    INSERT = 1  # rows that must not exist yet
    UPSERT = 2  # delete any older row with the same key, then insert, atomically
    DELETE = 3  # delete rows by primary key
    DROP_PARTITION = 4  # delete every row of one partition


@dataclass(frozen=True)
class RowBatch:
    """Validated rows on their way into storage."""

    table: pa.Table  # scalar columns, the primary key first
    vectors: dict[str, np.ndarray]  # vector column key -> (n, dim) float32
    partition_id: int

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    @property
    def primary_keys(self) -> np.ndarray:
        return primary_key_array(self.table.column(0))

    @property
    def nbytes(self) -> int:
        return self.table.nbytes + sum(v.nbytes for v in self.vectors.values())


def primary_key_array(column: pa.ChunkedArray | pa.Array | np.ndarray) -> np.ndarray:
    """Primary keys as a NumPy array that sorts and searches: int64, or fixed-width unicode."""
    if isinstance(column, np.ndarray):  # keys a caller passed (get/delete by string ids)
        return column.astype(np.int64) if column.dtype.kind in "iu" else np.asarray(column, dtype=np.str_)
    if pa.types.is_integer(column.type):
        return np.asarray(column.to_numpy(), dtype=np.int64)
    values = column.to_numpy(zero_copy_only=False) if len(column) else np.array([], dtype=object)
    return np.asarray(values, dtype=np.str_)


def encode_batch(batch: RowBatch) -> memoryview:
    columns = list(batch.table.columns)
    names = list(batch.table.column_names)
    for key, matrix in batch.vectors.items():
        flat = pa.array(matrix.reshape(-1), type=pa.float32())
        columns.append(pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1]))
        names.append(VECTOR_PREFIX + key)
    metadata = {b"partition_id": str(batch.partition_id).encode()}
    table = pa.Table.from_arrays(columns, names=names).replace_schema_metadata(metadata)
    return _ipc_bytes(table)


def decode_batch(payload: bytes | memoryview) -> RowBatch:
    table = pa.ipc.open_stream(payload).read_all()
    partition_id = int((table.schema.metadata or {}).get(b"partition_id", b"0"))
    vectors: dict[str, np.ndarray] = {}
    keep: list[str] = []
    for name in table.column_names:
        if name.startswith(VECTOR_PREFIX):
            chunks = table.column(name)
            # A record holds one chunk; combine_chunks would copy it all the same.
            column = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
            dim = column.type.list_size
            flat = column.flatten().to_numpy(zero_copy_only=False)
            vectors[name[len(VECTOR_PREFIX) :]] = np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, dim)
        else:
            keep.append(name)
    return RowBatch(table.select(keep).replace_schema_metadata(None), vectors, partition_id)


def encode_keys(keys: np.ndarray) -> memoryview:
    array = pa.array(keys.tolist() if keys.dtype.kind == "U" else keys)
    return _ipc_bytes(pa.table({"pk": array}))


def decode_keys(payload: bytes | memoryview) -> np.ndarray:
    return primary_key_array(pa.ipc.open_stream(payload).read_all().column(0))


def encode_json(value: dict[str, object]) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def decode_json(payload: bytes | memoryview) -> dict[str, object]:
    decoded = json.loads(bytes(payload))
    assert isinstance(decoded, dict)  # written by encode_json only
    return decoded


def _ipc_bytes(table: pa.Table) -> memoryview:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    # A view of Arrow's buffer: no copy of a record that can be hundreds of MB.
    return memoryview(sink.getvalue())
