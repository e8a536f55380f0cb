"""Shard snapshots: a manifest of content-addressed files; unchanged contents are not uploaded again."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from embedb.distributed.object_store import DirectoryStore
from embedb.distributed.snapshots import LEGACY_STATE, SnapshotStore
from embedb.errors import DataError

STATE = {"catalog_seq": 3, "data_seq": 7, "job_ids": {"5": 1}}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: a file's bytes, None for a folder."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes() if path.is_file() else None)
        for path in sorted(root.rglob("*"))
    }


@pytest.fixture
def shard(tmp_path: Path) -> Path:
    data = tmp_path / "shard" / "data"
    (data / "segments").mkdir(parents=True)
    (data / "empty").mkdir()
    (data / "catalog.db").write_bytes(b"catalog v1")
    (data / "segments" / "1.arrow").write_bytes(b"sealed segment one" * 1000)
    (data / "segments" / "2.arrow").write_bytes(b"sealed segment two" * 1000)
    return tmp_path / "shard"


def test_a_restored_snapshot_is_the_directory_it_was_taken_of(tmp_path: Path, shard: Path) -> None:
    snapshots = SnapshotStore(DirectoryStore(tmp_path / "store"), "shard-0")
    key, _ = snapshots.write(shard, ["data"], STATE, name="000003-000007")
    assert key == "shard-0/snapshot/000003-000007"
    again = tmp_path / "again"
    assert SnapshotStore(DirectoryStore(tmp_path / "store"), "shard-0").restore(again) == STATE
    assert _tree(again) == _tree(shard)  # the empty folder too


def test_only_what_changed_is_uploaded_again(tmp_path: Path, shard: Path) -> None:
    snapshots = SnapshotStore(DirectoryStore(tmp_path / "store"), "shard-0")
    _, first = snapshots.write(shard, ["data"], STATE, name="1")
    assert first == sum(len(body) for body in _tree(shard).values() if body is not None)
    (shard / "data" / "catalog.db").write_bytes(b"catalog v2, longer")
    (shard / "data" / "segments" / "3.arrow").write_bytes(b"sealed segment three")
    _, second = snapshots.write(shard, ["data"], {**STATE, "data_seq": 9}, name="2")
    assert second == len(b"catalog v2, longer") + len(b"sealed segment three")
    # a router restarted later lists what is stored instead of uploading it again
    _, third = SnapshotStore(DirectoryStore(tmp_path / "store"), "shard-0").write(shard, ["data"], STATE, name="3")
    assert third == 0
    restored = tmp_path / "restored"
    assert SnapshotStore(DirectoryStore(tmp_path / "store"), "shard-0").restore(restored) == STATE
    assert _tree(restored) == _tree(shard)


def test_damaged_contents_and_paths_outside_the_directory_are_refused(tmp_path: Path, shard: Path) -> None:
    store = DirectoryStore(tmp_path / "store")
    snapshots = SnapshotStore(store, "shard-0")
    snapshots.write(shard, ["data"], STATE, name="1")
    digest = json.loads(store.get("shard-0/snapshot/1") or b"")["files"]["data/catalog.db"]
    store.put(f"shard-0/files/{digest}", b"bit rot")
    with pytest.raises(DataError, match=r"data/catalog\.db is missing or damaged"):
        snapshots.restore(tmp_path / "a")
    hostile = {"format": 1, **STATE, "folders": ["../escaped"], "files": {}}
    store.put("shard-0/snapshot/2", json.dumps(hostile).encode())
    with pytest.raises(DataError, match="outside the shard's directory"):
        snapshots.restore(tmp_path / "b")
    assert not (tmp_path / "escaped").exists()


def test_a_tar_snapshot_of_an_earlier_version_still_restores(tmp_path: Path, shard: Path) -> None:
    (shard / LEGACY_STATE).write_text(json.dumps(STATE))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(shard / "data", arcname="data")
        archive.add(shard / LEGACY_STATE, arcname=LEGACY_STATE)
    store = DirectoryStore(tmp_path / "store")
    store.put("shard-0/snapshot/000001-000001", buffer.getvalue())
    restored = tmp_path / "restored"
    assert SnapshotStore(store, "shard-0").restore(restored) == STATE
    assert _tree(restored) == _tree(shard)


def test_pruning_keeps_the_newest_snapshots_and_the_contents_they_name(tmp_path: Path, shard: Path) -> None:
    store = DirectoryStore(tmp_path / "store")
    snapshots = SnapshotStore(store, "shard-0")
    snapshots.write(shard, ["data"], STATE, name="000001-000001")
    (shard / "data" / "segments" / "1.arrow").unlink()  # compacted away
    (shard / "data" / "catalog.db").write_bytes(b"catalog v2")
    snapshots.write(shard, ["data"], STATE, name="000002-000005")
    (shard / "data" / "catalog.db").write_bytes(b"catalog v3")
    snapshots.write(shard, ["data"], STATE, name="000003-000009")
    kept, deleted = snapshots.prune(2)
    assert kept == ["shard-0/snapshot/000002-000005", "shard-0/snapshot/000003-000009"]
    assert deleted == 3, "the oldest manifest, segment 1, catalog v1"
    assert len(store.keys("shard-0/files/")) == 3  # segment 2, catalog v2 and v3
    assert snapshots.prune(2) == (kept, 0)
    (shard / "data" / "catalog.db").write_bytes(b"catalog v1")  # a content collected before comes back
    snapshots.write(shard, ["data"], STATE, name="000004-000012")
    snapshots.prune(2)
    restored = tmp_path / "restored"
    assert SnapshotStore(store, "shard-0").restore(restored) == STATE
    assert _tree(restored) == _tree(shard), "uploaded again, not taken for stored"
