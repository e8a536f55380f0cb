"""``kill -9`` a process writing BM25 documents; after reopening, BM25 scores agree with the rows that are there.

BM25's corpus statistics (row count, mean length, document frequencies) are
counted from the live rows at search time, never stored apart: so after any
crash they describe exactly the recovered rows. The test checks that claim by
recomputing every score from the recovered texts with a reference formula.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.bm25_reference import reference_bm25

import embedb
from embedb.storage.check import check_directory

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", [1, 2])
def test_bm25_statistics_follow_the_recovered_rows(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "db"
    for round_ in range(2):
        command = [sys.executable, "-m", "tests.crash.bm25_child", str(path), str(seed * 10 + round_)]
        with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 0.5 + 0.4 * round_
            while time.monotonic() < deadline:
                child.stdout.readline()
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
    assert check_directory(path).ok
    db = embedb.connect(path)
    try:
        rows = db.query("docs", "", output_fields=["text"])
        assert rows, "the writer acknowledged nothing"
        texts = {row["id"]: row["text"].split() for row in rows}
        for query in (["alpha"], ["beta", "mu"], ["gamma", "gamma", "zeta"]):
            expected = reference_bm25(texts, query)
            hits = db.search("docs", [" ".join(query)], limit=len(texts), anns_field="sparse")[0]
            assert {hit["id"]: round(hit["distance"], 3) for hit in hits} == {
                k: round(v, 3) for k, v in expected.items()
            }
    finally:
        db.close()
