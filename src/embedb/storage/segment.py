"""Segments: immutable row sets (sealed, on disk) and the growing one (in memory).

Both kinds present the same read interface, ``SegmentData``: an Arrow table of
scalar columns, NumPy arrays of primary keys, row sequence numbers (the LSN of
the write that made the row) and partition ids, and one float32 matrix per
vector column. Deletion marks are kept apart (see ``SegmentView``), so that a
snapshot can pin the marks of the moment it was taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from embedb.storage.records import RowBatch, primary_key_array


@dataclass(frozen=True)
class SegmentData:
    """Rows of one segment, read-only.

    ``sorted_by_pk`` is true for sealed segments: their rows are stored in key
    order, so a key is found with ``np.searchsorted``; keys are unique among
    its live rows.
    """

    segment_id: int
    table: pa.Table
    pks: np.ndarray
    seqs: np.ndarray
    partitions: np.ndarray
    vectors: dict[str, np.ndarray]
    norms: dict[str, np.ndarray]
    sorted_by_pk: bool
    # Read-side results that depend only on these immutable rows (filter masks), for reuse.
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_rows(self) -> int:
        return int(self.pks.shape[0])

    def nbytes(self) -> int:
        return self.table.nbytes + sum(v.nbytes for v in self.vectors.values())

    def locate(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (positions in ``keys``, row numbers here) of every (key, row) pair that match.

        A key can match several rows of a growing segment (an old deleted row and
        a new one); callers combine this with the deletion marks. A key given
        twice yields a pair for each position, whether the segment is sealed or
        growing.
        """
        empty = np.empty(0, dtype=np.int64)
        if self.num_rows == 0 or keys.size == 0:
            return empty, empty
        if self.sorted_by_pk:
            # Search every key among the sorted rows.
            left = np.searchsorted(self.pks, keys, side="left")
            counts = np.searchsorted(self.pks, keys, side="right") - left
            hit = np.nonzero(counts)[0]
            positions, rows = _expand_runs(hit, left[hit], counts[hit])
            return positions, rows
        # Search every candidate row among the sorted keys.
        rows = np.nonzero(np.isin(self.pks, keys))[0]
        if rows.size == 0:
            return empty, empty
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        left = np.searchsorted(sorted_keys, self.pks[rows], side="left")
        counts = np.searchsorted(sorted_keys, self.pks[rows], side="right") - left
        rows, key_slots = _expand_runs(rows, left, counts)
        return order[key_slots].astype(np.int64), rows


