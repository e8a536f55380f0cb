"""The storage engine of one data directory: lock, catalog, collection stores, housekeeping.

Layout of a data directory (every path inside is relative, so a directory can
be moved or copied to object storage whole)::

    <data>/LOCK                       writer lock (flock)
    <data>/catalog.sqlite             the catalog (SQLite, WAL mode)
    <data>/collections/<id>/wal/      the collection's write-ahead log
    <data>/collections/<id>/segments/ its sealed segments
    <data>/artifacts/                 model artifacts (see embedb.models)

Collections are stored under their numeric id, so renaming one is a catalog
update. A background thread seals growing segments that reached their size and
merges segments that ``compaction_plan`` proposes.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from embedb.config import Settings
from embedb.errors import (
    AliasAlreadyExistsError,
    AliasNotFoundError,
    CollectionAlreadyExistsError,
    CollectionNotFoundError,
    FailedPreconditionError,
    PartitionAlreadyExistsError,
    PartitionNotFoundError,
    StorageError,
)
from embedb.schema import CollectionSchema, DataType, check_name
from embedb.storage.catalog import Catalog, CollectionInfo
from embedb.storage.lock import WriterLock
from embedb.storage.state import Snapshot, StoreLayout
from embedb.storage.store import CollectionStore, NoObserver, StorageObserver

log = logging.getLogger(__name__)

DEFAULT_PARTITION = "_default"
CATALOG_FILE = "catalog.sqlite"


class StorageEngine:
    """Everything stored in one data directory. Thread-safe; one per directory per process."""

    def __init__(
        self,
        path: Path | None,
        *,
        settings: Settings,
        read_only: bool = False,
        observer: StorageObserver | None = None,
        start_housekeeping: bool = True,
    ) -> None:
        self._temporary = path is None
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="embedb-memory-"))
        self.path = path
        self.settings = settings
        self.read_only = read_only
        self._lock = threading.RLock()
        self._stores: dict[int, CollectionStore] = {}
        self._observer: StorageObserver = observer or NoObserver()
        self._writer_lock: WriterLock | None = None
        if read_only:
            if not (path / CATALOG_FILE).exists():
                raise StorageError(f"{path} is not an EmbeDB data directory (no {CATALOG_FILE})")
        else:
            path.mkdir(parents=True, exist_ok=True)
            self._writer_lock = WriterLock(path)
        try:
            self.catalog = Catalog(path / CATALOG_FILE, read_only=read_only)
            if not read_only:
                self._remove_dropped_collection_folders()
            # A read-only open of an older directory may lack the table: its collections record no shard count.
            self._has_shard_counts = (
                self.catalog.query_one("SELECT name FROM sqlite_master WHERE name = 'collection_shards'") is not None
            )
        except BaseException:
            if self._writer_lock is not None:
                self._writer_lock.release()
            raise
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        if start_housekeeping:
            self.start()

    def start(self) -> None:
        """Start the housekeeping thread (seal, compact); a no-op when read-only or already started."""
        if self.read_only or self._worker is not None:
            return
        self._worker = threading.Thread(target=self._housekeeping_loop, name="embedb-housekeeping", daemon=True)
        self._worker.start()

    # ----------------------------------------------------------- collections

    def _remove_dropped_collection_folders(self) -> None:
        root = self.path / "collections"
        if not root.exists():
            return
        known = {str(row["id"]) for row in self.catalog.query("SELECT id FROM collections")}
        for folder in root.iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)

    def _info_from_row(self, row: sqlite3.Row) -> CollectionInfo:
        partitions = {
            p["name"]: int(p["partition_id"])
            for p in self.catalog.query(
                "SELECT name, partition_id FROM partitions WHERE collection_id = ? ORDER BY partition_id", (row["id"],)
            )
        }
        released = frozenset(
            r["name"]
            for r in self.catalog.query(
                "SELECT p.name FROM released_partitions r JOIN partitions p"
                " ON p.collection_id = r.collection_id AND p.partition_id = r.partition_id WHERE r.collection_id = ?",
                (row["id"],),
            )
        )
        shards = (
            self.catalog.query_one("SELECT num_shards FROM collection_shards WHERE collection_id = ?", (row["id"],))
            if self._has_shard_counts
            else None
        )
        return CollectionInfo(
            id=int(row["id"]),
            name=row["name"],
            schema=CollectionSchema.from_dict(json.loads(row["schema"])),
            properties=json.loads(row["properties"]),
            created_at=float(row["created_at"]),
            partitions=partitions,
            released=released,
            num_shards=None if shards is None else int(shards["num_shards"]),
        )

    def list_collections(self) -> list[str]:
        return [row["name"] for row in self.catalog.query("SELECT name FROM collections ORDER BY name")]

    def resolve_name(self, name_or_alias: str) -> str:
        """The collection name behind a name or an alias; raise ``CollectionNotFoundError``."""
        row = self.catalog.query_one("SELECT name FROM collections WHERE name = ?", (name_or_alias,))
        if row is not None:
            return str(row["name"])
        row = self.catalog.query_one(
            "SELECT c.name FROM aliases a JOIN collections c ON c.id = a.collection_id WHERE a.alias = ?",
            (name_or_alias,),
        )
        if row is not None:
            return str(row["name"])
        raise CollectionNotFoundError(f"collection {name_or_alias!r} does not exist", collection=name_or_alias)

    def collection(self, name_or_alias: str) -> CollectionInfo:
        """Describe a collection by name or alias; raise ``CollectionNotFoundError``."""
        name = self.resolve_name(name_or_alias)
        row = self.catalog.query_one("SELECT * FROM collections WHERE name = ?", (name,))
        if row is None:
            raise CollectionNotFoundError(f"collection {name_or_alias!r} does not exist", collection=name_or_alias)
        return self._info_from_row(row)

    def collection_by_id(self, collection_id: int) -> CollectionInfo:
        """Describe a collection by its numeric id; raise ``CollectionNotFoundError``."""
        row = self.catalog.query_one("SELECT * FROM collections WHERE id = ?", (collection_id,))
        if row is None:
            raise CollectionNotFoundError(f"no collection has id {collection_id}", collection_id=collection_id)
        return self._info_from_row(row)

    def has_collection(self, name: str) -> bool:
        return self.catalog.query_one("SELECT 1 FROM collections WHERE name = ?", (name,)) is not None

    def ddl_lock(self) -> threading.RLock:
        """The lock every change of collections, partitions and load state takes; take it before the catalog's."""
        return self._lock

    def create_collection(
        self,
        name: str,
        schema: CollectionSchema,
        properties: dict[str, Any] | None = None,
        *,
        num_shards: int | None = None,
    ) -> CollectionInfo:
        """Record a new collection (``num_shards`` as asked; None records none) with its default partition."""
        check_name(name, kind="collection")
        with self._lock, self.catalog.transaction() as cursor:
            self._check_name_free(cursor, name)
            cursor.execute(
                "INSERT INTO collections (name, schema, properties, created_at) VALUES (?, ?, ?, ?)",
                (name, json.dumps(schema.to_dict()), json.dumps(properties or {}), time.time()),
            )
            collection_id = cursor.lastrowid
            if num_shards is not None:
                cursor.execute(
                    "INSERT INTO collection_shards (collection_id, num_shards) VALUES (?, ?)",
                    (collection_id, num_shards),
                )
            cursor.execute(
                "INSERT INTO partitions (collection_id, partition_id, name, created_at) VALUES (?, 0, ?, ?)",
                (collection_id, DEFAULT_PARTITION, time.time()),
            )
            self.catalog.record_event(cursor, "collection.create", name)
        return self.collection(name)

    def alter_schema(self, info: CollectionInfo, schema: CollectionSchema, *, check: Callable[[Snapshot], None]) -> None:
        """Store another schema for a collection (the same fields with other options, such as a metric).

        Writes to the collection wait while ``check`` reads its rows and the
        catalog is updated, so no row the check did not see is written under the
        old schema; ``check`` raises to refuse the change (nothing is written then).
        """
        with self._lock, self.store(info).writes_held() as rows:
            check(rows)
            with self.catalog.transaction() as cursor:
                cursor.execute("UPDATE collections SET schema = ? WHERE id = ?", (json.dumps(schema.to_dict()), info.id))
                if cursor.rowcount == 0:
                    raise CollectionNotFoundError(f"collection {info.name!r} does not exist", collection=info.name)
                self.catalog.record_event(cursor, "collection.alter_schema", info.name)

    def alter_properties(self, info: CollectionInfo, changes: dict[str, Any], dropped: Sequence[str]) -> None:
        """Set ``changes`` and remove ``dropped`` in a collection's properties, in one catalog transaction."""
        with self._lock, self.catalog.transaction() as cursor:
            row = cursor.execute("SELECT properties FROM collections WHERE id = ?", (info.id,)).fetchone()
            if row is None:
                raise CollectionNotFoundError(f"collection {info.name!r} does not exist", collection=info.name)
            properties = {**json.loads(row["properties"]), **changes}
            for key in dropped:
                properties.pop(key, None)
            cursor.execute("UPDATE collections SET properties = ? WHERE id = ?", (json.dumps(properties), info.id))
            self.catalog.record_event(cursor, "collection.alter_properties", info.name, set=sorted(changes), dropped=list(dropped))

    def _check_name_free(self, cursor: sqlite3.Cursor, name: str) -> None:
        if cursor.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
            raise CollectionAlreadyExistsError(f"collection {name!r} already exists", collection=name)
        if cursor.execute("SELECT 1 FROM aliases WHERE alias = ?", (name,)).fetchone():
            raise CollectionAlreadyExistsError(f"{name!r} is already an alias of a collection", collection=name)

    def drop_collection(self, name: str) -> None:
        """Drop a collection (by its name, not an alias) and delete its files."""
        with self._lock:
            row = self.catalog.query_one("SELECT id FROM collections WHERE name = ?", (name,))
            if row is None:
                raise CollectionNotFoundError(f"collection {name!r} does not exist", collection=name)
            collection_id = int(row["id"])
            store = self._stores.pop(collection_id, None)
            if store is not None:
                store.close()
            with self.catalog.transaction() as cursor:
                cursor.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
                self.catalog.record_event(cursor, "collection.drop", name)
            shutil.rmtree(self._collection_root(collection_id), ignore_errors=True)

    def rename_collection(self, old: str, new: str) -> None:
        check_name(new, kind="collection")
        with self._lock, self.catalog.transaction() as cursor:
            if cursor.execute("SELECT 1 FROM collections WHERE name = ?", (old,)).fetchone() is None:
                raise CollectionNotFoundError(f"collection {old!r} does not exist", collection=old)
            self._check_name_free(cursor, new)
            cursor.execute("UPDATE collections SET name = ? WHERE name = ?", (new, old))
            self.catalog.record_event(cursor, "collection.rename", new, previous=old)

    def _collection_root(self, collection_id: int) -> Path:
        return self.path / "collections" / str(collection_id)

    # ---------------------------------------------------------------- stores

    def store(self, info: CollectionInfo) -> CollectionStore:
        """The open store of a collection (opened on first use)."""
        store = self._stores.get(info.id)
        if store is not None:
            return store
        with self._lock:
            store = self._stores.get(info.id)
            if store is None:
                if self.catalog.query_one("SELECT 1 FROM collections WHERE id = ?", (info.id,)) is None:
                    # a request that looked the collection up before a drop_collection committed
                    raise CollectionNotFoundError(f"collection {info.name!r} does not exist", collection=info.name)
                pk_is_int = info.schema.primary.dtype is DataType.INT64
                dims = {f.name: int(f.dim or 0) for f in info.schema.vector_fields}
                store = CollectionStore(
                    collection_id=info.id,
                    layout=StoreLayout(self._collection_root(info.id)),
                    catalog=self.catalog,
                    settings=self.settings,
                    vector_dims=dims,
                    pk_is_int=pk_is_int,
                    read_only=self.read_only,
                    observer=self._observer,
                )
                self._observer.store_opened(info, store)
                self._stores[info.id] = store
            return store

    # ------------------------------------------------------------ partitions

    def create_partition(self, collection: str, partition: str) -> None:
        check_name(partition, kind="partition")
        info = self.collection(collection)
        with self._lock, self.catalog.transaction() as cursor:
            if partition in info.partitions:
                raise PartitionAlreadyExistsError(
                    f"partition {partition!r} already exists in {info.name!r}", partition=partition
                )
            next_id = 1 + max(info.partitions.values(), default=0)
            cursor.execute(
                "INSERT INTO partitions (collection_id, partition_id, name, created_at) VALUES (?, ?, ?, ?)",
                (info.id, next_id, partition, time.time()),
            )
            if info.released and info.released >= info.partitions.keys():
                # A partition of a released collection starts released, as in Milvus.
                cursor.execute("INSERT INTO released_partitions (collection_id, partition_id) VALUES (?, ?)", (info.id, next_id))

    def set_loaded(self, info: CollectionInfo, partitions: Sequence[str] | None, loaded: bool) -> None:
        """Load (serve) or release some partitions of a collection, or all of them (``None``); kept across restarts."""
        ids = list(info.partitions.values()) if partitions is None else [self.partition_id(info, name) for name in partitions]
        with self._lock, self.catalog.transaction() as cursor:
            if cursor.execute("SELECT 1 FROM collections WHERE id = ?", (info.id,)).fetchone() is None:
                raise CollectionNotFoundError(f"collection {info.name!r} does not exist", collection=info.name)
            for partition_id in ids:
                if loaded:
                    cursor.execute("DELETE FROM released_partitions WHERE collection_id = ? AND partition_id = ?", (info.id, partition_id))
                else:
                    cursor.execute(
                        "INSERT OR IGNORE INTO released_partitions (collection_id, partition_id) VALUES (?, ?)", (info.id, partition_id)
                    )
            self.catalog.record_event(cursor, "collection.load" if loaded else "collection.release", info.name, partitions=partitions)

    def partition_id(self, info: CollectionInfo, partition: str) -> int:
        try:
            return info.partitions[partition]
        except KeyError:
            raise PartitionNotFoundError(
                f"partition {partition!r} does not exist in {info.name!r}; partitions: {sorted(info.partitions)}",
                partition=partition,
            ) from None

    def drop_partition(self, collection: str, partition: str) -> None:
        """Delete a partition's rows (logged in the WAL first), then the partition."""
        info = self.collection(collection)
        partition_id = self.partition_id(info, partition)
        if partition == DEFAULT_PARTITION:
            raise FailedPreconditionError("the _default partition cannot be dropped")
        with self._lock:
            self.store(info).drop_partition(partition_id)
            with self.catalog.transaction() as cursor:
                cursor.execute(
                    "DELETE FROM partitions WHERE collection_id = ? AND partition_id = ?", (info.id, partition_id)
                )

    # --------------------------------------------------------------- aliases

    def create_alias(self, collection: str, alias: str) -> None:
        check_name(alias, kind="alias")
        with self._lock, self.catalog.transaction() as cursor:
            row = cursor.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()
            if row is None:
                raise CollectionNotFoundError(f"collection {collection!r} does not exist", collection=collection)
            if cursor.execute("SELECT 1 FROM aliases WHERE alias = ?", (alias,)).fetchone():
                raise AliasAlreadyExistsError(f"alias {alias!r} already exists", alias=alias)
            if cursor.execute("SELECT 1 FROM collections WHERE name = ?", (alias,)).fetchone():
                raise AliasAlreadyExistsError(f"{alias!r} is the name of a collection", alias=alias)
            cursor.execute("INSERT INTO aliases (alias, collection_id, created_at) VALUES (?, ?, ?)", (alias, row["id"], time.time()))
            self.catalog.record_event(cursor, "alias.create", alias, collection=collection)

    def alter_alias(self, collection: str, alias: str) -> None:
        """Re-point an alias to another collection in one transaction."""
        with self._lock, self.catalog.transaction() as cursor:
            row = cursor.execute("SELECT id FROM collections WHERE name = ?", (collection,)).fetchone()
            if row is None:
                raise CollectionNotFoundError(f"collection {collection!r} does not exist", collection=collection)
            updated = cursor.execute("UPDATE aliases SET collection_id = ? WHERE alias = ?", (row["id"], alias))
            if updated.rowcount == 0:
                raise AliasNotFoundError(f"alias {alias!r} does not exist", alias=alias)
            self.catalog.record_event(cursor, "alias.alter", alias, collection=collection)

    def drop_alias(self, alias: str) -> None:
        with self._lock, self.catalog.transaction() as cursor:
            if cursor.execute("DELETE FROM aliases WHERE alias = ?", (alias,)).rowcount == 0:
                raise AliasNotFoundError(f"alias {alias!r} does not exist", alias=alias)
            self.catalog.record_event(cursor, "alias.drop", alias)

    def list_aliases(self, collection: str | None = None) -> list[tuple[str, str]]:
        """(alias, collection name) pairs, optionally of one collection."""
        sql = "SELECT a.alias, c.name FROM aliases a JOIN collections c ON c.id = a.collection_id"
        params: tuple[Any, ...] = ()
        if collection is not None:
            sql += " WHERE c.name = ?"
            params = (self.resolve_name(collection),)
        return [(r["alias"], r["name"]) for r in self.catalog.query(sql + " ORDER BY a.alias", params)]

    def describe_alias(self, alias: str) -> tuple[str, str]:
        row = self.catalog.query_one(
            "SELECT a.alias, c.name FROM aliases a JOIN collections c ON c.id = a.collection_id WHERE a.alias = ?", (alias,)
        )
        if row is None:
            raise AliasNotFoundError(f"alias {alias!r} does not exist", alias=alias)
        return row["alias"], row["name"]

    # ---------------------------------------------------------- housekeeping

    def _housekeeping_loop(self) -> None:
        while not self._stop.wait(self.settings.background_interval_s):
            self.housekeeping()

    def housekeeping(self) -> None:
        """Seal full growing segments and compact where worthwhile (the background thread calls this)."""
        for store in list(self._stores.values()):
            if self._stop.is_set():
                return
            try:
                if store.needs_flush():
                    store.flush()
                if self.settings.background_compaction and store.compaction_plan():
                    store.compact()
            except Exception:
                log.exception("housekeeping failed for collection %s", store.collection_id)

    def stop_housekeeping(self) -> None:
        """Stop the housekeeping thread (waits for a running seal or compaction to finish)."""
        self._stop.set()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join()

    def close(self) -> None:
        """Stop housekeeping, close every store and the catalog, release the lock."""
        self.stop_housekeeping()
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
            self.catalog.close()
            if self._writer_lock is not None:
                self._writer_lock.release()
                self._writer_lock = None
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)
