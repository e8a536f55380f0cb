"""What every operation asks first: which collection a name means, and how its fields are stored.

``CollectionMetadata`` caches collection metadata by name or alias, read from
the catalog on first use and dropped by every DDL call (``forget``), so a
search does not touch SQLite. One instance belongs to a ``Database`` and is
shared by every client of it, so a collection dropped and recreated through one
client is never seen stale through another. It also resolves what reads and
writes need from a collection's metadata: the embedding bindings of its
model-bound fields, the storage column each vector field is read from, partition
ids, the output plan of a read, and the vector field a search uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from embedb.errors import CollectionNotLoadedError, InvalidArgumentError, PartitionNotLoadedError
from embedb.index.properties import IndexProperties
from embedb.index.scalar import ScalarIndexes
from embedb.lifecycle import EmbeddingBindings, FieldBinding
from embedb.models import ModelRegistry
from embedb.query import CompiledFilter, OutputPlan, compile_filter, plan_output
from embedb.query.filters import params_key
from embedb.schema import AUTO_ID_TEXT_LENGTH, CollectionSchema, FieldSchema
from embedb.storage import CollectionInfo, CollectionStore, StorageEngine
from embedb.timestamps import collection_timezone, zone

FILTERS_REMEMBERED = 256  # compiled filters kept (a workload repeats a handful; a stream of new ones starts over)


class AutoIds:
    """Monotonic int64 keys: milliseconds since the epoch, shifted, plus a counter."""

    def __init__(self, floor: int) -> None:
        self._last = floor
        self._lock = threading.Lock()

    def take(self, n: int) -> np.ndarray:
        with self._lock:
            start = max(self._last + 1, int(time.time() * 1000) << 20)
            self._last = start + n - 1
        return np.arange(start, start + n, dtype=np.int64)


def refuse_partitions_with_partition_key(info: CollectionInfo) -> None:
    """Milvus's rule: a collection with a partition key takes no partition names (the key places each row)."""
    key = info.schema.partition_key
    if key is not None:
        raise InvalidArgumentError(
            f"collection {info.name!r} has the partition key {key.name!r}: partitions are not named by hand; filter on the key",
            argument="partition_name",
        )


def _largest_key(keys: np.ndarray) -> int:
    """The largest key as a number: for text keys, the largest that is all digits (generated keys are)."""
    if keys.dtype.kind in "iu":
        return int(keys.max())
    text = keys.astype(str)
    numeric = text[np.char.isdigit(text) & (np.char.str_len(text) <= AUTO_ID_TEXT_LENGTH)]
    return max((int(k) for k in numeric.tolist()), default=0)