def _expand_runs(owners: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (owner, start + i) for i < count, for each owner: the matches of a searchsorted run."""
    if owners.size == 0 or np.all(counts == 1):
        return owners.astype(np.int64), starts.astype(np.int64)
    repeated = np.repeat(owners, counts)
    offsets = np.arange(repeated.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return repeated.astype(np.int64), (np.repeat(starts, counts) + offsets).astype(np.int64)


@dataclass(frozen=True)
class SegmentView:
    """A segment together with the deletion marks a snapshot saw."""

    data: SegmentData
    deleted: np.ndarray  # bool per row; never mutated after publication
    sealed: bool
    deleted_count: int = field(default=-1)

    @property
    def live_count(self) -> int:
        count = self.deleted_count if self.deleted_count >= 0 else int(self.deleted.sum())
        return self.data.num_rows - count


def vector_norms(matrix: np.ndarray) -> np.ndarray:
    # einsum sums the squares without the (n, dim) temporary that np.linalg.norm makes.
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix)).astype(np.float32, copy=False)
    odd = ~np.isfinite(norms) | (norms < 1e-15)  # a float32 sum of squares overflows from ~1e19, underflows below ~1e-23
    if odd.any():
        wide = matrix[odd].astype(np.float64)
        norms = norms.copy()
        norms[odd] = np.sqrt(np.einsum("ij,ij->i", wide, wide))
    return norms


class GrowingSegment:
    """Recent rows in memory, appended in place so older snapshots stay valid.

    NumPy buffers grow by doubling; a snapshot keeps views of the first ``n``
    rows, which are never written again. The first reservation is
    ``capacity_hint`` rows (the size at which the segment gets sealed): the
    OS maps pages only when rows are written, so reserving ahead costs no
    memory and saves copying every row at each doubling. Not thread-safe: the
    collection's write lock serialises ``append``.
    """

    def __init__(self, segment_id: int, vector_dims: dict[str, int], pk_is_int: bool, *, capacity_hint: int = 1024) -> None:
        self.segment_id = segment_id
        self._capacity_hint = max(1, capacity_hint)
        self.vector_dims = dict(vector_dims)
        self._pk_is_int = pk_is_int
        self._batches: list[pa.RecordBatch] = []
        self._schema: pa.Schema | None = None
        self._rows = 0
        self._capacity = 0
        self._pks: np.ndarray = np.empty(0, dtype=np.int64 if pk_is_int else np.str_)
        self._seqs = np.empty(0, dtype=np.int64)
        self._partitions = np.empty(0, dtype=np.int32)
        self._vectors = {key: np.empty((0, dim), dtype=np.float32) for key, dim in vector_dims.items()}
        self._norms = {key: np.empty(0, dtype=np.float32) for key in vector_dims}
        self.min_lsn = 0
        self.max_lsn = 0
        self._cached: SegmentData | None = None

    @property
    def num_rows(self) -> int:
        return self._rows

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._batches) + sum(d * 4 for d in self.vector_dims.values()) * self._rows

    def _reserve(self, rows: int, pk_itemsize_from: np.ndarray) -> None:
        needed = self._rows + rows
        widen = pk_itemsize_from.dtype.kind == "U" and pk_itemsize_from.dtype.itemsize > self._pks.dtype.itemsize
        if needed <= self._capacity and not widen:
            return
        capacity = max(needed, self._capacity * 2, self._capacity_hint)
        pk_dtype = np.result_type(self._pks.dtype, pk_itemsize_from.dtype) if not self._pk_is_int else np.int64
        self._pks = _grown(self._pks, capacity, self._rows, pk_dtype)
        self._seqs = _grown(self._seqs, capacity, self._rows)
        self._partitions = _grown(self._partitions, capacity, self._rows)
        for key in self._vectors:
            self._vectors[key] = _grown(self._vectors[key], capacity, self._rows)
            self._norms[key] = _grown(self._norms[key], capacity, self._rows)
        self._capacity = capacity

    def append(self, batch: RowBatch, lsn: int) -> None:
        """Add the rows of ``batch`` written at ``lsn``."""
        n = batch.num_rows
        if n == 0:
            return
        keys = batch.primary_keys
        self._reserve(n, keys)
        start, stop = self._rows, self._rows + n
        self._pks[start:stop] = keys
        self._seqs[start:stop] = lsn
        self._partitions[start:stop] = batch.partition_id
        for key, matrix in batch.vectors.items():
            self._vectors[key][start:stop] = matrix
            self._norms[key][start:stop] = vector_norms(matrix)
        # Decoded from a WAL record, the columns are slices of the whole
        # record, vectors included: copy them out, or every record would stay
        # in memory beside the vectors copied above until the segment is sealed.
        table = batch.table.take(np.arange(n))
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        self._batches.extend(table.to_batches())
        self._rows = stop
        self.min_lsn = self.min_lsn or lsn
        self.max_lsn = lsn
        self._cached = None

    def view(self) -> SegmentData:
        """The rows so far, as an immutable ``SegmentData`` (cached until the next append)."""
        if self._cached is None:
            n = self._rows
            table = (
                pa.Table.from_batches(self._batches, schema=self._schema)
                if self._schema is not None
                else pa.table({})
            )
            self._cached = SegmentData(
                segment_id=self.segment_id,
                table=table,
                pks=self._pks[:n],
                seqs=self._seqs[:n],
                partitions=self._partitions[:n],
                vectors={key: matrix[:n] for key, matrix in self._vectors.items()},
                norms={key: norms[:n] for key, norms in self._norms.items()},
                sorted_by_pk=False,
            )
        return self._cached


def _grown(array: np.ndarray, capacity: int, used: int, dtype: np.dtype | type | None = None) -> np.ndarray:
    shape = (capacity, *array.shape[1:])
    grown = np.empty(shape, dtype=dtype or array.dtype)
    grown[:used] = array[:used]
    return grown


def take_rows(data: SegmentData, rows: np.ndarray, *, segment_id: int, sort_by_pk: bool) -> SegmentData:
    """A new ``SegmentData`` with the given rows of ``data`` (sorted by key when asked)."""
    if sort_by_pk:
        rows = rows[np.argsort(data.pks[rows], kind="stable")]
    return SegmentData(
        segment_id=segment_id,
        table=data.table.take(pa.array(rows, type=pa.int64())),
        pks=np.ascontiguousarray(data.pks[rows]),
        seqs=np.ascontiguousarray(data.seqs[rows]),
        partitions=np.ascontiguousarray(data.partitions[rows]),
        vectors={key: np.ascontiguousarray(m[rows]) for key, m in data.vectors.items()},
        norms={key: np.ascontiguousarray(n[rows]) for key, n in data.norms.items()},
        sorted_by_pk=sort_by_pk,
    )


def concat_segments(parts: list[SegmentData], *, segment_id: int) -> SegmentData:
    """Stack several segments' rows into one unsorted ``SegmentData`` (for compaction)."""
    keys = list(parts[0].vectors)
    tables = [p.table for p in parts if p.table.num_rows]
    table = pa.concat_tables(tables, promote_options="default") if tables else parts[0].table
    pk_values = [p.pks for p in parts]
    pks = np.concatenate(pk_values) if pk_values else parts[0].pks
    return SegmentData(
        segment_id=segment_id,
        table=table,
        pks=pks,
        seqs=np.concatenate([p.seqs for p in parts]),
        partitions=np.concatenate([p.partitions for p in parts]),
        vectors={k: np.concatenate([p.vectors[k] for p in parts]) for k in keys},
        norms={k: np.concatenate([p.norms[k] for p in parts]) for k in keys},
        sorted_by_pk=False,
    )


__all__ = [
    "GrowingSegment",
    "SegmentData",
    "SegmentView",
    "concat_segments",
    "primary_key_array",
    "take_rows",
    "vector_norms",
]
