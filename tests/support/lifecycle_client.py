"""One client process of the lifecycle race over HTTP (issue 18): a role, run against a server for some seconds.

Usage: python -m tests.support.lifecycle_client URL TOKEN ROLE SECONDS

The server holds ``docs`` (``embedding`` follows ``toy@champion`` and has an
index; v1 16-d and v2 8-d READY, v3 32-d registered). Roles:

- ``switch``: promote v2, roll back, again and again;
- ``experiments``: start an experiment on the serving version against the other of
  v1 and v2, then stop it or promote it (in turn); a promotion by ``switch`` ends it;
- ``versions``: add v3 (waiting for its backfill), drop it, then try to drop v2
  (refused while it serves, is the rollback target or is in an experiment; added
  again when the drop went through);
- ``readwrite``: inserts of 5 rows (ids from ``WRITE_BASE``), each followed by a text
  search and a ``get`` of seed rows asking for ``embedding`` and ``embedding@version``:
  one version per answer, vectors of its dimension, each hit's score its cosine with the
  query embedded by that version (so the version that ranked is the one returned); the
  serving version is never RETIRING or RETIRED.

Every call that fails other than with a documented refusal, and every broken
check, is printed as a JSON line ``{"failure": ...}``; the last line is
``{"role": ..., "steps": n, "refused": {error class: n}, "written": n}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

import embedb
from embedb.client import Client
from embedb.contract import results
from embedb.errors import AlreadyExistsError, FailedPreconditionError, InUseError, NotFoundError
from embedb.models.testing import hash_embed

V1, V2, V3 = "models:/toy/1", "models:/toy/2", "models:/toy/3"
DIMENSIONS = {V1: 16, V2: 8, V3: 32}
DOCUMENTED_REFUSALS = (AlreadyExistsError, FailedPreconditionError, InUseError, NotFoundError)
WRITE_BASE = 100_000
SWITCH_PAUSE_S = 0.02  # leaves the experiments client room to finish some experiments
SEED_ROWS = 400


def fail(message: str) -> None:
    print(json.dumps({"failure": message}), flush=True)


def check_answer(where: str, rows: list[dict[str, Any]]) -> None:
    """One model version in one answer, and every vector of that version's dimension."""
    versions = {row["embedding@version"] for row in rows}
    if len(versions) > 1:
        fail(f"{where}: one answer, several versions {sorted(versions)}")
    for row in rows:
        version, vector = row["embedding@version"], row["embedding"]
        if version not in DIMENSIONS or len(vector) != DIMENSIONS[version]:
            fail(f"{where}: a {version} row carries a {len(vector)}-d vector")


def check_ranking(query: str, hits: list[results.Hit]) -> None:
    """Each hit's score is the cosine of its returned vector with the query embedded by the returned version.

    So the version that embedded the query and ranked the hits is the one whose vectors came back (every
    version here is a hashed bag of words, which the client can compute itself).
    """
    for hit in hits:
        version, vector = hit["entity"]["embedding@version"], np.asarray(hit["entity"]["embedding"], dtype=np.float64)
        if version not in DIMENSIONS or len(vector) != DIMENSIONS[version]:
            continue  # check_answer reports it
        embedded = hash_embed([query], dimension=DIMENSIONS[version])[0].astype(np.float64)
        norms = float(np.linalg.norm(embedded) * np.linalg.norm(vector))
        if norms and abs(float(embedded @ vector) / norms - hit["distance"]) > 1e-3:
            fail(f"search: a {version} hit scored {hit['distance']:.4f}, not its cosine with the query in {version}")


def serving(db: Client) -> dict[str, Any]:
    (version,) = [v for v in db.describe_collection("docs")["embedding_versions"]["embedding"] if v["serving"]]
    return version


def search(db: Client, step: int) -> None:
    query = f"apples {step % 7}"
    (hits,) = db.search("docs", query, limit=5, output_fields=["embedding", "embedding@version"])
    check_answer("search", [hit["entity"] for hit in hits])
    check_ranking(query, hits)
    rows = db.get("docs", [step % SEED_ROWS, (step * 7) % SEED_ROWS], output_fields=["embedding", "embedding@version"])
    check_answer("get", rows)
    if step % 10 == 0:
        version = serving(db)
        if version["state"] != "READY":
            fail(f"{version['model_version']} serves while {version['state']}")


def switch(db: Client, step: int) -> None:
    time.sleep(SWITCH_PAUSE_S)
    if step % 2 == 0:
        db.promote("docs", "embedding", V2)
    else:
        db.rollback("docs", "embedding")


def experiments(db: Client, step: int) -> None:
    champion = serving(db)["model_version"]
    challenger = V2 if champion == V1 else V1
    started = db.start_experiment("docs", "embedding", champion=champion, challenger=challenger, mode="split")
    if step % 2 == 0:
        db.stop_experiment(started["experiment_id"])
    else:
        promoted = db.promote_experiment(started["experiment_id"])
        if promoted["to_version"] != challenger:
            fail(f"promoting experiment {started['experiment_id']} served {promoted['to_version']}, not {challenger}")


def versions(db: Client, step: int) -> None:
    action = step % 3
    if action == 0:
        db.add_embedding_version("docs", "embedding", V3, wait=True, timeout=60)
    elif action == 1:
        db.drop_embedding_version("docs", "embedding", V3)
    else:  # races the switch client: refused while v2 serves, is the rollback target or is in an experiment
        db.drop_embedding_version("docs", "embedding", V2)
        try:
            db.add_embedding_version("docs", "embedding", V2, wait=True, timeout=60)
        except Exception as error:
            fail(f"v2 was dropped but could not be added again: {type(error).__name__}: {error}")


def main() -> None:
    url, token, role, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    db = embedb.connect(url, token=token)
    written = 0

    def readwrite(db: Client, step: int) -> None:
        nonlocal written
        start = WRITE_BASE + written
        db.insert("docs", [{"id": i, "text": f"row {i} pears {i % 5}"} for i in range(start, start + 5)])
        written += 5
        search(db, step)

    roles: dict[str, Callable[[Client, int], None]] = {
        "switch": switch,
        "experiments": experiments,
        "versions": versions,
        "readwrite": readwrite,
    }
    body = roles[role]
    steps = 0
    refused: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            body(db, steps)
        except DOCUMENTED_REFUSALS as refusal:
            refused[type(refusal).__name__] += 1
        except Exception as error:  # anything else breaks the run
            fail(f"{role} step {steps}: {type(error).__name__}: {error}")
            break
        steps += 1
    print(json.dumps({"role": role, "steps": steps, "refused": refused, "written": written}), flush=True)
    db.close()


if __name__ == "__main__":
    main()