class CollectionMetadata:
    """Collection metadata by name, cached; and what reads and writes derive from it. Thread-safe."""

    def __init__(self, storage: StorageEngine, bindings: EmbeddingBindings, models: ModelRegistry) -> None:
        self.storage = storage
        self.bindings_table = bindings
        self.models = models
        # Replaced, never changed in place: readers take the dict without a lock.
        self.by_name: dict[str, CollectionInfo] = {}
        # Compiled filters by collection, text, params, indexed fields and time zone: a workload repeats its filters.
        self._filters: dict[tuple[Any, ...], tuple[CollectionInfo, CompiledFilter]] = {}
        self.search_fields: dict[tuple[int, str | None], tuple[CollectionInfo, FieldSchema]] = {}
        self._auto_ids: dict[int, AutoIds] = {}
        self._lock = threading.Lock()
        self.scalar_indexes = ScalarIndexes(storage.catalog)
        self.index_properties = IndexProperties(storage.catalog)

    def info(self, name: str) -> CollectionInfo:
        """A collection by name or alias; raises ``CollectionNotFoundError``."""
        if not isinstance(name, str):
            raise InvalidArgumentError(f"collection_name must be a string, got {type(name).__name__}")
        info = self.by_name.get(name)
        if info is None:
            info = self.storage.collection(name)
            self.by_name = {**self.by_name, name: info}
        return info

    def forget(self) -> None:
        """Drop every cached entry (after any DDL call)."""
        self.by_name = {}
        self._filters = {}

    def store(self, info: CollectionInfo) -> CollectionStore:
        return self.storage.store(info)

    def bindings(self, info: CollectionInfo) -> dict[str, FieldBinding]:
        """The embedding versions of each model-bound field of the collection."""
        return self.bindings_table.fields(info.id, info.schema)

    def vector_keys(self, info: CollectionInfo, bindings: dict[str, FieldBinding] | None = None) -> dict[str, str]:
        """The storage column each vector field is read from: its serving model version's, or its own name.

        Pass the ``bindings`` the rest of a request uses, so one request reads one serving version.
        """
        keys = {f.name: f.name for f in info.schema.vector_fields}
        for name, binding in (self.bindings(info) if bindings is None else bindings).items():
            if not binding.tokenized:  # an analyzer-bound BM25 field is read from its own stored column
                keys[name] = binding.serving_key
        return keys

    def partition_ids(self, info: CollectionInfo, names: Sequence[str] | str | None) -> list[int] | None:
        if names is None:
            return None
        refuse_partitions_with_partition_key(info)
        if isinstance(names, str):
            names = [names]
        return [self.storage.partition_id(info, name) for name in names]

    def indexed_fields(self, info: CollectionInfo) -> frozenset[str]:
        """The scalar fields filters answer by binary search: those with a scalar index, and the partition key."""
        indexed = self.scalar_indexes.indexed_fields(info.id, info.schema)
        key = info.schema.partition_key
        return indexed if key is None else indexed | {key.name}

    def compiled_filter(
        self, info: CollectionInfo, expression: str, params: Mapping[str, Any] | None, timezone: str | None = None
    ) -> CompiledFilter | None:
        """A read's filter bound to the collection (its scalar indexes, ``timezone`` or its own), or None when it is blank."""
        if timezone is not None:
            zone(timezone)  # InvalidArgumentError naming a zone that does not exist
        if not isinstance(expression, str) or not expression.strip():
            return None
        indexed, read_in = self.filter_context(info, timezone)
        key = (info.id, expression, params_key(params or {}), indexed, read_in)
        remembered = self._filters.get(key)
        if remembered is not None and remembered[0] is info:  # the same info: no DDL since (``forget``)
            return remembered[1]
        compiled = compile_filter(expression, info.schema, params=params, indexed=indexed, timezone=read_in)
        self._remember(key, info, compiled)
        return compiled

    def filter_context(self, info: CollectionInfo, timezone: str | None = None) -> tuple[frozenset[str], str]:
        """What a filter of the collection is compiled with besides its schema: the indexed fields, the time zone."""
        return self.indexed_fields(info), timezone or collection_timezone(info.properties)

    def take_filter(
        self,
        info: CollectionInfo,
        expression: str,
        params: Mapping[str, Any] | None,
        context: tuple[frozenset[str], str],
        compiled: CompiledFilter,
        timezone: str | None = None,
    ) -> None:
        """Remember a filter compiled elsewhere (a cluster's router) as if compiled here — only if it was compiled
        with this node's ``filter_context`` for it (otherwise ``compiled_filter`` compiles its own)."""
        if context != self.filter_context(info, timezone) or compiled.expression != expression:
            return
        key = (info.id, expression, params_key(params or {}), *context)
        remembered = self._filters.get(key)
        if remembered is None or remembered[0] is not info:  # a repeated read: already remembered, nothing to copy
            self._remember(key, info, compiled)

    def _remember(self, key: tuple[Any, ...], info: CollectionInfo, compiled: CompiledFilter) -> None:
        filters = dict(self._filters) if len(self._filters) < FILTERS_REMEMBERED else {}
        filters[key] = (info, compiled)
        self._filters = filters  # replaced, never changed in place, as ``by_name``

    def read_partition_ids(self, info: CollectionInfo, names: Sequence[str] | str | None) -> list[int] | None:
        """The partitions a read (get, query, search) covers: the named ones, or every loaded one.

        Raises ``CollectionNotLoadedError`` when the collection was released and
        ``PartitionNotLoadedError`` when a named partition was.
        """
        if not info.released:
            return self.partition_ids(info, names)
        ids = self.partition_ids(info, names)
        if info.released >= info.partitions.keys():
            raise CollectionNotLoadedError(
                f"collection {info.name!r} is released; load_collection serves it again", collection=info.name
            )
        if ids is None:
            return [pid for name, pid in info.partitions.items() if name not in info.released]
        named = [names] if isinstance(names, str) else list(names or ())
        released = sorted(name for name in named if name in info.released)
        if released:
            raise PartitionNotLoadedError(
                f"partitions {released} of {info.name!r} are released; load_partitions serves them again", partitions=released
            )
        return ids

    def auto_ids(self, info: CollectionInfo) -> AutoIds:
        """The key generator of an auto_id collection, floored above every stored key."""
        generator = self._auto_ids.get(info.id)
        if generator is None:
            floor = 0
            for view in self.storage.store(info).snapshot().segments:
                if view.data.num_rows:
                    floor = max(floor, _largest_key(view.data.pks))
            with self._lock:
                generator = self._auto_ids.setdefault(info.id, AutoIds(floor))
        return generator

    def output_plan(
        self,
        info: CollectionInfo,
        output_fields: Sequence[str] | None,
        *,
        default_all: bool,
        bindings: dict[str, FieldBinding] | None = None,
    ) -> OutputPlan:
        """Which columns a read returns; ``field@version`` names a model version's vectors or its URI.

        ``bindings`` are the ones the request read once (its serving versions); read here when not given.
        """
        if output_fields is None and not default_all:  # the common search: keys and distances only
            return OutputPlan((info.schema.primary.name,), (), (), False)
        fields = output_fields
        if fields is None and default_all:
            fields = ["*"]
        if bindings is None:
            bindings = self.bindings(info)
        versioned = [f for f in fields or () if isinstance(f, str) and "@" in f and f.split("@", 1)[0] in bindings]
        plan = plan_output(
            info.schema,
            [f for f in fields or () if f not in versioned],
            self.vector_keys(info, bindings),
            include_primary=True,
        )
        if not versioned:
            return plan
        vectors, constants = list(plan.vectors), list(plan.constants)
        for name in versioned:
            field_name, ref = name.split("@", 1)
            binding = bindings[field_name]
            if ref == "version":  # which model version made the field's returned vectors
                constants.append((name, binding.serving.uri))
            else:  # the field's vectors of one model version: "embedding@models:/minilm/2"
                vectors.append((name, binding.version(self.models.resolve(ref)).column_key))
        return OutputPlan(plan.scalars, tuple(vectors), plan.dynamic_keys, plan.all_dynamic, tuple(constants))

    def search_field(self, info: CollectionInfo, anns_field: str | None) -> FieldSchema:
        """The vector field a search reads, remembered per collection metadata object (every search asks)."""
        if anns_field is not None and not isinstance(anns_field, str):
            return _anns_field(info.schema, anns_field)
        cached = self.search_fields.get((info.id, anns_field))
        if cached is not None and cached[0] is info:
            return cached[1]
        field = _anns_field(info.schema, anns_field)
        self.search_fields = {**self.search_fields, (info.id, anns_field): (info, field)}
        return field


def _anns_field(schema: CollectionSchema, anns_field: str | None) -> FieldSchema:
    vectors = schema.searchable_fields
    if anns_field is None:
        if len(vectors) > 1:
            names = [f.name for f in vectors]
            raise InvalidArgumentError(f"the collection has several vector fields {names}; pass anns_field")
        return vectors[0]
    field = schema.field(anns_field)
    if not field.dtype.is_searchable:
        raise InvalidArgumentError(f"anns_field {anns_field!r} is not a vector field")
    return field
