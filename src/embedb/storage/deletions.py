"""Deletion marks of one segment, copy-on-write so snapshots never see them change."""

from __future__ import annotations

import numpy as np


class DeletionMarks:
    """A bool per row (True = deleted) plus bookkeeping for persistence.

    ``mark`` replaces the array instead of writing into it, so a ``SegmentView``
    that holds the old array keeps the marks of the moment it was taken.
    ``generation`` numbers the persisted file; ``dirty`` says the marks changed
    since they were last written.
    """

    def __init__(self, deleted: np.ndarray, *, generation: int = 0) -> None:
        self.array = deleted
        self.count = int(deleted.sum())
        self.generation = generation
        self.dirty = False

    def mark(self, rows: np.ndarray) -> int:
        """Mark ``rows`` deleted; return how many were live before."""
        if rows.size == 0:
            return 0
        fresh = rows[~self.array[rows]]
        if fresh.size == 0:
            return 0
        fresh = np.unique(fresh)
        updated = self.array.copy()
        updated[fresh] = True
        self.array = updated
        self.count += int(fresh.size)
        self.dirty = True
        return int(fresh.size)

    def grow(self, capacity: int) -> None:
        """Make room for rows appended to a growing segment (new rows are live)."""
        if capacity > self.array.size:
            grown = np.zeros(capacity, dtype=bool)
            grown[: self.array.size] = self.array
            self.array = grown
