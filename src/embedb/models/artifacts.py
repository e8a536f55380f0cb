"""The content-addressed artifact store: ``<root>/<sha256>/`` holds one model's files.

An artifact is a directory (weights, tokenizer, preprocessing, pooling and
normalisation config — whatever the flavor wrote). Its identity is the sha256
of its manifest: the sorted lines ``"<file sha256>  <relative path>\\n"`` of every
file, as ``sha256sum`` prints them. The manifest is stored beside the files as
``MANIFEST_NAME`` so that a verification can name the file that changed.

Writes are atomic: a flavor writes into a staging directory, the store hashes
and fsyncs it, then renames it to its hash. A reader never sees half an artifact.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedb.errors import ArtifactIntegrityError, InvalidArgumentError, StorageError
from embedb.storage import fsync_path

MANIFEST_NAME = "embedb-manifest.sha256"
ARTIFACTS_DIR = "artifacts"  # the artifact store's root inside a data directory
_HASH_PATTERN = re.compile(r"[0-9a-f]{64}")  # fullmatch: "$" would also match before a final newline
_STAGING_DIR = ".staging"
_TRASH_DIR = ".trash"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of one file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _relative_files(directory: Path) -> list[str]:
    """Every regular file under ``directory`` as a sorted POSIX relative path (manifest excluded).

    Raises ``ArtifactIntegrityError`` naming a symbolic link: a link can point
    anywhere, so its target is not part of what the hash covers.
    """
    found: list[str] = []
    for path in directory.rglob("*"):
        if path.is_symlink():
            raise ArtifactIntegrityError(
                f"artifact file {path} is a symbolic link; artifacts hold plain files only", file=str(path)
            )
        if path.is_file():
            relative = path.relative_to(directory).as_posix()
            if relative != MANIFEST_NAME:
                found.append(relative)
    return sorted(found)


def manifest_text(directory: Path) -> str:
    """Return the manifest of ``directory``: one ``"<sha256>  <path>"`` line per file, sorted by path."""
    return "".join(f"{file_sha256(directory / rel)}  {rel}\n" for rel in _relative_files(directory))


def _parse_manifest(text: str, *, manifest_path: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, separator, relative = line.partition("  ")
        if not separator or not _HASH_PATTERN.fullmatch(digest) or not relative:
            raise ArtifactIntegrityError(
                f"artifact manifest {manifest_path} is malformed at line {number}", file=str(manifest_path)
            )
        entries[relative] = digest
    return entries


class ArtifactStore:
    """Content-addressed model artifacts under one root directory.

    ``stage()`` gives a directory to write into; ``commit_staged`` hashes it and
    moves it into place; ``verify`` checks every byte before a load. The store
    does not know which versions use an artifact: the registry decides when one
    can be removed.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, artifact_hash: str) -> Path:
        """Return the directory of an artifact (it may not exist); raise ``InvalidArgumentError`` on a bad hash."""
        if not isinstance(artifact_hash, str) or not _HASH_PATTERN.fullmatch(artifact_hash):
            raise InvalidArgumentError(f"{artifact_hash!r} is not an artifact hash (64 lowercase hex digits)")
        return self.root / artifact_hash

    def exists(self, artifact_hash: str) -> bool:
        """Return whether the artifact directory is present (its content is not checked)."""
        return self.path_of(artifact_hash).is_dir()

    @contextmanager
    def stage(self) -> Iterator[Path]:
        """Yield an empty staging directory; it is removed on exit unless committed."""
        staging = self.root / _STAGING_DIR / uuid.uuid4().hex
        try:
            staging.mkdir(parents=True)
        except OSError as error:
            raise StorageError(f"cannot create a staging directory under {self.root}: {error}") from error
        try:
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def commit_staged(self, staging: Path) -> str:
        """Hash, fsync and rename a staged directory into the store; return its hash.

        If an artifact with the same hash exists and verifies, the staged copy is
        dropped; if the existing one is damaged, it is replaced.
        """
        text = manifest_text(staging)
        if not text:
            raise StorageError(f"refusing to store an empty artifact from {staging}")
        artifact_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        (staging / MANIFEST_NAME).write_text(text, encoding="utf-8")
        for path in sorted(staging.rglob("*"), reverse=True):
            fsync_path(path)
        fsync_path(staging)
        target = self.path_of(artifact_hash)
        if target.is_dir():
            try:
                self.verify(artifact_hash)
                return artifact_hash
            except ArtifactIntegrityError:
                self.remove(artifact_hash)
        try:
            os.rename(staging, target)
        except OSError as error:
            raise StorageError(f"cannot move artifact {artifact_hash} into {self.root}: {error}") from error
        fsync_path(self.root)
        return artifact_hash

    def verify(self, artifact_hash: str) -> Path:
        """Check every file of an artifact against its hash; return its directory.

        Raises ``ArtifactIntegrityError`` naming the first file that is missing,
        changed or unexpected (``details['file']`` holds its path).
        """
        directory = self.path_of(artifact_hash)
        manifest_path = directory / MANIFEST_NAME
        if directory.is_symlink():
            raise ArtifactIntegrityError(
                f"artifact directory {directory} is a symbolic link; the store holds plain directories only",
                file=str(directory),
            )
        if not manifest_path.is_file():
            raise ArtifactIntegrityError(
                f"artifact {artifact_hash} is missing or has no manifest: {manifest_path}", file=str(manifest_path)
            )
        text = manifest_path.read_text(encoding="utf-8")
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != artifact_hash:
            raise ArtifactIntegrityError(
                f"artifact manifest {manifest_path} does not match the artifact hash {artifact_hash}",
                file=str(manifest_path),
            )
        expected = _parse_manifest(text, manifest_path=manifest_path)
        present = set(_relative_files(directory))
        for relative, digest in expected.items():
            path = directory / relative
            if relative not in present:
                raise ArtifactIntegrityError(f"artifact file {path} is missing", file=str(path))
            if file_sha256(path) != digest:
                raise ArtifactIntegrityError(
                    f"artifact file {path} was modified: its sha256 does not match artifact {artifact_hash}",
                    file=str(path),
                )
        for relative in sorted(present - set(expected)):
            path = directory / relative
            raise ArtifactIntegrityError(
                f"artifact file {path} is not part of artifact {artifact_hash}", file=str(path)
            )
        return directory

    def remove(self, artifact_hash: str) -> None:
        """Delete an artifact directory (moved aside first, so no reader sees it half deleted)."""
        directory = self.path_of(artifact_hash)
        if not directory.exists():
            return
        trash = self.root / _TRASH_DIR / uuid.uuid4().hex
        trash.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(directory, trash)
        except OSError as error:
            raise StorageError(f"cannot remove artifact {artifact_hash}: {error}") from error
        shutil.rmtree(trash, ignore_errors=True)

    def clean_staging(self) -> None:
        """Remove staging and trash left by a crashed process (call only from the single writer)."""
        for leftover in (self.root / _STAGING_DIR, self.root / _TRASH_DIR):
            shutil.rmtree(leftover, ignore_errors=True)
