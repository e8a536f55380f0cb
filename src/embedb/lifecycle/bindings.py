"""Embedding versions: which model versions a vector field holds vectors of, and which one serves.

A vector field bound to a model (``FieldSchema(source="text", model="minilm@champion")``)
can hold the vectors of several model versions at once, each in its own storage
column ``<field>@<model>/<version>``. One of them *serves*: searches read its
column and embed query text with its model — never with whatever the alias
points to now. New writes are embedded with every version that is not retired,
so a version added later (a backfill) never misses a new row.

A BM25 field bound to an analyzer (``FieldSchema("sparse", SPARSE_FLOAT_VECTOR,
source="text", model="en@champion")``, a model of the ``analyzer`` flavor) has
versions the same way, but stores nothing per version: a version's term counts
are made from the source text when a search reads them (``tokenized``).

All of this lives in the catalog, so that a promotion moves the serving version
and the model alias in one transaction.
"""

from __future__ import annotations

import enum
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from embedb.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    InvalidStateError,
    NotFoundError,
)
from embedb.models import ModelRegistry, ModelVersion, VersionStatus
from embedb.pause_points import PausePoints
from embedb.schema import CollectionSchema, FieldSchema
from embedb.storage import Catalog

_TABLES = """
CREATE TABLE IF NOT EXISTS embedding_versions (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    column_key TEXT NOT NULL,
    dimension INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (collection_id, field, model_name, model_version)
);
CREATE TABLE IF NOT EXISTS embedding_serving (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    column_key TEXT NOT NULL,
    previous_column_key TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (collection_id, field)
);
"""


class EmbeddingVersionState(enum.StrEnum):
    """Where one model version's vectors of one field are."""

    # New writes are embedded with it; older rows are still being embedded (a backfill).
    BACKFILLING = "BACKFILLING"
    # Every row has a vector of this version: it can serve.
    READY = "READY"
    # Being dropped: never written, read or served again; its vectors and indexes are being deleted
    # (a drop or a cancel that a crash interrupted is finished when the directory opens writable).
    RETIRING = "RETIRING"
    # Its vectors were dropped; kept as a record, never written again.
    RETIRED = "RETIRED"


def column_key(field: str, model_name: str, model_version: int) -> str:
    """The storage column of one model version's vectors of a field."""
    return f"{field}@{model_name}/{model_version}"


ANALYZER_FLAVOR = "analyzer"


