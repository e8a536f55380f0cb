"""How many CPU threads model inference may use, for work that must leave room for searches.

A backfill embeds millions of texts while the database keeps answering queries on
the same machine. Torch and BLAS use every core by default, so a backfill would
take both cores of a small machine and queue every search behind it.
``limit_compute_threads(n)`` caps them while it is active.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def limit_compute_threads(threads: int) -> Iterator[None]:
    """Cap torch's intra-op threads and BLAS pools at ``threads`` inside the block (``0``: no cap).

    Torch's setting is process-wide, so other embeddings running meanwhile (a
    query's) use the same cap; it is restored when the block ends.
    """
    if threads <= 0:
        yield
        return
    with _lock:
        torch = sys.modules.get("torch")
        previous = torch.get_num_threads() if torch is not None else None
        if torch is not None and previous is not None and previous > threads:
            torch.set_num_threads(threads)
    try:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # BLAS keeps its own pool; torch was the big one
            yield
        else:
            with threadpool_limits(limits=threads):
                yield
    finally:
        with _lock:
            if torch is not None and previous is not None and previous > threads:
                torch.set_num_threads(previous)
