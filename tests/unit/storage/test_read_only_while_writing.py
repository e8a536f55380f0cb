"""Read-only opens while another process writes, seals and compacts: every view is a consistent point in time.

The writer (a child process) inserts batches of BATCH consecutive keys, seals after
every few and compacts often, so segments and WAL files come and go under the
readers. Each read-only open must see exactly the keys of the first m batches for
some m (no gap, no half batch), never fewer than had been acknowledged before it
opened, and never fail because a file vanished between reading the catalog and
opening it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

import embedb

BATCH = 20
WRITER = textwrap.dedent(
    """
    import sys, numpy as np, embedb
    path, batches, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = embedb.connect(path, segment_max_rows=200, background_interval_s=0.05)
    for step in range(batches):
        keys = np.arange(step * batch, (step + 1) * batch, dtype=np.int64)
        db.insert("c", {"id": keys, "vector": np.ones((batch, 4), dtype=np.float32) + keys[:, None]})
        print(step + 1, flush=True)
        if step % 3 == 2:
            db.flush("c")
        if step % 5 == 4:
            db.compact("c")
    db.close()
    """
)


def test_read_only_views_stay_consistent_while_a_writer_seals_and_compacts(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with embedb.connect(path) as db:
        db.create_collection("c", dimension=4)
    acknowledged = 0
    views = 0
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "150", str(BATCH)], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        while child.poll() is None or views == 0:
            line = child.stdout.readline()
            if line.strip():
                acknowledged = int(line)
            with embedb.connect(path, read_only=True) as reader:
                rows = reader.query("c", filter="id >= 0", output_fields=["id"])
            keys = np.sort(np.array([row["id"] for row in rows], dtype=np.int64))
            assert keys.size % BATCH == 0, f"a half batch is visible: {keys.size} keys"
            np.testing.assert_array_equal(keys, np.arange(keys.size), err_msg="a gap in the view")
            assert keys.size >= acknowledged * BATCH, (
                f"saw {keys.size // BATCH} batches after {acknowledged} acknowledged"
            )
            views += 1
            time.sleep(0.001)
    assert child.returncode == 0
    assert views >= 5
