"""Seeded samples of a collection's stored vectors, for the operations that study them (drift, index tuning)."""

from __future__ import annotations

from typing import Any

import numpy as np

from embedb.metadata import CollectionMetadata
from embedb.query import filter_mask
from embedb.storage import CollectionInfo


def stored_sample(
    metadata: CollectionMetadata,
    info: CollectionInfo,
    key: str,
    dimension: int,
    expression: str,
    max_rows: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[Any], int]:
    """At most ``max_rows`` live rows matching ``expression`` (all when blank), drawn with ``rng``: vectors of column
    ``key``, keys, and how many live rows matched (a cluster draws each shard's share of one sample by it)."""
    compiled = metadata.compiled_filter(info, expression, None)
    found: list[tuple[int, np.ndarray]] = []
    views = list(metadata.store(info).snapshot().segments)
    for position, view in enumerate(views):
        keep = ~view.deleted[: view.data.num_rows]
        if compiled is not None:
            keep &= filter_mask(view.data, compiled)
        found.append((position, np.nonzero(keep)[0]))
    total = sum(len(rows) for _, rows in found)
    chosen = np.sort(rng.choice(total, min(total, max_rows), replace=False)) if total else np.empty(0, np.int64)
    vectors, keys, start = [], [], 0
    for position, rows in found:
        picked = rows[chosen[(chosen >= start) & (chosen < start + len(rows))] - start]
        start += len(rows)
        if picked.size:
            data = views[position].data
            vectors.append(np.asarray(data.vectors[key][picked], dtype=np.float64))
            keys.extend(data.pks[picked].tolist())
    return (np.vstack(vectors) if vectors else np.empty((0, dimension))), keys, total
