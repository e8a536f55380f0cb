"""Child process of the backfill crash test: start (or resume) a backfill and report progress.

Usage: python -m tests.crash.backfill_child DATA_DIR start|resume
Prints ``segments <n>`` after each published segment, ``done`` at the end.
"""

from __future__ import annotations

import sys
import time

import embedb


def main() -> None:
    path, mode = sys.argv[1], sys.argv[2]
    with embedb.connect(path) as db:
        start = mode == "start"
        job = db.add_embedding_version("docs", "embedding", "toy/2") if start else db.list_jobs("docs")[-1]
        seen = -1
        while True:
            job = db.get_job(job["job_id"])
            if job["segments_done"] != seen:
                seen = job["segments_done"]
                print(f"segments {seen}", flush=True)
            if job["state"] not in ("PENDING", "RUNNING"):
                print(job["state"].lower(), flush=True)
                return
            time.sleep(0.02)


if __name__ == "__main__":
    main()
