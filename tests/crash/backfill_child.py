"""Child process of the backfill crash tests: start (or resume) a backfill and report progress.

Usage: python -m tests.crash.backfill_child DATA_DIR start|resume [CHUNK_ROWS]
Prints ``segments <n>`` after each published segment and ``rows <n>`` after each
committed chunk, ``done`` at the end. With ``CHUNK_ROWS`` the database is
opened with ``backfill_chunk_rows=CHUNK_ROWS``; ``resume`` only opens it (the
job resumes by itself) and follows the last job.
"""

from __future__ import annotations

import sys
import time

import embedb
from embedb.config import Settings


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    settings = Settings(backfill_chunk_rows=int(sys.argv[3])) if len(sys.argv) > 3 else Settings()
    with embedb.connect(path, settings=settings) as db:
        start = mode == "start"
        job = db.add_embedding_version("docs", "embedding", "toy/2") if start else db.list_jobs("docs")[-1]
        seen_segments = seen_rows = -1
        while True:
            job = db.get_job(job["job_id"])
            if job["segments_done"] != seen_segments:
                seen_segments = job["segments_done"]
                print(f"segments {seen_segments}", flush=True)
            if job["rows_done"] != seen_rows:
                seen_rows = job["rows_done"]
                print(f"rows {seen_rows}", flush=True)
            if job["state"] not in ("PENDING", "RUNNING"):
                print(job["state"].lower(), flush=True)
                return
            time.sleep(0.02)


if __name__ == "__main__":
    main()
