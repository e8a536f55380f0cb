"""Sealed segment files: written atomically, checksummed per block, opened with mmap.

A sealed segment is a folder ``segments/<id>/`` with ``pk.npy``, ``seq.npy``,
``partition.npy``, ``scalars.arrow`` (Arrow IPC file) and, per vector column,
``vector.<n>.npy`` and ``norm.<n>.npy``. Its manifest (file names, sizes and a
CRC32 per 1 MiB block) lives in the catalog, which is the source of truth: a
folder the catalog does not name is debris of a crash and is removed on open.
Deletion marks are separate generation files ``deleted.<gen>.npy``; a vector
column under construction is ``partial.<hash>.npy`` (see ``partial_columns``).
"""

from __future__ import annotations

import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from embedb.errors import CorruptionError, FormatVersionError
from embedb.storage.durable import fsync_path, make_dirs_durable
from embedb.storage.segment import SegmentData

SEGMENT_FORMAT_VERSION = 1
BLOCK_BYTES = 1 << 20


def block_checksums(path: Path) -> list[int]:
    sums = []
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            sums.append(zlib.crc32(block))
    return sums


def verify_file(path: Path, entry: dict[str, Any]) -> None:
    """Raise ``CorruptionError`` naming the file and offset if ``path`` does not match ``entry``."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorruptionError(f"{path}: file is missing", file=str(path), offset=0) from None
    if size != entry["size"]:
        raise CorruptionError(
            f"{path}: size is {size} bytes, the catalog recorded {entry['size']}", file=str(path), offset=min(size, entry["size"])
        )
    with open(path, "rb") as handle:
        for index, expected in enumerate(entry["crc"]):
            block = handle.read(BLOCK_BYTES)
            if zlib.crc32(block) != expected:
                # A CRC locates the damaged block, not the byte inside it.
                offset = index * BLOCK_BYTES
                raise CorruptionError(
                    f"{path}: checksum mismatch in the {BLOCK_BYTES}-byte block at offset {offset}",
                    file=str(path),
                    offset=offset,
                )


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def write_segment(folder: Path, data: SegmentData) -> dict[str, Any]:
    """Write ``data`` into ``folder`` (which must not exist) atomically; return its manifest."""
    temp = folder.with_name(folder.name + ".tmp")
    if temp.exists():
        shutil.rmtree(temp)
    make_dirs_durable(folder.parent)
    temp.mkdir()
    _save_npy(temp / "pk.npy", data.pks)
    _save_npy(temp / "seq.npy", data.seqs)
    _save_npy(temp / "partition.npy", data.partitions)
    with pa.OSFile(str(temp / "scalars.arrow"), "wb") as sink, pa.ipc.new_file(sink, data.table.schema) as writer:
        writer.write_table(data.table)
    fsync_path(temp / "scalars.arrow")
    vectors: dict[str, dict[str, str]] = {}
    for number, (key, matrix) in enumerate(data.vectors.items()):
        names = {"vector": f"vector.{number}.npy", "norm": f"norm.{number}.npy"}
        _save_npy(temp / names["vector"], matrix.astype(np.float32, copy=False))
        _save_npy(temp / names["norm"], data.norms[key])
        vectors[key] = names
    files = {p.name: {"size": p.stat().st_size, "crc": block_checksums(p)} for p in sorted(temp.iterdir())}
    fsync_path(temp)
    os.replace(temp, folder)
    fsync_path(folder.parent)
    return {"format_version": SEGMENT_FORMAT_VERSION, "rows": data.num_rows, "files": files, "vectors": vectors}


def add_vector_column(folder: Path, manifest: dict[str, Any], key: str, vector_file: Path, norms: np.ndarray) -> dict[str, Any]:
    """Make the complete float32 ``.npy`` ``vector_file`` (in ``folder``) one more vector column; return the new manifest.

    The manifest is not published here. The file is hard-linked under the
    column's name, so ``vector_file`` stays as it is until the caller has
    published the manifest: a crash before that leaves the new names as debris
    and ``vector_file`` intact.
    """
    number = 1 + max((int(v["vector"].split(".")[1]) for v in manifest["vectors"].values()), default=-1)
    names = {"vector": f"vector.{number}.npy", "norm": f"norm.{number}.npy"}
    temp = folder / (names["norm"] + ".tmp")
    _save_npy(temp, norms)
    os.replace(temp, folder / names["norm"])
    target = folder / names["vector"]
    target.unlink(missing_ok=True)  # debris of an attempt that failed before its publication
    try:
        os.link(vector_file, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(vector_file, target)
        fsync_path(target)
    files = dict(manifest["files"])
    for name in names.values():
        files[name] = {"size": (folder / name).stat().st_size, "crc": block_checksums(folder / name)}
    fsync_path(folder)
    return {**manifest, "files": files, "vectors": {**manifest["vectors"], key: names}}


def read_segment(folder: Path, manifest: dict[str, Any], *, segment_id: int, verify: bool) -> SegmentData:
    """Open a sealed segment (vectors memory-mapped); verify checksums first when asked."""
    version = manifest.get("format_version", 0)
    if version > SEGMENT_FORMAT_VERSION:
        raise FormatVersionError(
            f"{folder}: segment format {version} is newer than this EmbeDB reads ({SEGMENT_FORMAT_VERSION}); upgrade EmbeDB"
        )
    if verify:
        for name, entry in manifest["files"].items():
            verify_file(folder / name, entry)
    table = pa.ipc.open_file(pa.memory_map(str(folder / "scalars.arrow"), "r")).read_all()
    vectors = {key: np.load(folder / names["vector"], mmap_mode="r") for key, names in manifest["vectors"].items()}
    norms = {key: np.load(folder / names["norm"], mmap_mode="r") for key, names in manifest["vectors"].items()}
    return SegmentData(
        segment_id=segment_id,
        table=table,
        pks=np.load(folder / "pk.npy", allow_pickle=False),
        seqs=np.load(folder / "seq.npy", allow_pickle=False),
        partitions=np.load(folder / "partition.npy", allow_pickle=False),
        vectors=vectors,
        norms=norms,
        sorted_by_pk=True,
    )


def verify_segment(folder: Path, manifest: dict[str, Any]) -> list[CorruptionError]:
    """Every checksum problem of one segment folder (for ``embedb check``)."""
    problems = []
    for name, entry in manifest["files"].items():
        try:
            verify_file(folder / name, entry)
        except CorruptionError as error:
            problems.append(error)
    return problems


def write_deletions(folder: Path, generation: int, deleted: np.ndarray) -> dict[str, Any]:
    """Persist a deletion bitmap as a new generation file; return its catalog entry."""
    name = f"deleted.{generation}.npy"
    temp = folder / (name + ".tmp")
    _save_npy(temp, np.packbits(deleted))
    os.replace(temp, folder / name)
    fsync_path(folder)
    path = folder / name
    return {"file": name, "rows": int(deleted.size), "size": path.stat().st_size, "crc": block_checksums(path)}


def read_deletions(folder: Path, entry: dict[str, Any] | None, rows: int, *, verify: bool) -> np.ndarray:
    if not entry:
        return np.zeros(rows, dtype=bool)
    path = folder / entry["file"]
    if verify:
        verify_file(path, entry)
    packed = np.load(path, allow_pickle=False)
    return np.unpackbits(packed, count=entry["rows"]).astype(bool)
