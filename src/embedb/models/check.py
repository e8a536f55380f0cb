"""Model artifacts whose files no longer match their manifest: the model part of ``embedb check``.

``check_model_artifacts`` only reads (the catalog read-only, then every byte of
each artifact a version uses), so it works beside a running server. It repairs
nothing: a damaged artifact cannot be rebuilt from the data directory, so its
versions stay unloadable until the model is registered again or the artifact
directory is restored from a backup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from embedb.errors import ArtifactIntegrityError, InvalidArgumentError, StorageError
from embedb.models import VersionStatus
from embedb.models.artifacts import ARTIFACTS_DIR, ArtifactStore
from embedb.models.registry_tables import ensure_registry_tables
from embedb.storage import CATALOG_FILE, Catalog


@dataclass(frozen=True)
class DamagedArtifact:
    """One artifact that fails verification: its hash, the versions using it, the file named and why."""

    artifact_hash: str
    versions: tuple[str, ...]
    file: str
    message: str


@dataclass(frozen=True)
class ArtifactCheck:
    """What ``check_model_artifacts`` found: how many artifacts it verified, and the damaged ones."""

    artifacts: int = 0
    damaged: list[DamagedArtifact] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged


def check_model_artifacts(path: Path) -> ArtifactCheck:
    """Verify the artifact of every model version that is not DELETED against its manifest; change nothing.

    Raises ``StorageError`` if ``path`` is not a data directory and
    ``FormatVersionError`` if a newer EmbeDB wrote its registry.
    """
    if not (path / CATALOG_FILE).exists():
        raise StorageError(f"{path} is not an EmbeDB data directory (no {CATALOG_FILE})")
    catalog = Catalog(path / CATALOG_FILE, read_only=True)
    try:
        if not ensure_registry_tables(catalog):
            return ArtifactCheck()
        rows = catalog.query(
            "SELECT name, version, artifact_hash FROM model_versions "
            "WHERE artifact_hash IS NOT NULL AND status != ? ORDER BY name, version",
            (VersionStatus.DELETED.value,),
        )
    finally:
        catalog.close()
    users: dict[str, list[str]] = {}
    for row in rows:
        users.setdefault(str(row["artifact_hash"]), []).append(f"models:/{row['name']}/{row['version']}")
    store = ArtifactStore(path / ARTIFACTS_DIR)
    damaged = []
    for artifact_hash, versions in users.items():
        try:
            store.verify(artifact_hash)
        except (ArtifactIntegrityError, InvalidArgumentError) as error:
            named = str(error.details.get("file", store.root / artifact_hash))
            damaged.append(DamagedArtifact(artifact_hash, tuple(versions), named, error.message))
        except OSError as error:  # unreadable: as unloadable as a changed file
            damaged.append(DamagedArtifact(artifact_hash, tuple(versions), str(error.filename or ""), str(error)))
    return ArtifactCheck(len(users), damaged)
