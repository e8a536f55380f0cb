"""Readers and writers at once over HTTP: every call succeeds and every search sees a consistent snapshot."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable

import numpy as np
from tests.support.server_process import ServerProcess

from embedb.backends.http import HttpBackend

DIM = 16
WRITERS, READERS, BATCHES, BATCH = 2, 4, 15, 20


def test_searches_run_while_writers_insert(server: ServerProcess, admin: HttpBackend) -> None:
    name = f"conc_{uuid.uuid4().hex[:8]}"
    admin.create_collection(name, dimension=DIM, metric_type="L2")
    admin.insert(name, {"id": np.arange(100), "vector": np.random.default_rng(0).random((100, DIM), dtype=np.float32)})
    failures: list[BaseException] = []
    writers_done = threading.Event()
    seen_counts: list[int] = []

    def write(number: int) -> None:
        rng = np.random.default_rng(number)
        with HttpBackend(server.url, token=server.token) as db:
            for batch in range(BATCHES):
                start = 10_000 * (number + 1) + batch * BATCH
                db.insert(
                    name, {"id": np.arange(start, start + BATCH), "vector": rng.random((BATCH, DIM), dtype=np.float32)}
                )

    def read(number: int) -> None:
        rng = np.random.default_rng(100 + number)
        with HttpBackend(server.url, token=server.token) as db:
            while not writers_done.is_set():
                hits = db.search(name, rng.random((2, DIM), dtype=np.float32), limit=5)
                assert [len(query_hits) for query_hits in hits] == [5, 5]
                assert all(a["distance"] <= b["distance"] for q in hits for a, b in itertools.pairwise(q))
                seen_counts.append(db.query(name, "", output_fields=["count(*)"])[0]["count(*)"])

    def guarded(target: Callable[[int], None], number: int) -> None:
        try:
            target(number)
        except BaseException as error:  # reported below
            failures.append(error)

    writers = [threading.Thread(target=guarded, args=(write, n)) for n in range(WRITERS)]
    readers = [threading.Thread(target=guarded, args=(read, n)) for n in range(READERS)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writers_done.set()
    for thread in readers:
        thread.join(timeout=120)
    assert not failures, failures
    total = 100 + WRITERS * BATCHES * BATCH
    assert admin.get_collection_stats(name)["row_count"] == total
    assert seen_counts and all(100 <= count <= total and (count - 100) % BATCH == 0 for count in seen_counts)
