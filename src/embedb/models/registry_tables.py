"""The registry's catalog tables: their DDL, row conversions, and the statements that change them.

The statements run on a cursor inside a transaction the caller opened; they
check state transitions but record no events (the registry does).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from embedb.errors import FormatVersionError, ModelVersionNotFoundError
from embedb.models import AliasChange, InputUnit, Lineage, ModelVersion, RegisteredModel, VersionStatus
from embedb.schema import MetricType
from embedb.storage import Catalog

if TYPE_CHECKING:
    from embedb.models.flavors import ModelSpec

REGISTRY_FORMAT_VERSION = 1
_FORMAT_KEY = "models_format_version"

REGISTRY_TABLES = """
CREATE TABLE IF NOT EXISTS registered_models (
    name TEXT PRIMARY KEY,
    description TEXT,
    tags TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    last_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS model_versions (
    name TEXT NOT NULL REFERENCES registered_models(name),
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    flavor TEXT NOT NULL,
    artifact_hash TEXT,
    dimension INTEGER,
    metric TEXT,
    normalize INTEGER NOT NULL DEFAULT 0,
    max_input_length INTEGER,
    input_unit TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '{}',
    lineage TEXT NOT NULL DEFAULT '{}',
    description TEXT,
    created_at REAL NOT NULL,
    status_message TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX IF NOT EXISTS model_versions_by_artifact ON model_versions(artifact_hash);
CREATE TABLE IF NOT EXISTS model_aliases (
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
);
CREATE TABLE IF NOT EXISTS model_alias_history (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    alias TEXT NOT NULL,
    from_version INTEGER,
    to_version INTEGER,
    time REAL NOT NULL,
    actor TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS model_alias_history_by_alias ON model_alias_history(name, alias, sequence);
"""


def ensure_registry_tables(catalog: Catalog) -> bool:
    """Create the registry tables if needed (writable catalogs); return whether they exist.

    Raises ``FormatVersionError`` when the tables were written by a newer EmbeDB.
    """
    if not catalog.read_only:
        catalog.ensure_tables(REGISTRY_TABLES)
        with catalog.transaction() as cursor:
            cursor.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (_FORMAT_KEY, str(REGISTRY_FORMAT_VERSION))
            )
    exists = catalog.query_one("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'model_versions'")
    if exists is None:
        return False
    row = catalog.query_one("SELECT value FROM meta WHERE key = ?", (_FORMAT_KEY,))
    if row is not None and int(row["value"]) > REGISTRY_FORMAT_VERSION:
        raise FormatVersionError(
            f"{catalog.path}: the model registry has format {row['value']}; this EmbeDB reads up to "
            f"{REGISTRY_FORMAT_VERSION}. Upgrade EmbeDB."
        )
    return True


def to_json(value: Any) -> str:
    """Serialise a params/metrics/tags/lineage value canonically."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def version_from_row(row: sqlite3.Row, *, aliases: tuple[str, ...]) -> ModelVersion:
    """Build a ``ModelVersion`` from a ``model_versions`` row."""
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        status=VersionStatus(row["status"]),
        flavor=row["flavor"],
        artifact_hash=row["artifact_hash"],
        dimension=row["dimension"],
        metric=MetricType(row["metric"]) if row["metric"] is not None else None,
        normalize=bool(row["normalize"]),
        max_input_length=row["max_input_length"],
        input_unit=InputUnit(row["input_unit"]) if row["input_unit"] is not None else None,
        params=json.loads(row["params"]),
        metrics=json.loads(row["metrics"]),
        tags=json.loads(row["tags"]),
        lineage=Lineage(**json.loads(row["lineage"])),
        description=row["description"],
        created_at=float(row["created_at"]),
        status_message=row["status_message"],
        aliases=aliases,
    )


def model_from_row(row: sqlite3.Row, *, latest_version: int | None, aliases: dict[str, int]) -> RegisteredModel:
    """Build a ``RegisteredModel`` from a ``registered_models`` row."""
    return RegisteredModel(
        name=row["name"],
        description=row["description"],
        tags=json.loads(row["tags"]),
        created_at=float(row["created_at"]),
        latest_version=latest_version,
        aliases=aliases,
    )


def change_from_row(row: sqlite3.Row) -> AliasChange:
    """Build an ``AliasChange`` from a ``model_alias_history`` row."""
    return AliasChange(
        sequence=int(row["sequence"]),
        name=row["name"],
        alias=row["alias"],
        from_version=row["from_version"],
        to_version=row["to_version"],
        time=float(row["time"]),
        actor=row["actor"],
        reason=row["reason"],
    )


def json_dict(text: str) -> dict[str, Any]:
    """Parse a JSON object column (anything else gives an empty dict)."""
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def insert_registering_version(
    cursor: sqlite3.Cursor,
    name: str,
    *,
    flavor: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    lineage: Lineage,
    description: str | None,
) -> int:
    """Create the model if new, reserve its next version number as REGISTERING; return the number."""
    now = time.time()
    cursor.execute(
        "INSERT OR IGNORE INTO registered_models (name, description, tags, created_at) VALUES (?, ?, '{}', ?)",
        (name, description, now),
    )
    cursor.execute("UPDATE registered_models SET last_version = last_version + 1 WHERE name = ?", (name,))
    number = int(cursor.execute("SELECT last_version FROM registered_models WHERE name = ?", (name,)).fetchone()[0])
    cursor.execute(
        "INSERT INTO model_versions (name, version, status, flavor, params, metrics, tags, lineage, description, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            number,
            VersionStatus.REGISTERING.value,
            flavor,
            to_json(params),
            to_json(metrics),
            to_json(tags),
            to_json(lineage.to_dict()),
            description,
            now,
        ),
    )
    return number


def publish_version(cursor: sqlite3.Cursor, name: str, number: int, *, spec: ModelSpec, artifact_hash: str) -> None:
    """Fill in what the flavor found and move a REGISTERING version to READY (``InvalidStateError`` otherwise)."""
    row = cursor.execute(
        "SELECT status, params, lineage FROM model_versions WHERE name = ? AND version = ?", (name, number)
    ).fetchone()
    if row is None:
        raise ModelVersionNotFoundError(f"models:/{name}/{number} does not exist", name=name, version=number)
    VersionStatus(row["status"]).check_transition(VersionStatus.READY)
    # What the caller passed wins over what the flavor derived.
    params = {**spec.params, **json_dict(row["params"])}
    lineage = json_dict(row["lineage"])
    if spec.source is not None and lineage.get("source") is None:
        lineage["source"] = spec.source
    cursor.execute(
        "UPDATE model_versions SET status = ?, flavor = COALESCE(?, flavor), artifact_hash = ?, dimension = ?, "
        "metric = ?, normalize = ?, max_input_length = ?, input_unit = ?, params = ?, lineage = ? "
        "WHERE name = ? AND version = ?",
        (
            VersionStatus.READY.value,
            spec.stored_flavor,
            artifact_hash,
            spec.dimension,
            spec.metric.value if spec.metric is not None else None,
            int(spec.normalize),
            spec.max_input_length,
            spec.input_unit.value if spec.input_unit is not None else None,
            to_json(params),
            to_json(lineage),
            name,
            number,
        ),
    )


def set_version_status(
    cursor: sqlite3.Cursor, name: str, number: int, status: VersionStatus, *, message: str | None
) -> None:
    """Move a version to ``status`` if its lifecycle allows it; raise ``InvalidStateError`` otherwise."""
    row = cursor.execute("SELECT status FROM model_versions WHERE name = ? AND version = ?", (name, number)).fetchone()
    if row is None:
        raise ModelVersionNotFoundError(f"models:/{name}/{number} does not exist", name=name, version=number)
    VersionStatus(row["status"]).check_transition(status)
    cursor.execute(
        "UPDATE model_versions SET status = ?, status_message = ? WHERE name = ? AND version = ?",
        (status.value, message, name, number),
    )


def update_tags(
    cursor: sqlite3.Cursor, table: str, where: str, params: tuple[Any, ...], *, key: str, value: str | None
) -> None:
    """Set (or with ``value=None`` remove) one tag in the ``tags`` column of the row ``where`` selects."""
    if table not in ("registered_models", "model_versions"):
        raise ValueError(f"no tags column in {table}")
    row = cursor.execute(f"SELECT tags FROM {table} WHERE {where}", params).fetchone()
    tags = json_dict(row["tags"])
    if value is None:
        tags.pop(key, None)
    else:
        tags[key] = value
    cursor.execute(f"UPDATE {table} SET tags = ? WHERE {where}", (to_json(tags), *params))
