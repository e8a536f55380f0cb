"""Index files: atomic save, checksums in the entry, a damaged or missing file is a CorruptionError naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedb.errors import CorruptionError, StorageError
from embedb.index import IndexSpec, make_index, resolve_spec
from embedb.index.files import INDEX_FILE_PREFIX, load_index, remove_unlisted, save_index
from embedb.schema import MetricType

# A folder holding one saved HNSW index, its catalog entry and its spec.
Saved = tuple[Path, dict[str, Any], IndexSpec]


@pytest.fixture
def saved(tmp_path: Path, data_32d: tuple[np.ndarray, np.ndarray]) -> Saved:
    base, _ = data_32d
    spec = resolve_spec("HNSW", MetricType.COSINE, {"M": 8, "efConstruction": 32}, dim=32)
    index = make_index(spec, 32)
    index.build(base[:1500])
    entry = save_index(index, tmp_path)
    return tmp_path, entry, spec


def test_save_writes_one_checksummed_file(saved: Saved) -> None:
    folder, entry, _ = saved
    assert entry["file"].startswith(INDEX_FILE_PREFIX)
    assert [p.name for p in folder.iterdir()] == [entry["file"]], "no temporary file is left behind"
    assert entry["size"] == (folder / entry["file"]).stat().st_size and entry["crc"]


def test_load_verifies_and_answers(saved: Saved, data_32d: tuple[np.ndarray, np.ndarray]) -> None:
    folder, entry, spec = saved
    index = load_index(spec, 32, folder, entry, verify=True)
    assert index.ntotal == 1500
    assert index.search(data_32d[1][:2], 5, {"ef": 32}, None)[1].shape == (2, 5)


def test_a_flipped_byte_is_corruption_naming_the_file(saved: Saved) -> None:
    folder, entry, spec = saved
    path = folder / entry["file"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptionError) as caught:
        load_index(spec, 32, folder, entry, verify=True)
    assert entry["file"] in str(caught.value)
    assert caught.value.details["file"] == str(path) and caught.value.details["offset"] == 0


def test_a_missing_or_truncated_file_is_corruption(saved: Saved) -> None:
    folder, entry, spec = saved
    path = folder / entry["file"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptionError, match="size"):
        load_index(spec, 32, folder, entry, verify=True)
    path.unlink()
    with pytest.raises(CorruptionError, match="missing"):
        load_index(spec, 32, folder, entry, verify=True)


def test_an_unreadable_file_without_verification_is_a_storage_error(saved: Saved) -> None:
    folder, entry, spec = saved
    (folder / entry["file"]).write_bytes(b"not an index")
    with pytest.raises(StorageError, match="cannot read"):
        load_index(spec, 32, folder, entry, verify=False)


def test_unlisted_index_files_are_debris(saved: Saved) -> None:
    folder, entry, _ = saved
    (folder / f"{INDEX_FILE_PREFIX}deadbeef.faiss.tmp").write_bytes(b"half written")
    (folder / "vector.0.npy").write_bytes(b"segment data is not ours")
    remove_unlisted(folder, {entry["file"]})
    assert sorted(p.name for p in folder.iterdir()) == sorted([entry["file"], "vector.0.npy"])
