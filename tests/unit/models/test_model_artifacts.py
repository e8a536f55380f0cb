"""The content-addressed artifact store: hashing, atomic commit, verification and tampering."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.models.conftest import TOY_EMBEDDER

from embedb.errors import ArtifactIntegrityError, InvalidArgumentError
from embedb.models import ARTIFACTS_DIR, ArtifactCheck, ModelRegistry, check_model_artifacts
from embedb.models.artifacts import MANIFEST_NAME, ArtifactStore, manifest_text
from embedb.storage.catalog import Catalog


def _stage_files(store: ArtifactStore, files: dict[str, bytes]) -> str:
    with store.stage() as staging:
        for relative, content in files.items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            (staging / relative).write_bytes(content)
        return store.commit_staged(staging)


def test_hash_is_sha256_of_the_sorted_manifest(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    files = {"weights.bin": b"\x00\x01", "tokenizer/vocab.txt": b"a\nb\n", "config.json": b"{}"}
    artifact_hash = _stage_files(store, files)

    lines = sorted(f"{hashlib.sha256(content).hexdigest()}  {path}\n" for path, content in files.items())
    lines.sort(key=lambda line: line.split("  ", 1)[1])
    assert artifact_hash == hashlib.sha256("".join(lines).encode()).hexdigest()
    directory = store.verify(artifact_hash)
    assert (directory / MANIFEST_NAME).read_text() == "".join(lines) == manifest_text(directory)
    assert not list((tmp_path / ".staging").iterdir())


def test_same_content_is_stored_once_and_a_damaged_copy_is_replaced(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    first = _stage_files(store, {"a": b"1"})
    (store.path_of(first) / "a").write_bytes(b"2")
    assert _stage_files(store, {"a": b"1"}) == first
    assert store.verify(first).joinpath("a").read_bytes() == b"1"


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda d: (d / "weights.bin").write_bytes(b"\x00\x02"), "weights.bin"),
        (lambda d: (d / "weights.bin").unlink(), "weights.bin"),
        (lambda d: (d / "extra.py").write_text("import os"), "extra.py"),
        (lambda d: (d / MANIFEST_NAME).write_text("0" * 64 + "  weights.bin\n"), MANIFEST_NAME),
        (lambda d: (d / "link").symlink_to("/etc/hostname"), "link"),
        (lambda d: (d / "weights.bin").unlink() or (d / "weights.bin").symlink_to(d / "config.json"), "weights.bin"),
        (lambda d: (d / "subdir").symlink_to(d.parent, target_is_directory=True), "subdir"),
    ],
    ids=["changed", "missing", "added", "manifest", "added symlink", "file replaced by a symlink", "symlinked folder"],
)
def test_verification_names_the_damaged_file(tmp_path: Path, damage: Callable[[Path], object], named: str) -> None:
    store = ArtifactStore(tmp_path)
    artifact_hash = _stage_files(store, {"weights.bin": b"\x00\x01", "config.json": b"{}"})
    damage(store.path_of(artifact_hash))
    with pytest.raises(ArtifactIntegrityError, match=re.escape(named)) as caught:
        store.verify(artifact_hash)
    assert caught.value.details["file"].endswith(named)


def test_a_bad_hash_never_reaches_the_filesystem(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    for bad in ("../../etc", "ABC", "0" * 63, "0" * 64 + "\n"):
        with pytest.raises(InvalidArgumentError):
            store.path_of(bad)


def test_flipping_one_byte_of_a_registered_model_blocks_its_load(fresh_registry: ModelRegistry) -> None:
    version = fresh_registry.register("toy", TOY_EMBEDDER)
    spec_file = fresh_registry.artifacts.path_of(version.artifact_hash or "") / "callable.json"
    content = bytearray(spec_file.read_bytes())
    content[-2] ^= 0x01
    spec_file.write_bytes(bytes(content))

    with pytest.raises(ArtifactIntegrityError, match=re.escape("callable.json")):
        fresh_registry.load("toy/1")


def test_check_verifies_each_artifact_once_and_names_every_version_using_it(tmp_path: Path) -> None:
    registry = ModelRegistry(Catalog(tmp_path / "catalog.sqlite", read_only=False), tmp_path / ARTIFACTS_DIR)
    try:
        first = registry.register("toy", TOY_EMBEDDER)
        registry.register("copy", TOY_EMBEDDER)  # the same content: the same artifact
        registry.register("gone", "embedb.models.testing:hash_embed_8")
        registry.delete_version("gone", 1)
    finally:
        registry.catalog.close()
    assert check_model_artifacts(tmp_path) == ArtifactCheck(1, [])

    (registry.artifacts.path_of(first.artifact_hash or "") / "callable.json").write_text("{}")
    (damaged,) = check_model_artifacts(tmp_path).damaged
    assert damaged.versions == ("models:/copy/1", "models:/toy/1")
    assert damaged.file.endswith("callable.json") and "was modified" in damaged.message


def test_check_of_a_directory_without_models_finds_nothing(tmp_path: Path) -> None:
    Catalog(tmp_path / "catalog.sqlite", read_only=False).close()
    assert check_model_artifacts(tmp_path).ok
