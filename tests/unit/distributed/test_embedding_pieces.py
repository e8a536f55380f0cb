"""How a backfill chunk is cut into Ray tasks: one piece per worker slot, in order, none too small to pay for itself."""

from __future__ import annotations

import pytest

from embedb.distributed.embedding_tasks import MIN_PIECE_TEXTS, _pieces


@pytest.mark.parametrize(("texts", "slots", "sizes"), [(4096, 4, [1024] * 4), (100, 2, [50, 50]), (10, 8, [10]), (0, 3, [])])
def test_a_chunk_is_cut_into_one_piece_per_slot_in_order(texts: int, slots: int, sizes: list[int]) -> None:
    chunk = [f"text {i}" for i in range(texts)]
    pieces = _pieces(chunk, slots)
    assert [len(piece) for piece in pieces] == sizes
    assert [text for piece in pieces for text in piece] == chunk  # the vectors come back in the chunk's order


def test_no_piece_is_smaller_than_the_minimum_unless_the_chunk_is() -> None:
    pieces = _pieces([str(i) for i in range(3 * MIN_PIECE_TEXTS - 1)], slots=16)
    assert len(pieces) == 2 and min(len(piece) for piece in pieces) >= MIN_PIECE_TEXTS
