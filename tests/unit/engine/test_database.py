"""The composition root: one started Database per directory and mode, shared, stopped by the last holder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embedb
from embedb.backends.local import LocalBackend
from embedb.config import Settings
from embedb.engine import SHARED, Database, DatabaseState
from embedb.errors import ClosedError, DirectoryLockedError


def _local(client: embedb.Backend) -> LocalBackend:
    assert isinstance(client, LocalBackend)
    return client


def test_two_opens_of_one_directory_share_one_database(tmp_path: Path) -> None:
    first = _local(embedb.connect(tmp_path))
    second = _local(embedb.connect(tmp_path))
    assert first.database is second.database
    assert SHARED.holders(tmp_path) == 2

    first.create_collection("docs", dimension=4)
    first.close()
    assert second.database.state is DatabaseState.STARTED
    assert second.list_collections() == ["docs"]  # the second client keeps working

    second.close()
    assert second.database.state is DatabaseState.STOPPED
    assert SHARED.holders(tmp_path) == 0
    third = _local(embedb.connect(tmp_path))  # the lock was released: a fresh database opens
    assert third.database is not first.database
    assert third.list_collections() == ["docs"]
    third.close()


def test_a_read_only_open_gets_its_own_database(tmp_path: Path) -> None:
    writer = _local(embedb.connect(tmp_path))
    writer.create_collection("docs", dimension=4)
    reader = _local(embedb.connect(tmp_path, read_only=True))
    assert reader.database is not writer.database
    assert reader.database.read_only
    reader.close()
    writer.close()


def test_memory_databases_are_never_shared(tmp_path: Path) -> None:
    first = _local(embedb.connect(":memory:"))
    second = _local(embedb.connect(":memory:"))
    assert first.database is not second.database
    path = first.database.path
    first.close()
    second.close()
    assert not path.exists()  # the temporary directory went with the database


def test_a_stopped_database_releases_the_directory_and_cannot_restart(tmp_path: Path) -> None:
    database = Database(tmp_path, settings=Settings()).start()
    with pytest.raises(DirectoryLockedError):
        Database(tmp_path, settings=Settings())  # the directory's writer lock is held (same process, other open)
    database.stop()
    assert database.state is DatabaseState.STOPPED
    database.stop()  # idempotent
    with pytest.raises(ClosedError):
        database.start()
    again = Database(tmp_path, settings=Settings()).start()
    again.stop()


def test_storage_events_reach_the_index_service(tmp_path: Path) -> None:
    """A sealed segment is indexed: the store tells the database, which tells the index service."""
    client = _local(embedb.connect(tmp_path, index_min_rows=16, durability="relaxed"))
    client.create_collection("docs", dimension=8)
    rng = np.random.default_rng(0)
    client.insert("docs", {"id": np.arange(200), "vector": rng.standard_normal((200, 8)).astype(np.float32)})
    client.flush("docs")
    [name] = client.list_indexes("docs")
    described = client.wait_for_index("docs", name, timeout=60)
    assert described["state"] == "Finished"
    assert described["indexed_rows"] == 200
    client.close()
