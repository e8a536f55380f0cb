"""SPARSE_FLOAT_VECTOR values: ``{dimension: weight}`` rows, stored as an Arrow map column, searched by inverted lists.

A row is given as a dict (``{17: 0.5, 3: 1.2}``; JSON object keys as text
too), a list of ``(dimension, weight)`` pairs, or one row of a SciPy sparse
matrix. Dimensions are integers in ``[0, 2**32 - 1)``, weights finite
numbers; a row may be empty. Rows are kept sorted by dimension.

``SparseSegmentIndex`` is the inverted index of one segment's column
(Milvus's SPARSE_INVERTED_INDEX): every (dimension, row, weight) entry sorted by
dimension, so a query touches only the postings of its own dimensions and
scores every row with one ``bincount`` per query dimension. It is derived from
the rows alone, built on first use and kept with the segment's other memos.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from embedb.errors import DataError
from embedb.schema import FLOAT32_MAX
from embedb.text import term_vector

MAX_SPARSE_DIMENSION = 2**32 - 2  # Milvus keeps 2**32 - 1 out
SPARSE_ARROW_TYPE = pa.map_(pa.uint32(), pa.float32())
SparseRow = tuple[np.ndarray, np.ndarray]  # (dimensions uint32 ascending, weights float32)


def sparse_row(value: Any, what: str) -> SparseRow:
    """One sparse vector as (dimensions, weights), sorted and checked; ``DataError`` naming ``what`` otherwise."""
    if hasattr(value, "tocoo") and hasattr(value, "shape"):  # a SciPy sparse row (a 1 x n matrix or a 1-d array)
        coo = value.tocoo()
        if len(coo.shape) == 2 and coo.shape[0] != 1:
            raise DataError(f"{what}: a SciPy sparse row has 1 row, this one has {coo.shape[0]}")
        columns = coo.coords[-1] if hasattr(coo, "coords") else coo.col
        pairs = list(zip(np.asarray(columns).tolist(), coo.data.tolist(), strict=True))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        pairs = [tuple(p) for p in value]
    else:
        raise DataError(f"{what}: a sparse vector is a dict of dimension -> weight, got {type(value).__name__}")
    dims = np.empty(len(pairs), dtype=np.int64)
    weights = np.empty(len(pairs), dtype=np.float64)
    for slot, (dim, weight) in enumerate(pairs):
        number = _dimension(dim)
        if number is None or not 0 <= number <= MAX_SPARSE_DIMENSION:
            raise DataError(f"{what}: sparse dimension {dim!r} is not an integer in [0, {MAX_SPARSE_DIMENSION}]")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.integer, np.floating)) or not _fits_float32(weight):
            raise DataError(f"{what}: sparse weight {weight!r} at dimension {number} is not a finite float32 number")
        dims[slot], weights[slot] = number, weight
    order = np.argsort(dims, kind="stable")
    dims, weights = dims[order], weights[order]
    if dims.size > 1 and np.any(dims[1:] == dims[:-1]):
        raise DataError(f"{what}: sparse dimension {int(dims[1:][dims[1:] == dims[:-1]][0])} is given twice")
    return dims.astype(np.uint32), weights.astype(np.float32)


def _dimension(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit():  # JSON object keys are text ("²" is a digit, not an ASCII one)
        return int(text)
    return None


def _fits_float32(weight: float | int | np.integer | np.floating) -> bool:
    try:
        number = float(weight)
    except OverflowError:  # an int beyond any float
        return False
    return math.isfinite(number) and abs(number) <= FLOAT32_MAX


def sparse_column(values: list[Any], field_name: str) -> pa.Array:
    """A sparse field's rows (None for a missing one) as an Arrow map column; ``DataError`` names a bad row."""
    offsets = [0]
    dims: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    nulls = []
    for row, value in enumerate(values):
        if value is None:
            raise DataError(f"row {row}: missing sparse vector field {field_name!r}", row=row, field=field_name)
        row_dims, row_weights = sparse_row(value, f"row {row}: field {field_name!r}")
        dims.append(row_dims)
        weights.append(row_weights)
        offsets.append(offsets[-1] + row_dims.size)
        nulls.append(False)
    keys = pa.array(np.concatenate(dims) if dims else np.empty(0, np.uint32), type=pa.uint32())
    items = pa.array(np.concatenate(weights) if weights else np.empty(0, np.float32), type=pa.float32())
    return pa.MapArray.from_arrays(pa.array(offsets, type=pa.int32()), keys, items)


def term_count_column(texts: list[str | None], tokens: Callable[[str], list[str]], field_name: str) -> pa.Array:
    """A BM25 field's rows: the term counts ``tokens`` makes of each text (an empty row for no text)."""
    return sparse_column([term_vector(tokens(text)) if text else {} for text in texts], field_name)


def tokenized_index(
    memo: dict[Any, Any], key: str, texts: pa.ChunkedArray, tokens: Callable[[str], list[str]]
) -> SparseSegmentIndex:
    """The inverted lists of an analyzer version's term counts of one segment's ``texts``, made once per segment.

    An analyzer-bound BM25 field stores no rows per version: each segment's
    counts are made from its text on first use and kept in the segment's ``memo``
    under the version's column ``key``.
    """
    index: SparseSegmentIndex | None = memo.get(("sparse_index", key))
    if index is None:
        index = SparseSegmentIndex(term_count_column(texts.to_pylist(), tokens, key))
        memo[("sparse_index", key)] = index
    return index


class SparseSegmentIndex:
    """The inverted lists of one segment's sparse column: postings sorted by dimension."""

    def __init__(self, column: pa.Array | pa.ChunkedArray) -> None:
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        self.num_rows = len(array)
        offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64)
        base = int(offsets[0]) if offsets.size else 0
        dims = array.keys.to_numpy(zero_copy_only=False)
        weights = array.items.to_numpy(zero_copy_only=False)
        counts = np.diff(offsets)
        rows = np.repeat(np.arange(self.num_rows, dtype=np.int64), counts)
        dims = dims[base : base + rows.size]
        weights = weights[base : base + rows.size]
        order = np.argsort(dims, kind="stable")
        self.dims = dims[order]
        self.rows = rows[order]
        self.weights = weights[order].astype(np.float32)
        self.row_sums = np.bincount(rows, weights=np.asarray(weights, dtype=np.float64), minlength=self.num_rows)
        self.nbytes = self.dims.nbytes + self.rows.nbytes + self.weights.nbytes

    def postings(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, weights) of one dimension."""
        start, stop = np.searchsorted(self.dims, [dim, dim + 1])
        return self.rows[start:stop], self.weights[start:stop]

    def inner_products(self, query: SparseRow) -> np.ndarray:
        """Every row's inner product with one query (float32, zero for rows sharing no dimension)."""
        scores = np.zeros(self.num_rows, dtype=np.float64)
        for dim, weight in zip(query[0].tolist(), query[1].tolist(), strict=True):
            rows, values = self.postings(dim)
            if rows.size:
                scores += np.bincount(rows, weights=values.astype(np.float64) * weight, minlength=self.num_rows)
        with np.errstate(over="ignore"):  # a product beyond float32 is +inf, the best score there is
            return scores.astype(np.float32)
