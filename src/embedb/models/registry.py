"""``ModelRegistry``: registered models, immutable versions and movable aliases in the catalog."""

from __future__ import annotations

import builtins
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from embedb.errors import (
    AliasNotFoundError,
    EmbedbError,
    InUseError,
    InvalidArgumentError,
    InvalidStateError,
    ModelError,
    ModelNotFoundError,
    ModelVersionNotFoundError,
)
from embedb.models import (
    AliasChange,
    Lineage,
    ModelVersion,
    RegisteredModel,
    UsageChecker,
    VersionStatus,
)
from embedb.models.artifacts import ArtifactStore
from embedb.models.cache import LoadedModelCache
from embedb.models.code_policy import CODE_FLAVORS, CodeModelPolicy
from embedb.models.flavors import ModelSpec, detect_flavor, get_flavor
from embedb.models.flavors.python_callable import source_import_path, stored_import_path
from embedb.models.loaded import LoadedModel
from embedb.models.registry_checks import (
    checked_dimension,
    checked_metrics,
    checked_params,
    checked_tag,
    checked_tags,
    checked_text,
    checked_version_number,
)
from embedb.models.registry_tables import (
    change_from_row,
    ensure_registry_tables,
    insert_registering_version,
    model_from_row,
    publish_version,
    set_version_status,
    update_tags,
    version_from_row,
)
from embedb.models.uris import ModelRef, parse_model_uri
from embedb.schema import MetricType, check_name
from embedb.storage import Catalog

DEFAULT_CACHE_SIZE = 4


