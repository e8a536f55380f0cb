"""An experiment whose query log lost entries says so: in its report (live, final, reopened) and in ``/metrics``.

The loss is real: a trigger in the catalog makes SQLite refuse the log's writes,
as a full disk or a corrupt page would, while everything else keeps working.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.server_process import TEST_EMBEDDERS, start_server

import embedb
from embedb.backends.http import HttpBackend
from embedb.client import Client
from embedb.storage.engine import CATALOG_FILE

TEXTS = ["red apple pie", "green apple tart", "stock market crash", "market prices fall", "blue whale song"]
QUERIES = ["apple", "market", "whale", "pie", "song"]


@contextlib.contextmanager
def log_writes_fail(data_path: Path) -> Iterator[None]:
    """While inside, every write to the experiment query log fails in SQLite (other writes work)."""
    catalog = sqlite3.connect(data_path / CATALOG_FILE, timeout=30)
    try:
        catalog.execute(
            "CREATE TRIGGER refuse_query_logs BEFORE INSERT ON experiment_queries"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END"
        )
        catalog.commit()
        yield
    finally:
        catalog.execute("DROP TRIGGER IF EXISTS refuse_query_logs")
        catalog.commit()
        catalog.close()


def running_experiment(db: Client) -> int:
    """``docs`` with a model-bound field, both versions backfilled, and an interleaving experiment on it."""
    db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    db.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 100},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": "toy@champion"},
        ]
    }
    db.create_collection("docs", schema=schema)
    db.insert("docs", [{"id": i, "text": t} for i, t in enumerate(TEXTS)])
    db.add_embedding_version("docs", "embedding", "toy@challenger", wait=True, timeout=60)
    started = db.start_experiment(
        "docs", "embedding", champion="toy@champion", challenger="toy@challenger", mode="interleave"
    )
    return int(started["experiment_id"])


def search_all(db: Client) -> None:
    for text in QUERIES:
        assert "query_id" in db.search("docs", text, limit=3)[0][0], "the search is routed by the experiment"


def test_a_report_on_incomplete_logs_says_so(tmp_path: Path) -> None:
    data_path = tmp_path / "data"
    with embedb.connect(data_path, durability="relaxed") as db:
        experiment_id = running_experiment(db)
        search_all(db)
        complete = db.experiment_report(experiment_id)
        assert complete["queries"] == len(QUERIES) and complete["dropped_queries"] == 0
        assert "incomplete" not in complete["reason"]

        with log_writes_fail(data_path):
            search_all(db)
            live = db.experiment_report(experiment_id)  # flushes the log first: the writes fail now
        assert live["queries"] == len(QUERIES), "searches kept working; their logs were lost"
        assert live["dropped_queries"] == len(QUERIES)
        assert f"incomplete logs: {len(QUERIES)} routed queries were lost" in live["reason"]

        search_all(db)  # logging works again; the loss stays on the record
        later = db.experiment_report(experiment_id)
        assert later["queries"] == 2 * len(QUERIES) and later["dropped_queries"] == len(QUERIES)
        final = db.stop_experiment(experiment_id)
        assert final["state"] == "STOPPED"
    with embedb.connect(data_path, read_only=True) as reopened:
        kept = reopened.experiment_report(experiment_id)
    assert kept["dropped_queries"] == len(QUERIES) and "incomplete logs" in kept["reason"]


def metric_value(text: str, name: str, experiment: int) -> float | None:
    for line in text.splitlines():
        if line.startswith(f'{name}{{experiment="{experiment}"}} '):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.mark.timeout(120)
def test_metrics_show_lost_experiment_logs(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", allow_code_models=TEST_EMBEDDERS)
    try:
        with HttpBackend(server.url, token=server.token) as db:
            experiment_id = running_experiment(db)
            search_all(db)
            assert db.experiment_report(experiment_id)["dropped_queries"] == 0  # written before the fault
            with log_writes_fail(server.data_path):
                search_all(db)
                report = db.experiment_report(experiment_id)
        assert report["dropped_queries"] == len(QUERIES) and "incomplete logs" in report["reason"]
        scraped = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {server.token}"}).text
        assert metric_value(scraped, "embedb_experiment_dropped_queries", experiment_id) == len(QUERIES)
    finally:
        server.stop()