@dataclass(frozen=True)
class EmbeddingVersion:
    """One model version's vectors of one field."""

    field: str
    model_name: str
    model_version: int
    column_key: str
    dimension: int
    state: EmbeddingVersionState
    created_at: float

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.model_version}"

    def to_dict(self) -> dict[str, object]:
        return {
            "model_version": self.uri,
            "column": self.column_key,
            "dimension": self.dimension,
            "state": self.state.value,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class FieldBinding:
    """A model-bound vector field: its source, its versions, the serving one and the one before it."""

    field: str
    source: str
    model_ref: str
    versions: tuple[EmbeddingVersion, ...]
    serving_key: str
    previous_key: str | None
    # An analyzer-bound BM25 field: its versions count the source text's terms when searched; nothing is stored per version.
    tokenized: bool = False

    @property
    def serving(self) -> EmbeddingVersion:
        return next(v for v in self.versions if v.column_key == self.serving_key)

    @property
    def previous(self) -> EmbeddingVersion | None:
        return next((v for v in self.versions if v.column_key == self.previous_key), None)

    @property
    def write_versions(self) -> tuple[EmbeddingVersion, ...]:
        """The versions every write carries: the serving one and those being backfilled or ready."""
        gone = (EmbeddingVersionState.RETIRING, EmbeddingVersionState.RETIRED)
        return tuple(v for v in self.versions if v.state not in gone)

    def version(self, model_version: ModelVersion) -> EmbeddingVersion:
        """This field's vectors of ``model_version``; raise ``NotFoundError`` if it has none."""
        key = column_key(self.field, model_version.name, model_version.version)
        for version in self.versions:
            if version.column_key == key and version.state is not EmbeddingVersionState.RETIRED:
                return version
        held = ", ".join(v.uri for v in self.write_versions)
        raise NotFoundError(
            f"field {self.field!r} holds no vectors of {model_version.uri} (it holds {held}); add it with add_embedding_version",
            field=self.field,
        )


class EmbeddingBindings:
    """The embedding versions of every model-bound field, cached; writes go through the catalog."""

    def __init__(self, catalog: Catalog, registry: ModelRegistry, *, pause_points: PausePoints | None = None) -> None:
        self.catalog = catalog
        self.registry = registry
        self.pause_points = pause_points or PausePoints()
        catalog.ensure_tables(_TABLES)
        self._cache: dict[int, dict[str, FieldBinding]] = {}
        # Bumped by every ``forget``: a read that started before a change never fills the cache after it.
        self._generation = 0
        self._lock = threading.Lock()

    # -------------------------------------------------------------- create

    def resolve_schema(self, schema: CollectionSchema) -> tuple[CollectionSchema, dict[str, ModelVersion]]:
        """Resolve each bound field's model to a READY version; fill in its dimension.

        Returns the completed schema and the version of each bound field. Raises
        ``SchemaError`` style errors (``InvalidArgumentError``) when a model's
        dimension disagrees with the field's, the registry's not-found errors, and
        ``PermissionDeniedError`` for a code-bearing model the registry's policy refuses.
        """
        resolved: dict[str, ModelVersion] = {}
        fields: list[FieldSchema] = []
        for field in schema.fields:
            if field.model is None:
                fields.append(field)
                continue
            version = self.registry.resolve(field.model)
            self.registry.check_code_allowed(version)
            if version.status is not VersionStatus.READY or version.dimension is None:
                raise InvalidStateError(f"field {field.name!r}: {version.uri} is {version.status.value}, not READY")
            check_fits(field, version)
            if field.dtype.is_sparse:
                resolved[field.name] = version
                fields.append(field)
                continue
            if field.dim is not None and field.dim != version.dimension:
                raise InvalidArgumentError(
                    f"field {field.name!r} has dim={field.dim} but {version.uri} makes {version.dimension}-d vectors"
                )
            if field.source is None:
                raise InvalidArgumentError(f"field {field.name!r}: model= needs source= (the text field it embeds)")
            resolved[field.name] = version
            metric = field.metric_type or version.metric
            fields.append(replace(field, dim=version.dimension, metric_type=metric))
        completed = replace(schema, fields=tuple(fields)).validate()
        return completed, resolved

    def bind(self, cursor: sqlite3.Cursor, collection_id: int, versions: dict[str, ModelVersion]) -> None:
        """Record each field's first version as READY and serving, inside the caller's transaction."""
        now = time.time()
        for field, version in versions.items():
            key = column_key(field, version.name, version.version)
            assert version.dimension is not None  # checked by resolve_schema
            cursor.execute(
                "INSERT INTO embedding_versions (collection_id, field, model_name, model_version, column_key, dimension,"
                " state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection_id, field, version.name, version.version, key, version.dimension, "READY", now, now),
            )
            cursor.execute(
                "INSERT INTO embedding_serving (collection_id, field, column_key, previous_column_key, updated_at)"
                " VALUES (?, ?, ?, NULL, ?)",
                (collection_id, field, key, now),
            )

    # --------------------------------------------------------------- reads

    def forget(self, collection_id: int | None = None) -> None:
        """Drop cached bindings; call it after the transaction that changed them has committed."""
        with self._lock:
            self._generation += 1
            if collection_id is None:
                self._cache.clear()
            else:
                self._cache.pop(collection_id, None)

    def fields(self, collection_id: int, schema: CollectionSchema) -> dict[str, FieldBinding]:
        """The bindings of a collection's model-bound fields (empty when none is bound), cached.

        A read that began before a change committed never fills the cache after the
        change's ``forget``: the cache only takes what was read within one generation.
        """
        cached = self._cache.get(collection_id)
        if cached is not None:
            return cached
        generation = self._generation
        bindings = self.read(self.catalog.query, collection_id, schema)
        self.pause_points.reach("bindings.read")
        with self._lock:
            if self._generation == generation:
                self._cache[collection_id] = bindings
        return bindings

    def read_in(self, cursor: sqlite3.Cursor, collection_id: int, schema: CollectionSchema) -> dict[str, FieldBinding]:
        """The bindings as the caller's transaction sees them, uncached: what a transition checks before it commits."""
        return self.read(lambda sql, params: cursor.execute(sql, params).fetchall(), collection_id, schema)

    @staticmethod
    def read(
        query: Callable[[str, tuple[Any, ...]], list[sqlite3.Row]], collection_id: int, schema: CollectionSchema
    ) -> dict[str, FieldBinding]:
        bound = {f.name: f for f in schema.bound_fields}
        bindings: dict[str, FieldBinding] = {}
        if not bound:
            return bindings
        rows = query(
            "SELECT * FROM embedding_versions WHERE collection_id = ? ORDER BY created_at, model_version",
            (collection_id,),
        )
        serving = {
            r["field"]: (r["column_key"], r["previous_column_key"])
            for r in query("SELECT * FROM embedding_serving WHERE collection_id = ?", (collection_id,))
        }
        for name, field in bound.items():
            versions = tuple(
                EmbeddingVersion(
                    field=name,
                    model_name=r["model_name"],
                    model_version=int(r["model_version"]),
                    column_key=r["column_key"],
                    dimension=int(r["dimension"]),
                    state=EmbeddingVersionState(r["state"]),
                    created_at=float(r["created_at"]),
                )
                for r in rows
                if r["field"] == name
            )
            if name not in serving:
                raise FailedPreconditionError(f"field {name!r} is bound to a model but has no serving version")
            key, previous = serving[name]
            assert field.source is not None and field.model is not None
            bindings[name] = FieldBinding(name, field.source, field.model, versions, key, previous, field.dtype.is_sparse)
        return bindings

    def users_of(self, version: ModelVersion) -> list[str]:
        """Collections whose fields hold vectors of ``version`` (the registry refuses to delete it then)."""
        rows = self.catalog.query(
            "SELECT c.name, e.field FROM embedding_versions e JOIN collections c ON c.id = e.collection_id"
            " WHERE e.model_name = ? AND e.model_version = ? AND e.state != 'RETIRED'",
            (version.name, version.version),
        )
        return [f"collection {r['name']!r} field {r['field']!r}" for r in rows]


def check_fits(field: FieldSchema, version: ModelVersion) -> None:
    """Refuse (``InvalidArgumentError``) a model that makes no vectors for a vector field, or anything but an analyzer for a BM25 field."""
    if field.dtype.is_sparse and version.flavor != ANALYZER_FLAVOR:
        raise InvalidArgumentError(
            f"field {field.name!r} is a BM25 field: bind it to an analyzer (a model registered from analyzer_params), "
            f"not {version.uri} ({version.flavor})",
            field=field.name,
        )
    if not field.dtype.is_sparse and version.flavor == ANALYZER_FLAVOR:
        raise InvalidArgumentError(
            f"{version.uri} is an analyzer: it makes BM25 term counts for a SPARSE_FLOAT_VECTOR field, not "
            f"{field.dtype.name} vectors for field {field.name!r}",
            field=field.name,
        )
    if not field.dtype.is_sparse and not version.dimension:
        raise InvalidArgumentError(
            f"{version.uri} is a {version.flavor} model: it makes no vectors for field {field.name!r}", field=field.name
        )


def add_version(
    cursor: sqlite3.Cursor, collection_id: int, field: str, version: ModelVersion
) -> EmbeddingVersion:
    """Record a new BACKFILLING version of a field inside the caller's transaction.

    A retired version comes back as BACKFILLING. Raises ``AlreadyExistsError``
    when the field already holds that version.
    """
    if version.status is not VersionStatus.READY or version.dimension is None:
        raise InvalidStateError(f"{version.uri} is {version.status.value}, not READY")
    key = column_key(field, version.name, version.version)
    now = time.time()
    row = cursor.execute(
        "SELECT state FROM embedding_versions WHERE collection_id = ? AND column_key = ?", (collection_id, key)
    ).fetchone()
    if row is not None and row["state"] != EmbeddingVersionState.RETIRED.value:
        raise AlreadyExistsError(f"field {field!r} already holds {version.uri} ({row['state']})", field=field)
    if row is not None:
        cursor.execute(
            "UPDATE embedding_versions SET state = 'BACKFILLING', updated_at = ? WHERE collection_id = ? AND column_key = ?",
            (now, collection_id, key),
        )
    else:
        cursor.execute(
            "INSERT INTO embedding_versions (collection_id, field, model_name, model_version, column_key, dimension,"
            " state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'BACKFILLING', ?, ?)",
            (collection_id, field, version.name, version.version, key, version.dimension, now, now),
        )
    return EmbeddingVersion(field, version.name, version.version, key, version.dimension, EmbeddingVersionState.BACKFILLING, now)


def set_version_state(cursor: sqlite3.Cursor, collection_id: int, key: str, state: EmbeddingVersionState) -> None:
    cursor.execute(
        "UPDATE embedding_versions SET state = ?, updated_at = ? WHERE collection_id = ? AND column_key = ?",
        (state.value, time.time(), collection_id, key),
    )


def set_serving(cursor: sqlite3.Cursor, collection_id: int, field: str, key: str, previous_key: str | None) -> None:
    cursor.execute(
        "UPDATE embedding_serving SET column_key = ?, previous_column_key = ?, updated_at = ?"
        " WHERE collection_id = ? AND field = ?",
        (key, previous_key, time.time(), collection_id, field),
    )