class ModelRegistry:
    """The model registry of one data directory: catalog tables plus an artifact store.

    Use one registry per catalog per process (the engine owns it). Reads never
    load a model; only ``load`` does, after verifying the artifact's hash, and it
    keeps the ``cache_size`` most recently used versions in memory. The registry
    never moves an alias on its own and never deletes a version that an alias or
    ``version_users`` (given by the owner, which knows the collections) still claims.
    ``code_models`` decides which code-bearing versions (``callable``) may be
    registered and loaded (default: every one, as embedded).
    """

    def __init__(
        self,
        catalog: Catalog,
        artifacts_root: Path,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        version_users: UsageChecker | None = None,
        code_models: CodeModelPolicy | None = None,
    ) -> None:
        self.catalog = catalog
        self.code_models = code_models or CodeModelPolicy()
        # The import path each loaded code-bearing version runs: a cached model is checked again on every load.
        self._import_paths: dict[tuple[str, int], str] = {}
        self.artifacts = ArtifactStore(Path(artifacts_root))
        self._cache: LoadedModelCache[tuple[str, int], LoadedModel] = LoadedModelCache(capacity=cache_size)
        self._version_users: UsageChecker = version_users or _no_users
        # Serialises "store an artifact + publish it" against "delete its last user + remove it".
        self._artifact_lock = threading.Lock()
        self._has_tables = ensure_registry_tables(catalog)
        if not catalog.read_only:
            self._fail_interrupted_registrations()
            self.artifacts.clean_staging()

    # ------------------------------------------------------------------ reads

    def get(self, name: str) -> RegisteredModel:
        """Return a registered model; raise ``ModelNotFoundError`` (``InvalidNameError`` for a bad name)."""
        check_name(name, kind="model")
        row = self._one("SELECT * FROM registered_models WHERE name = ?", (name,))
        if row is None:
            raise ModelNotFoundError(f"model {name!r} is not registered", name=name)
        return model_from_row(row, latest_version=self._latest_ready(name), aliases=self._aliases(name))

    def list(self) -> builtins.list[RegisteredModel]:
        """Return every registered model, sorted by name."""
        rows = self._rows("SELECT * FROM registered_models ORDER BY name")
        return [
            model_from_row(row, latest_version=self._latest_ready(row["name"]), aliases=self._aliases(row["name"]))
            for row in rows
        ]

    def versions(self, name: str, *, include_deleted: bool = False) -> builtins.list[ModelVersion]:
        """Return a model's versions, oldest first; DELETED ones only if asked. Raise ``ModelNotFoundError``."""
        self.get(name)
        aliases = self._aliases_by_version(name)
        rows = self._rows("SELECT * FROM model_versions WHERE name = ? ORDER BY version", (name,))
        return [
            version_from_row(row, aliases=aliases.get(int(row["version"]), ()))
            for row in rows
            if include_deleted or row["status"] != VersionStatus.DELETED.value
        ]

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Return one version; raise ``ModelNotFoundError`` or ``ModelVersionNotFoundError`` (also once deleted)."""
        self.get(name)
        number = checked_version_number(version)
        row = self._one("SELECT * FROM model_versions WHERE name = ? AND version = ?", (name, number))
        if row is None or row["status"] == VersionStatus.DELETED.value:
            state = "was deleted" if row is not None else "does not exist"
            raise ModelVersionNotFoundError(f"models:/{name}/{number} {state}", name=name, version=number)
        return version_from_row(row, aliases=self._aliases_by_version(name).get(number, ()))

    def resolve(self, uri: str | ModelRef) -> ModelVersion:
        """Return the version a URI names now (``models:/m/3``, ``m@champion``, ``m`` = newest READY).

        Raises ``InvalidArgumentError`` for a malformed URI, ``ModelNotFoundError``,
        ``AliasNotFoundError`` or ``ModelVersionNotFoundError``. It does not load anything.
        """
        ref = uri if isinstance(uri, ModelRef) else parse_model_uri(uri)
        if ref.version is not None:
            return self.get_version(ref.name, ref.version)
        model = self.get(ref.name)
        if ref.alias is not None:
            if ref.alias not in model.aliases:
                raise AliasNotFoundError(
                    f"model {ref.name!r} has no alias {ref.alias!r} (aliases: {sorted(model.aliases) or 'none'})",
                    name=ref.name,
                    alias=ref.alias,
                )
            return self.get_version(ref.name, model.aliases[ref.alias])
        if model.latest_version is None:
            raise ModelVersionNotFoundError(f"model {ref.name!r} has no READY version", name=ref.name)
        return self.get_version(ref.name, model.latest_version)

    def alias_history(self, name: str, alias: str | None = None) -> builtins.list[AliasChange]:
        """Return every alias move of a model (or of one alias), oldest first; raise ``ModelNotFoundError``."""
        self.get(name)
        if alias is None:
            rows = self._rows("SELECT * FROM model_alias_history WHERE name = ? ORDER BY sequence", (name,))
        else:
            check_name(alias, kind="alias")
            rows = self._rows(
                "SELECT * FROM model_alias_history WHERE name = ? AND alias = ? ORDER BY sequence", (name, alias)
            )
        return [change_from_row(row) for row in rows]

    # ----------------------------------------------------------------- writes

    def register(
        self,
        name: str,
        model_or_path: object,
        *,
        flavor: str | None = None,
        alias: str | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        lineage: Lineage | Mapping[str, Any] | None = None,
        actor: str | None = None,
        dimension: int | None = None,
        metric: MetricType | str | None = None,
        normalize: bool | None = None,
    ) -> ModelVersion:
        """Store a model as the next version of ``name`` (created if new); return the READY version.

        ``flavor`` is detected from ``model_or_path`` when omitted. ``tags``, ``params``,
        ``metrics``, ``lineage`` and ``description`` describe the version (a new model
        also takes ``description``). ``dimension``, ``metric`` and ``normalize``
        override what the flavor found; ``normalize=True`` makes loaded vectors unit-norm.
        ``alias`` is pointed at the new version in the same transaction that makes it READY.

        Bad input raises ``InvalidNameError``/``InvalidArgumentError`` (or a not-found error
        for ``lineage.parent``) before anything is written. If storing or probing the
        model fails, or the model contradicts ``dimension``/``normalize``, the version is
        left FAILED with the reason, and the error is raised (``ModelError`` unless it is
        another EmbeDB error). Registering never moves any other alias. A code-bearing
        source the ``code_models`` policy refuses raises ``PermissionDeniedError``
        before anything is imported or written.
        """
        check_name(name, kind="model")
        if alias is not None:
            check_name(alias, kind="alias")
        version_tags = checked_tags(tags)
        user_params = checked_params(params)
        version_metrics = checked_metrics(metrics)
        parsed_lineage = self._checked_lineage(lineage)
        checked_text(description, what="description")
        checked_text(actor, what="actor")
        dimension = checked_dimension(dimension)
        metric = MetricType.parse(metric) if metric is not None else None
        if normalize is not None and not isinstance(normalize, bool):
            raise InvalidArgumentError(f"normalize must be True, False or None, got {normalize!r}")
        flavor_name = flavor if flavor is not None else detect_flavor(model_or_path)
        flavor_impl = get_flavor(flavor_name)
        if flavor is not None and not flavor_impl.detect(model_or_path):
            raise InvalidArgumentError(f"the {flavor_name} flavor does not recognise {model_or_path!r}")
        flavor_impl.validate(model_or_path)
        if flavor_name in CODE_FLAVORS:
            import_path = source_import_path(model_or_path)
            if import_path is not None:
                self.code_models.check(import_path, subject=f"registering model {name!r}")
        with self.catalog.transaction() as cursor:
            number = insert_registering_version(
                cursor,
                name,
                flavor=flavor_name,
                tags=version_tags,
                params=user_params,
                metrics=version_metrics,
                lineage=parsed_lineage,
                description=description,
            )
        try:
            with self.artifacts.stage() as staging:
                spec = flavor_impl.save(model_or_path, staging, dimension=dimension)
                spec = _with_overrides(spec, dimension=dimension, metric=metric, normalize=normalize)
                with self._artifact_lock:
                    artifact_hash = self.artifacts.commit_staged(staging)
                    self._publish(name, number, spec=spec, artifact_hash=artifact_hash, alias=alias, actor=actor)
        except BaseException as error:
            self._mark_failed(name, number, error)
            if isinstance(error, EmbedbError) or not isinstance(error, Exception):
                raise
            raise ModelError(f"registering models:/{name}/{number} failed: {error}") from error
        return self.get_version(name, number)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        actor: str | None = None,
        reason: str | None = None,
        cursor: sqlite3.Cursor | None = None,
    ) -> ModelVersion:
        """Point ``alias`` at a READY ``version`` (creating or moving it); return that version.

        The move is appended to the alias history; pointing an alias where it already
        points records nothing. With ``cursor`` (for ``embedb.lifecycle``) the move joins
        the caller's open catalog transaction and commits or rolls back with it.
        Raises ``ModelNotFoundError``, ``ModelVersionNotFoundError``, ``InvalidStateError``
        for a version that is not READY, ``InvalidNameError`` for a bad alias.
        """
        check_name(name, kind="model")
        check_name(alias, kind="alias")
        number = checked_version_number(version)
        checked_text(actor, what="actor")
        checked_text(reason, what="reason")
        with self._transaction(cursor) as active:
            self._move_alias(active, name=name, alias=alias, to_version=number, actor=actor, reason=reason)
        return self.get_version(name, number)

    def delete_alias(
        self,
        name: str,
        alias: str,
        *,
        actor: str | None = None,
        reason: str | None = None,
        cursor: sqlite3.Cursor | None = None,
    ) -> None:
        """Remove an alias, recording the deletion in the history; raise ``AliasNotFoundError``.

        ``cursor`` joins a caller's open transaction, as in ``set_alias``.
        """
        check_name(name, kind="model")
        check_name(alias, kind="alias")
        checked_text(actor, what="actor")
        checked_text(reason, what="reason")
        with self._transaction(cursor) as active:
            self._move_alias(active, name=name, alias=alias, to_version=None, actor=actor, reason=reason)

    def set_tag(self, name: str, key: str, value: str, *, version: int | None = None) -> None:
        """Set a tag on a model, or on one of its versions; tags are the only mutable part of a version."""
        self._update_tags(name, version=version, key=key, value=value)

    def delete_tag(self, name: str, key: str, *, version: int | None = None) -> None:
        """Remove a tag from a model or a version (a no-op when it is not set)."""
        self._update_tags(name, version=version, key=key, value=None)

    def delete_version(self, name: str, version: int, *, actor: str | None = None) -> ModelVersion:
        """Mark a READY or FAILED version DELETED and drop its artifact if no other version uses it.

        Raises ``InUseError`` while an alias points at it or ``version_users`` names a
        user, ``InvalidStateError`` while it is REGISTERING. The version number is never
        reused. Returns the version as it was before deletion.
        """
        target = self.get_version(name, version)
        checked_text(actor, what="actor")
        if target.aliases:
            raise InUseError(
                f"{target.uri} is the target of alias(es) {', '.join(target.aliases)}; move or delete them first",
                aliases=list(target.aliases),
            )
        users = self._version_users(target)
        if users:
            raise InUseError(f"{target.uri} is used by {', '.join(users)}", users=users)
        target.status.check_transition(VersionStatus.DELETED)
        with self._artifact_lock:
            with self.catalog.transaction() as cursor:
                set_version_status(cursor, name, target.version, VersionStatus.DELETED, message=None)
                self.catalog.record_event(cursor, "model.version.deleted", target.uri, actor=actor)
            self._cache.discard((name, target.version))
            if target.artifact_hash is not None and not self._artifact_in_use(target.artifact_hash):
                self.artifacts.remove(target.artifact_hash)
        return target

    # ------------------------------------------------------------------ loads

    def load(self, uri: str | ModelRef) -> LoadedModel:
        """Return the loaded model a URI names, from the cache or after verifying its artifact's hash.

        Raises what ``resolve`` raises, ``InvalidStateError`` for a version that is
        not READY, ``ArtifactIntegrityError`` naming a changed or missing file, and
        ``ModelError`` when the flavor cannot load it, ``PermissionDeniedError`` for a
        code-bearing version the ``code_models`` policy refuses (also when it is cached).
        An alias is resolved at each call: after the alias moves, the next ``load``
        returns the new version.
        """
        target = self.resolve(uri)
        if target.status is not VersionStatus.READY:
            raise InvalidStateError(f"{target.uri} is {target.status.value}, only READY versions can be loaded")
        key = (target.name, target.version)
        loaded_path = self._import_paths.get(key)
        if loaded_path is not None:
            self.code_models.check(loaded_path, subject=f"loading {target.uri}")
        return self._cache.get_or_load(key, lambda: self._load_version(target))

    def check_code_allowed(self, version: ModelVersion) -> None:
        """Return if loading ``version`` runs no code the ``code_models`` policy refuses; never loads it.

        Raises ``PermissionDeniedError`` naming the import path, and what ``verify``
        raises for a code-bearing version whose artifact is damaged. Callers that
        bind a version to a collection call it, so a refused model is never bound.
        """
        if version.flavor in CODE_FLAVORS and self.code_models.prefixes is not None:
            self._checked_import_path(self._verified_artifact(version), subject=f"using {version.uri}")

    def cached_versions(self) -> builtins.list[str]:
        """Return the URIs of the versions held in memory, least recently used first."""
        return [f"models:/{name}/{version}" for name, version in self._cache.cached_keys()]

    # -------------------------------------------------------------- internals

    def _load_version(self, target: ModelVersion) -> LoadedModel:
        directory = self._verified_artifact(target)
        if target.flavor in CODE_FLAVORS:
            import_path = self._checked_import_path(directory, subject=f"loading {target.uri}")
            self._import_paths[(target.name, target.version)] = import_path
        encoder = get_flavor(target.flavor).load(directory, params=target.params)
        return LoadedModel(replace(target, aliases=()), encoder)

    def _verified_artifact(self, target: ModelVersion) -> Path:
        if target.artifact_hash is None:
            raise ModelError(f"{target.uri} has no artifact")
        return self.artifacts.verify(target.artifact_hash)

    def _checked_import_path(self, directory: Path, *, subject: str) -> str:
        # The artifact, not the version's params (a caller can set those), says what a load imports.
        import_path = stored_import_path(directory)
        self.code_models.check(import_path, subject=subject)
        return import_path

    @contextmanager
    def _transaction(self, cursor: sqlite3.Cursor | None) -> Iterator[sqlite3.Cursor]:
        if cursor is not None:
            yield cursor
        else:
            with self.catalog.transaction() as active:
                yield active

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> builtins.list[sqlite3.Row]:
        if not self._has_tables:
            self._has_tables = ensure_registry_tables(self.catalog)
            if not self._has_tables:
                return []
        return self.catalog.query(sql, params)

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _aliases(self, name: str) -> dict[str, int]:
        rows = self._rows("SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias", (name,))
        return {row["alias"]: int(row["version"]) for row in rows}

    def _aliases_by_version(self, name: str) -> dict[int, tuple[str, ...]]:
        grouped: dict[int, builtins.list[str]] = {}
        for alias, number in self._aliases(name).items():
            grouped.setdefault(number, []).append(alias)
        return {number: tuple(aliases) for number, aliases in grouped.items()}

    def _latest_ready(self, name: str) -> int | None:
        row = self._one(
            "SELECT MAX(version) AS latest FROM model_versions WHERE name = ? AND status = ?",
            (name, VersionStatus.READY.value),
        )
        return int(row["latest"]) if row is not None and row["latest"] is not None else None

    def _artifact_in_use(self, artifact_hash: str) -> bool:
        row = self._one(
            "SELECT 1 FROM model_versions WHERE artifact_hash = ? AND status != ? LIMIT 1",
            (artifact_hash, VersionStatus.DELETED.value),
        )
        return row is not None

    def _checked_lineage(self, lineage: Lineage | Mapping[str, Any] | None) -> Lineage:
        parsed = Lineage.from_value(lineage)
        if parsed.parent is None:
            return parsed
        parent = self.resolve(parsed.parent)
        return replace(parsed, parent=parent.uri)

    def _publish(
        self, name: str, number: int, *, spec: ModelSpec, artifact_hash: str, alias: str | None, actor: str | None
    ) -> None:
        with self.catalog.transaction() as cursor:
            publish_version(cursor, name, number, spec=spec, artifact_hash=artifact_hash)
            self.catalog.record_event(cursor, "model.version.ready", f"models:/{name}/{number}", actor=actor)
            if alias is not None:
                self._move_alias(cursor, name=name, alias=alias, to_version=number, actor=actor, reason="registered")

    def _mark_failed(self, name: str, number: int, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"[:2000]
        try:
            with self.catalog.transaction() as cursor:
                set_version_status(cursor, name, number, VersionStatus.FAILED, message=message)
                self.catalog.record_event(cursor, "model.version.failed", f"models:/{name}/{number}", error=message)
        except EmbedbError:
            pass  # the original error matters more; the version stays REGISTERING until the next open.

    def _fail_interrupted_registrations(self) -> None:
        rows = self._rows(
            "SELECT name, version FROM model_versions WHERE status = ?", (VersionStatus.REGISTERING.value,)
        )
        for row in rows:
            self._mark_failed(row["name"], int(row["version"]), ModelError("registration was interrupted"))

    def _move_alias(
        self,
        cursor: sqlite3.Cursor,
        *,
        name: str,
        alias: str,
        to_version: int | None,
        actor: str | None,
        reason: str | None,
    ) -> None:
        if cursor.execute("SELECT 1 FROM registered_models WHERE name = ?", (name,)).fetchone() is None:
            raise ModelNotFoundError(f"model {name!r} is not registered", name=name)
        if to_version is not None:
            row = cursor.execute(
                "SELECT status FROM model_versions WHERE name = ? AND version = ?", (name, to_version)
            ).fetchone()
            if row is None or row["status"] == VersionStatus.DELETED.value:
                raise ModelVersionNotFoundError(
                    f"models:/{name}/{to_version} does not exist", name=name, version=to_version
                )
            if row["status"] != VersionStatus.READY.value:
                raise InvalidStateError(
                    f"alias {alias!r} can point only at a READY version; models:/{name}/{to_version} is {row['status']}"
                )
        current = cursor.execute(
            "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
        ).fetchone()
        from_version = int(current["version"]) if current is not None else None
        if to_version is None and from_version is None:
            raise AliasNotFoundError(f"model {name!r} has no alias {alias!r}", name=name, alias=alias)
        if from_version == to_version:
            return
        now = time.time()
        if to_version is None:
            cursor.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", (name, alias))
        else:
            cursor.execute(
                "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                (name, alias, to_version, now),
            )
        cursor.execute(
            "INSERT INTO model_alias_history (name, alias, from_version, to_version, time, actor, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, alias, from_version, to_version, now, actor, reason),
        )
        self.catalog.record_event(
            cursor,
            "model.alias.moved" if to_version is not None else "model.alias.deleted",
            f"models:/{name}@{alias}",
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
        )

    def _update_tags(self, name: str, *, version: int | None, key: str, value: str | None) -> None:
        key, _ = checked_tag(key, value if value is not None else "")
        params: tuple[Any, ...]
        if version is None:
            self.get(name)
            table, where, params = "registered_models", "name = ?", (name,)
        else:
            target = self.get_version(name, version)
            table, where, params = "model_versions", "name = ? AND version = ?", (name, target.version)
        with self.catalog.transaction() as cursor:
            update_tags(cursor, table, where, params, key=key, value=value)
            subject = f"models:/{name}" if version is None else f"models:/{name}/{version}"
            self.catalog.record_event(
                cursor, "model.tag.set" if value is not None else "model.tag.deleted", subject, key=key
            )


def _with_overrides(
    spec: ModelSpec, *, dimension: int | None, metric: MetricType | None, normalize: bool | None
) -> ModelSpec:
    """Apply a caller's overrides to what the flavor found; refuse the ones that contradict the model."""
    if dimension is not None and dimension != spec.dimension:
        raise InvalidArgumentError(
            f"dimension={dimension} was given, but the model produces {spec.dimension}-d vectors"
        )
    if normalize is False and spec.normalize:
        raise InvalidArgumentError("normalize=False was given, but the model normalises its vectors itself")
    return replace(
        spec,
        metric=metric if metric is not None else spec.metric,
        normalize=normalize if normalize is not None else spec.normalize,
    )


def _no_users(version: ModelVersion) -> list[str]:
    return []
