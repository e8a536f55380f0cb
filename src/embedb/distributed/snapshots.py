"""Shard snapshots in the object store: a manifest naming content-addressed files, each content uploaded once.

A snapshot of a shard's engine directory is a JSON manifest: the log positions and job
map it holds, its directories, and for each file its path and the SHA-256 of its
content. Contents live under ``<shard>/files/<sha256>`` and are uploaded only when no
snapshot stored them before, so a sealed segment or an index file (written once, never
changed) travels with the first snapshot that sees it, however many follow; each later
snapshot uploads only what changed (the catalog, the engine's WAL, new segments and
indexes) and a manifest. A file's hash is remembered by its size and modification time,
so an unchanged file is not read again.

Restoring writes every file of a manifest into the directory, checking each content
against its hash, and refuses a path that would land outside it. Snapshots taken
before manifests (a tar of the directory) still restore.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from embedb.distributed.object_store import ObjectStore
from embedb.errors import DataError

MANIFEST_FORMAT = 1
LEGACY_STATE = "embedb-shard.json"  # the state file inside a tar snapshot


class SnapshotStore:
    """A shard's snapshots: ``write`` a directory as a manifest, ``restore`` the newest into a directory."""

    def __init__(self, store: ObjectStore, folder: str) -> None:
        self.store = store
        self.snapshots = f"{folder}/snapshot/"
        self.files = f"{folder}/files/"
        self._hashes: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256)
        self._stored: set[str] | None = None  # contents known to be in the store (listed once, lazily)

    def write(self, directory: Path, parts: list[str], state: dict[str, Any], name: str) -> tuple[str, int]:
        """Store ``parts`` of ``directory`` (paths relative to it) and ``state`` as snapshot ``name``.

        Returns the snapshot's key and how many bytes of file content were uploaded for it.
        """
        if self._stored is None:
            self._stored = {key.rsplit("/", 1)[1] for key in self.store.keys(self.files)}
        files: dict[str, str] = {}
        folders: list[str] = []
        uploaded = 0
        for part in parts:
            root = directory / part
            for path in sorted([root, *root.rglob("*")]):
                relative = path.relative_to(directory).as_posix()
                if path.is_dir():
                    folders.append(relative)
                    continue
                digest = self._digest(path, relative)
                if digest not in self._stored:
                    body = path.read_bytes()
                    self.store.put(self.files + digest, body)
                    self._stored.add(digest)
                    uploaded += len(body)
                files[relative] = digest
        manifest = {"format": MANIFEST_FORMAT, **state, "folders": folders, "files": files}
        key = self.snapshots + name
        self.store.put(key, json.dumps(manifest, sort_keys=True).encode())
        return key, uploaded

    def restore(self, directory: Path) -> dict[str, Any] | None:
        """Write the newest snapshot into ``directory``; its state, or None when the shard has none."""
        keys = self.keys()
        if not keys:
            return None
        body = self.store.get(keys[-1])
        if body is None:
            raise DataError(f"snapshot {keys[-1]} is listed but cannot be read")
        if not body.startswith(b"{"):  # a tar of the directory, as snapshots were first stored
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                archive.extractall(directory, filter="data")
            state: dict[str, Any] = json.loads((directory / LEGACY_STATE).read_text())
            return state
        manifest = json.loads(body)
        if manifest.get("format") != MANIFEST_FORMAT:
            raise DataError(
                f"snapshot {keys[-1]} has format {manifest.get('format')!r}; this EmbeDB reads {MANIFEST_FORMAT}"
            )
        for relative in manifest["folders"]:
            _inside(directory, relative).mkdir(parents=True, exist_ok=True)
        for relative, digest in manifest["files"].items():
            content = self.store.get(self.files + digest)
            if content is None or hashlib.sha256(content).hexdigest() != digest:
                raise DataError(f"snapshot {keys[-1]}: the stored content of {relative} is missing or damaged")
            target = _inside(directory, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return {key: value for key, value in manifest.items() if key not in ("format", "folders", "files")}

    def keys(self) -> list[str]:
        """This shard's snapshot keys, oldest first (the last is the one ``restore`` reads)."""
        return self.store.keys(self.snapshots)

    def prune(self, keep: int) -> tuple[list[str], int]:
        """Delete every snapshot but the newest ``keep``, then the contents none of those names; return the kept
        snapshots' keys and how many objects were deleted. Run by the one writer of these snapshots, between writes."""
        keys = self.keys()
        kept, dropped = keys[-keep:], keys[:-keep]
        if not dropped:
            return kept, 0
        in_use: set[str] = set()
        for key in kept:
            body = self.store.get(key)
            if body is None:
                raise DataError(f"snapshot {key} is listed but cannot be read")
            if body.startswith(b"{"):  # a tar snapshot names no contents
                in_use.update(json.loads(body)["files"].values())
        unused = [key for key in self.store.keys(self.files) if key.rsplit("/", 1)[1] not in in_use]
        self.store.delete(dropped)  # the manifests first: a snapshot is never left naming a deleted content
        self.store.delete(unused)
        if self._stored is not None:
            self._stored -= {key.rsplit("/", 1)[1] for key in unused}
        return kept, len(dropped) + len(unused)

    def _digest(self, path: Path, relative: str) -> str:
        stat = path.stat()
        known = self._hashes.get(relative)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        self._hashes[relative] = (stat.st_size, stat.st_mtime_ns, digest.hexdigest())
        return digest.hexdigest()


def _inside(directory: Path, relative: str) -> Path:
    """``directory / relative``, refusing a path a damaged or hostile manifest would write outside it."""
    target = (directory / relative).resolve()
    if not target.is_relative_to(directory.resolve()):
        raise DataError(f"a snapshot names {relative!r}, outside the shard's directory")
    return target


def log_positions(key: str) -> tuple[int, int] | None:
    """The catalog and shard-log positions a snapshot holds, read from its name (``{catalog:012d}-{data:012d}``)."""
    catalog, _, data = key.rsplit("/", 1)[-1].partition("-")
    return (int(catalog), int(data)) if catalog.isdigit() and data.isdigit() else None
