"""Index files: written atomically into the segment folder, checksummed per block, verified on load.

An index of one (segment, vector column) is one file ``ann.<token>.<ext>`` in
the segment's folder, next to the vectors it indexes. It is written under a
temporary name, fsynced and renamed; its size and block CRCs (the same
``block_checksums`` as segment files) go into the catalog, which is the source
of truth: a file the catalog does not name is debris and is removed on open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from embedb.index.vector_index import IndexSpec, VectorIndex, make_index
from embedb.storage import block_checksums, fsync_path, verify_file

INDEX_FILE_PREFIX = "ann."
FILE_EXTENSIONS = {"faiss": "faiss", "hnswlib": "hnsw", "annoy": "annoy"}


def save_index(index: VectorIndex, folder: Path) -> dict[str, Any]:
    """Write ``index`` into ``folder`` durably; return its catalog entry ``{"file", "size", "crc"}``.

    Raises ``FileNotFoundError`` when the folder is gone (the segment was compacted away meanwhile).
    """
    name = f"{INDEX_FILE_PREFIX}{secrets.token_hex(6)}.{FILE_EXTENSIONS[index.spec.kind.library]}"
    temp = folder / (name + ".tmp")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} does not exist")
    try:
        index.save(temp)
        fsync_path(temp)
        final = folder / name
        os.replace(temp, final)
        fsync_path(folder)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return {"file": name, "size": final.stat().st_size, "crc": block_checksums(final)}


def load_index(spec: IndexSpec, dim: int, folder: Path, entry: dict[str, Any], *, verify: bool) -> VectorIndex:
    """Open the index file named by a catalog ``entry``.

    Raises ``CorruptionError`` naming the file (and block offset) when it is
    missing or its checksums differ, ``StorageError`` when the library cannot read it.
    """
    path = folder / entry["file"]
    if verify:
        verify_file(path, entry)
    index = make_index(spec, dim)
    index.load(path)
    return index


def remove_unlisted(folder: Path, keep: set[str]) -> None:
    """Delete index files (and temporaries) in ``folder`` that the catalog does not name."""
    if not folder.is_dir():
        return
    for path in folder.glob(INDEX_FILE_PREFIX + "*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)
