"""Rows in and out: insert, upsert, delete, get, query, flush and compact over one ``Database``.

Each method has the name and signature of its ``Backend`` operation (a test
checks it). A write is validated and embedded (model-bound fields, with the
versions current when it is prepared) before anything reaches the WAL, so a
write that raises has written nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from embedb.contract.results import CompactResult, DeleteResult, InsertResult, Row, UpsertResult
from embedb.engine.field_ops import apply_field_op, checked_field_ops
from embedb.errors import DataError, InvalidArgumentError, UnavailableError
from embedb.lifecycle import FieldBinding, embed_rows, given_versions
from embedb.metadata import CollectionMetadata, refuse_partitions_with_partition_key
from embedb.models import ModelRegistry
from embedb.pause_points import PausePoints
from embedb.query import (
    RowRefs,
    compile_filter,
    filter_mask,
    locate_keys,
    order_refs,
    parse_order_by,
    project,
    select_rows,
)
from embedb.schema import DYNAMIC_FIELD_NAME, DataType
from embedb.search import check_paging, keys_at
from embedb.storage import (
    DEFAULT_PARTITION,
    CollectionInfo,
    RowBatch,
    Snapshot,
    StorageEngine,
    WritePreconditionFailed,
    prepare_batch,
    primary_key_array,
    to_columns,
)
from embedb.timestamps import collection_timezone

COUNT_STAR = "count(*)"
# A write re-prepared this often while its model versions change is refused (UnavailableError).
MAX_WRITE_ATTEMPTS = 5


class DataOperations:
    """insert / upsert / delete / get / query / flush / compact."""

    def __init__(
        self,
        storage: StorageEngine,
        metadata: CollectionMetadata,
        models: ModelRegistry,
        pause_points: PausePoints | None = None,
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.models = models
        self.pause_points = pause_points or PausePoints()

    def _batch(
        self,
        info: CollectionInfo,
        data: Any,
        partition_name: str | None,
        *,
        upsert: bool,
        embedding_versions: dict[str, str] | None,
        bindings: dict[str, FieldBinding],
        embed: bool = True,
    ) -> RowBatch:
        """Validate (and embed, with the versions in ``bindings``) a write; raise before anything is written."""
        schema = info.schema
        if partition_name is not None:
            refuse_partitions_with_partition_key(info)
        partition_id = self.storage.partition_id(info, partition_name or DEFAULT_PARTITION)
        prepared = to_columns(data, schema)
        next_auto_ids = None
        if schema.primary.auto_id:
            if upsert:
                keys = prepared.columns.get(schema.primary.name)
                if keys is None:
                    raise DataError(
                        f"upsert needs the primary key {schema.primary.name!r} of every row, even with auto_id"
                    )
                next_auto_ids = lambda n: keys  # noqa: E731 - the keys the user gave
            else:
                next_auto_ids = self.metadata.auto_ids(info).take
        given = given_versions(bindings, self.models, embedding_versions)
        batch = prepare_batch(
            prepared,
            schema,
            partition_id=partition_id,
            vector_keys=self.metadata.vector_keys(info, bindings),
            allow_auto_id_values=upsert,
            next_auto_ids=next_auto_ids,
            skip_vectors=bindings,
            timezone=collection_timezone(info.properties),
        )
        if bindings:
            checked = embed_rows(batch, prepared, schema, bindings, self.models, given, check_only=not embed)
            batch = checked if embed else batch
        return batch

    def write_keys(
        self,
        collection_name: str,
        data: Any,
        *,
        upsert: bool,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
        partial_update: bool = False,
        field_ops: dict[str, str] | None = None,
    ) -> tuple[list[Any], list[Any] | None]:
        """The primary keys a write would store and each row's partition key value (None: the collection has no
        partition key, or a partial update does not give it), the write checked as it checks it (model-bound
        fields not embedded).

        Nothing is written; an auto_id insert's keys are generated here. How a cluster's
        router checks a whole batch once before it splits it among shards.
        """
        info = self.metadata.info(collection_name)
        partition_key = info.schema.partition_key
        if partial_update or field_ops:  # partial rows: the owning shard completes and checks them
            columns = to_columns(data, info.schema).columns
            keys = columns.get(info.schema.primary.name)
            if keys is None:
                raise DataError(f"a partial update names each row by its primary key {info.schema.primary.name!r}")
            given = None if partition_key is None else columns.get(partition_key.name)
            return list(self._keys(info, list(keys)).tolist()), None if given is None else _plain(given)
        bindings = self.metadata.bindings(info)
        batch = self._batch(
            info, data, partition_name, upsert=upsert, embedding_versions=embedding_versions, bindings=bindings, embed=False
        )
        places = None if partition_key is None else batch.table.column(partition_key.name).to_pylist()
        return list(batch.primary_keys.tolist()), places

    def insert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> InsertResult:
        info = self.metadata.info(collection_name)
        batch = self._write(info, data, partition_name, upsert=False, embedding_versions=embedding_versions)
        return {"insert_count": batch.num_rows, "ids": batch.primary_keys.tolist()}

    def upsert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
        partial_update: bool = False,
        field_ops: dict[str, str] | None = None,
    ) -> UpsertResult:
        info = self.metadata.info(collection_name)
        operations = checked_field_ops(info.schema, field_ops)
        if partial_update or operations:
            # Read and write under the write lock: a concurrent write to the same rows cannot slip in between.
            with self.metadata.store(info).writes_held():
                merged = self._with_stored_fields(info, data, operations)
                batch = self._write(info, merged, partition_name, upsert=True, embedding_versions=embedding_versions)
        else:
            batch = self._write(info, data, partition_name, upsert=True, embedding_versions=embedding_versions)
        return {"upsert_count": batch.num_rows}

    def _with_stored_fields(self, info: CollectionInfo, data: Any, operations: dict[str, str]) -> list[dict[str, Any]]:
        """A partial update's rows completed with the stored values of the fields they leave out (``operations`` applied)."""
        if self.metadata.bindings(info):
            raise InvalidArgumentError(
                f"partial updates of {info.name!r} are not supported yet: it has model-bound fields", argument="partial_update"
            )
        rows = rows_of(data)
        for row in rows:  # a $meta column (the Milvus protocol's form of dynamic fields) joins its row
            extra = row.pop(DYNAMIC_FIELD_NAME, None)
            if isinstance(extra, Mapping):
                row.update({key: value for key, value in extra.items() if key not in row})
        primary = info.schema.primary.name
        missing = next((i for i, row in enumerate(rows) if row.get(primary) is None), None)
        if missing is not None:
            raise DataError(f"row {missing}: a partial update names each row by its primary key {primary!r}", row=missing)
        stored = {row[primary]: row for row in self.get(info.name, [row[primary] for row in rows], output_fields=["*"])}
        merged = []
        outputs = {name for function in info.schema.functions for name in function.output_field_names}
        for index, row in enumerate(rows):
            base = {k: v for k, v in stored.get(row[primary], {}).items() if k not in outputs}  # recomputed from the input
            changed = {name: apply_field_op(op, base.get(name), row[name], name, index) for name, op in operations.items() if name in row}
            merged.append({**base, **row, **changed})
        return merged

    def check_write(
        self,
        collection_name: str,
        data: Any,
        *,
        upsert: bool,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
        partial_update: bool = False,
        field_ops: dict[str, str] | None = None,
    ) -> None:
        """Raise what this write would raise, a partial update completed from the stored rows; write nothing."""
        info = self.metadata.info(collection_name)
        operations = checked_field_ops(info.schema, field_ops)
        if partial_update or operations:
            data = self._with_stored_fields(info, data, operations)
        self._batch(
            info,
            data,
            partition_name,
            upsert=upsert,
            embedding_versions=embedding_versions,
            bindings=self.metadata.bindings(info),
            embed=False,
        )

    def _unchanged(self, info: CollectionInfo, written: dict[str, tuple[str, ...]]) -> Callable[[], bool]:
        """A write's precondition: the fields are still written with the versions the batch was embedded with."""
        return lambda: _write_sets(self.metadata.bindings(info)) == written

    def _write(
        self,
        info: CollectionInfo,
        data: Any,
        partition_name: str | None,
        *,
        upsert: bool,
        embedding_versions: dict[str, str] | None,
    ) -> RowBatch:
        """Prepare and write a batch, embedded with the model versions current when it reaches the WAL.

        A batch is embedded with the versions its fields are written with when it is
        prepared; if that set changed before the WAL append (a backfill started, a
        version was dropped), the append is refused under the store's write lock and
        the batch is prepared again. So a row is never written without a vector of a
        version being backfilled, and a backfill's first flush seals every row
        written with the set before it.
        """
        store = self.metadata.store(info)
        for _ in range(MAX_WRITE_ATTEMPTS):
            bindings = self.metadata.bindings(info)
            batch = self._batch(
                info, data, partition_name, upsert=upsert, embedding_versions=embedding_versions, bindings=bindings
            )
            self.pause_points.reach("write.prepared")
            precondition = self._unchanged(info, _write_sets(bindings)) if bindings else None
            try:
                if upsert:
                    store.upsert(batch, precondition=precondition)
                else:
                    store.insert(batch, precondition=precondition)
            except WritePreconditionFailed:
                continue
            return batch
        raise UnavailableError(
            f"the model versions of {info.name!r} kept changing while this write was embedded; nothing was written, "
            "try again"
        )

    def delete(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any | None = None,
        *,
        filter: str | None = None,
        partition_name: str | None = None,
    ) -> DeleteResult:
        info = self.metadata.info(collection_name)
        if (ids is None) == (filter is None or not filter.strip()):
            raise InvalidArgumentError("delete needs either ids or a non-empty filter, not both")
        store = self.metadata.store(info)
        partitions = self.metadata.partition_ids(info, [partition_name] if partition_name else None)
        if ids is not None:
            keys = self._keys(info, ids)
            if partitions is not None:
                snapshot = store.snapshot()
                refs = locate_keys(snapshot, keys, partitions)
                keys = np.asarray(keys_at(snapshot, refs.segments, refs.rows))
        else:
            compiled = compile_filter(
                filter or "", info.schema, indexed=self.metadata.indexed_fields(info), timezone=collection_timezone(info.properties)
            )
            snapshot = store.snapshot()
            refs, keys = select_rows(snapshot, compiled, partitions)
        count = store.delete(keys) if len(keys) else 0
        return {"delete_count": count}

    def truncate_collection(self, collection_name: str) -> None:
        info = self.metadata.info(collection_name)
        store = self.metadata.store(info)
        _, keys = select_rows(store.snapshot(), None, None)
        if len(keys):
            store.delete(keys)

    def _keys(self, info: CollectionInfo, ids: Any) -> np.ndarray:
        """Primary keys from user input, typed for the collection; raise ``DataError`` on wrong types."""
        primary = info.schema.primary
        if isinstance(ids, (str, int, np.integer)) and not isinstance(ids, bool):
            ids = [ids]
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()
        if not isinstance(ids, (list, tuple)):
            raise DataError(f"ids must be a list of primary keys, got {type(ids).__name__}")
        if primary.dtype is DataType.INT64:
            bad = [
                k
                for k in ids
                if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not -(2**63) <= k < 2**63
            ]
            if bad:
                raise DataError(f"primary key {primary.name!r} is INT64; got {bad[0]!r}", field=primary.name)
            return np.asarray(ids, dtype=np.int64)
        bad = [k for k in ids if not isinstance(k, str)]
        if bad:
            raise DataError(f"primary key {primary.name!r} is VARCHAR; got {bad[0]!r}", field=primary.name)
        return primary_key_array(np.asarray(ids, dtype=object)) if ids else np.empty(0, dtype=np.str_)

    # ----------------------------------------------------------------- reads

    def get(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any,
        *,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[Row]:
        info = self.metadata.info(collection_name)
        keys = _first_occurrences(self._keys(info, ids))
        partitions = self.metadata.read_partition_ids(info, partition_names)
        plan = self.metadata.output_plan(info, output_fields, default_all=True)
        snapshot = self.metadata.store(info).snapshot()
        return project(snapshot, locate_keys(snapshot, keys, partitions), plan, info.schema)

    def query(
        self,
        collection_name: str,
        filter: str = "",
        *,
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        partition_names: Sequence[str] | None = None,
        ids: Sequence[Any] | None = None,
        filter_params: dict[str, Any] | None = None,
        order_by: Sequence[str] | None = None,
        timezone: str | None = None,
    ) -> list[Row]:
        info = self.metadata.info(collection_name)
        check_paging(limit, offset, maximum=None)
        ordering = parse_order_by(order_by, info.schema)
        if not isinstance(filter, str):
            raise InvalidArgumentError(f"filter must be a string, got {type(filter).__name__}")
        partitions = self.metadata.read_partition_ids(info, partition_names)
        snapshot = self.metadata.store(info).snapshot()
        compiled = self.metadata.compiled_filter(info, filter, filter_params, timezone)
        if ids is not None:
            refs = locate_keys(snapshot, np.unique(self._keys(info, ids)), partitions)
            if compiled is not None:
                refs = _keep_matching(snapshot, refs, compiled)
        else:
            refs, _ = select_rows(snapshot, compiled, partitions)
        if output_fields is not None and COUNT_STAR in output_fields:
            if len(output_fields) != 1:
                raise InvalidArgumentError("count(*) cannot be combined with other output fields")
            return [{COUNT_STAR: int(refs.rows.size)}]
        refs = order_refs(snapshot, refs, ordering)
        stop = None if limit is None else offset + limit
        refs = RowRefs(refs.segments[offset:stop], refs.rows[offset:stop])
        plan = self.metadata.output_plan(info, output_fields, default_all=False)
        return project(snapshot, refs, plan, info.schema)

    # ----------------------------------------------------------- maintenance

    def flush(self, collection_name: str) -> None:
        self.metadata.store(self.metadata.info(collection_name)).flush()

    def compact(self, collection_name: str) -> CompactResult:
        store = self.metadata.store(self.metadata.info(collection_name))
        store.flush()
        return {"merged_segments": store.compact()}


def rows_of(data: Any) -> list[dict[str, Any]]:
    """Rows (dicts) from any shape ``insert`` takes: rows, a dict of columns, an Arrow table, a DataFrame."""
    if isinstance(data, Mapping) and data and all(isinstance(v, (list, tuple, np.ndarray)) for v in data.values()):
        count = len(next(iter(data.values())))
        return [{name: column[i] for name, column in data.items()} for i in range(count)]
    if isinstance(data, Mapping):
        return [dict(data)]
    if hasattr(data, "to_pylist"):
        return list(data.to_pylist())
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        return list(data.to_dict("records"))
    if isinstance(data, (list, tuple)) and all(isinstance(row, Mapping) for row in data):
        return [dict(row) for row in data]
    raise DataError(f"cannot read rows from a {type(data).__name__}: give a list of row dicts or a dict of columns")


def _first_occurrences(keys: np.ndarray) -> np.ndarray:
    """``keys`` without repeats, in the order each first appears (``get`` returns a row once, as Milvus does)."""
    if keys.size < 2:
        return keys
    _, first = np.unique(keys, return_index=True)
    return keys[np.sort(first)]


def _keep_matching(snapshot: Snapshot, refs: RowRefs, row_filter: Any) -> RowRefs:
    keep = np.zeros(refs.rows.size, dtype=bool)
    for position in np.unique(refs.segments):
        where = np.nonzero(refs.segments == position)[0]
        mask = filter_mask(snapshot.segments[int(position)].data, row_filter)
        keep[where] = mask[refs.rows[where]]
    return RowRefs(refs.segments[keep], refs.rows[keep])


def _write_sets(bindings: dict[str, FieldBinding]) -> dict[str, tuple[str, ...]]:
    """Per model-bound field, the storage columns a write must carry (one per version not retired)."""
    return {name: tuple(v.column_key for v in binding.write_versions) for name, binding in bindings.items()}


def _plain(column: Any) -> list[Any]:
    """A column as given (a list, an Arrow or NumPy array) as a list of Python values."""
    if hasattr(column, "to_pylist"):
        return list(column.to_pylist())
    return list(column.tolist()) if hasattr(column, "tolist") else list(column)
