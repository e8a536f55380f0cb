"""Segments in memory: key lookup behaves the same sealed or growing."""

from __future__ import annotations

import gc

import numpy as np
import pyarrow as pa
import pytest
from tests.unit.storage.conftest import make_batch

from embedb.storage.records import RowBatch, decode_batch, encode_batch
from embedb.storage.segment import GrowingSegment, take_rows


def pairs(located: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    return sorted(zip(located[0].tolist(), located[1].tolist(), strict=True))


@pytest.mark.parametrize("keys", [[5, 5], [3, 9, 3, 3], [4, 100, 4], [7]])
def test_locate_gives_a_pair_per_key_position_sealed_or_growing(keys: list[int]) -> None:
    growing = GrowingSegment(1, {"vector": 4}, pk_is_int=True)
    growing.append(make_batch([9, 3, 7, 5]), lsn=1)
    data = growing.view()
    sealed = take_rows(data, np.arange(data.num_rows), segment_id=2, sort_by_pk=True)
    wanted = np.array(keys, dtype=np.int64)
    from_growing = [(p, int(data.pks[r])) for p, r in pairs(data.locate(wanted))]
    from_sealed = [(p, int(sealed.pks[r])) for p, r in pairs(sealed.locate(wanted))]
    expected = [(p, k) for p, k in enumerate(keys) if k in (9, 3, 7, 5)]
    assert from_growing == expected
    assert from_sealed == expected


def test_locate_finds_every_row_of_a_key_in_a_growing_segment() -> None:
    growing = GrowingSegment(1, {"vector": 4}, pk_is_int=True)
    growing.append(make_batch([1, 2]), lsn=1)
    growing.append(make_batch([2]), lsn=2)  # an upsert: the old row is marked deleted elsewhere
    assert pairs(growing.view().locate(np.array([2, 2]))) == [(0, 1), (0, 2), (1, 1), (1, 2)]


def test_a_growing_segment_does_not_keep_the_wal_records_it_was_filled_from() -> None:
    # Decoded from a WAL record, a batch's scalar columns are slices of the
    # whole record, vectors included; the segment copies what it keeps.
    batch = make_batch(list(range(2_000)))
    batch = RowBatch(batch.table, {"vector": np.ones((2_000, 256), dtype=np.float32)}, 0)
    growing = GrowingSegment(1, {"vector": 256}, pk_is_int=True)
    gc.collect()
    before = pa.total_allocated_bytes()
    payload = encode_batch(batch)
    growing.append(decode_batch(payload), lsn=1)
    del payload
    gc.collect()
    assert pa.total_allocated_bytes() - before < batch.vectors["vector"].nbytes // 4
    assert growing.view().pks.tolist() == list(range(2_000))
