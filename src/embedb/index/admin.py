"""create_index, list_indexes, describe_index and drop_index over an ``IndexService``.

Milvus rules: one index per vector field; creating the same index again is a
no-op, a different one on the same field or under a taken name raises
``IndexAlreadyExistsError``. The metric is the index's: the first index of a
vector field sets the field's metric (``with_index_metrics``), and another
metric on an indexed field is refused until its index is dropped. Everything is
checked before the catalog is touched.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from embedb.errors import FieldNotFoundError, IndexAlreadyExistsError, IndexNotFoundError, InvalidArgumentError
from embedb.index.catalog import IndexDefinition, SegmentIndexRecord, version_definition
from embedb.index.manager import BuildState, CollectionIndexes, IndexService, field_of_key
from embedb.index.requests import IndexRequest
from embedb.index.vector_index import INDEX_TYPES, IndexSpec, resolve_spec
from embedb.schema import CollectionSchema, MetricType, check_name
from embedb.storage import CollectionInfo


def with_index_metrics(schema: CollectionSchema, requests: list[IndexRequest]) -> CollectionSchema:
    """Milvus keeps the metric in the index: an index's ``metric_type`` becomes its vector field's metric."""
    metrics = {r.field_name: MetricType.parse(r.metric_type) for r in requests if r.metric_type is not None}
    if not any(f.name in metrics and f.dtype.is_vector for f in schema.fields):
        return schema
    fields = tuple(
        replace(f, metric_type=metrics[f.name]) if f.name in metrics and f.dtype.is_vector else f for f in schema.fields
    )
    return replace(schema, fields=fields).validate()


def metric_changes(schema: CollectionSchema, requests: list[IndexRequest], indexed: set[str]) -> list[IndexRequest]:
    """The requests that re-set the metric of a vector field with no index yet (and no model binding).

    A field that has an index keeps its metric: creating another index there is
    refused as in Milvus (drop the index first). A model-bound field's metric
    is the one its versions are searched with, so it is not re-set either.
    """
    changes = []
    for request in requests:
        if request.metric_type is None or not schema.has_field(request.field_name):
            continue
        field = schema.field(request.field_name)
        if not field.dtype.is_vector or field.source is not None or field.name in indexed:
            continue
        if MetricType.parse(request.metric_type) is not field.metric_type:
            changes.append(request)
    return changes


def check_definitions(
    collection_name: str, schema: CollectionSchema, requests: list[IndexRequest]
) -> list[IndexDefinition]:
    """Resolve requested indexes against a schema, all of them before anything is written.

    Raises ``FieldNotFoundError``, ``InvalidArgumentError`` (not a vector field,
    wrong metric, bad type or parameter, two indexes for one field).
    """
    definitions = [_definition(collection_name, schema, request) for request in requests]
    fields = [d.field_name for d in definitions]
    if len(set(fields)) != len(fields):
        raise InvalidArgumentError(
            f"one index per vector field; index_params names a field twice: {fields}", parameter="field_name"
        )
    return definitions


def _definition(collection_name: str, schema: CollectionSchema, request: IndexRequest) -> IndexDefinition:
    if not schema.has_field(request.field_name):
        known = ", ".join(f.name for f in schema.vector_fields)
        raise FieldNotFoundError(
            f"field {request.field_name!r} is not in {collection_name!r}; vector fields: {known}",
            field=request.field_name,
        )
    field = schema.field(request.field_name)
    if not field.dtype.is_vector:
        raise InvalidArgumentError(
            f"field {field.name!r} is not a vector field; only vector fields take an index", parameter="field_name"
        )
    assert field.metric_type is not None  # validated schemas give every vector field a metric
    if request.metric_type is not None and MetricType.parse(request.metric_type) is not field.metric_type:
        raise InvalidArgumentError(
            f"index metric {request.metric_type!r} does not match field {field.name!r}, which uses {field.metric_type.value}"
            f" ({'the metric of its model versions' if field.source else 'the metric of its index: drop the index first'})",
            parameter="metric_type",
        )
    spec = resolve_spec(request.index_type, field.metric_type, request.params, dim=int(field.dim or 0))
    name = request.index_name or field.name
    check_name(name, kind="index")
    return IndexDefinition(name, field.name, request.index_type.strip().upper(), spec, time.time())


def refuse_taken(service: IndexService, info: CollectionInfo, definitions: list[IndexDefinition]) -> None:
    """Raise ``IndexAlreadyExistsError`` when ``create_indexes`` would (before anything is written)."""
    collection = service.collection(info)
    for definition in definitions:
        existing = collection.definitions.get(definition.field_name)
        if existing is not None and (existing.spec != definition.spec or existing.index_name != definition.index_name):
            raise IndexAlreadyExistsError(
                f"field {definition.field_name!r} already has index {existing.index_name!r} ({existing.spec.index_type});"
                " drop it before creating another",
                index=existing.index_name,
            )
        taken = next((d for d in collection.definitions.values() if d.index_name == definition.index_name), None)
        if existing is None and taken is not None:
            raise IndexAlreadyExistsError(
                f"index name {definition.index_name!r} is taken by field {taken.field_name!r}",
                index=definition.index_name,
            )


def create_indexes(
    service: IndexService,
    info: CollectionInfo,
    definitions: list[IndexDefinition],
    *,
    sync: bool,
    timeout: float | None,
) -> None:
    """Record checked definitions and queue their builds; with ``sync``, wait until they are built.

    Creating an identical index again is a no-op; raises ``IndexAlreadyExistsError``
    for another index on the same field or a taken name (nothing is written then).
    """
    refuse_taken(service, info, definitions)
    collection = service.collection(info)
    fresh = [d for d in definitions if d.field_name not in collection.definitions]
    for definition in fresh:
        service.catalog.add_definition(info.id, definition)
        collection.definitions[definition.field_name] = definition
        collection.schedule_field(definition.field_name)
    if sync:
        for definition in definitions:
            collection.wait_idle(definition.field_name, timeout)


def find_definition(service: IndexService, info: CollectionInfo, index_name: str) -> IndexDefinition:
    """The definition named ``index_name`` (or on the field of that name); raise ``IndexNotFoundError``."""
    definitions = service.collection(info).definitions
    for definition in definitions.values():
        if definition.index_name == index_name:
            return definition
    if index_name in definitions:
        return definitions[index_name]
    known = sorted(d.index_name for d in definitions.values())
    raise IndexNotFoundError(
        f"collection {info.name!r} has no index {index_name!r}; indexes: {known}", index=index_name
    )


def drop_index(service: IndexService, info: CollectionInfo, index_name: str) -> None:
    """Remove an index definition, its segment indexes and their files; searches go exact at once."""
    definition = find_definition(service, info, index_name)
    collection = service.collection(info)
    records = service.catalog.drop_definition(info.id, definition)
    collection.definitions.pop(definition.field_name, None)
    _forget_field(collection, definition.field_name, records)


def replace_index(
    service: IndexService, info: CollectionInfo, field_name: str, spec: IndexSpec, *, sync: bool, timeout: float | None
) -> IndexDefinition:
    """Change a field's index to ``spec`` under the same name (one catalog transaction), and rebuild it.

    No moment without a definition: a crash before the rebuild ends leaves the new
    spec, and the next open builds it (searches are exact until then).
    """
    collection = service.collection(info)
    base = collection.definitions.get(field_name)
    if base is None:
        raise IndexNotFoundError(f"field {field_name!r} has no index to replace", index=field_name)
    if spec.metric is not base.spec.metric:
        raise InvalidArgumentError(f"a replaced index must keep the field's metric {base.spec.metric.value}")
    definition = replace(base, requested_type=spec.index_type, spec=spec, created_at=time.time())
    records = service.catalog.replace_definition(info.id, definition)
    collection.definitions[field_name] = definition
    _forget_field(collection, field_name, records)
    collection.schedule_field(field_name)
    if sync:
        collection.wait_idle(field_name, timeout)
    return definition


def set_version_index(
    service: IndexService,
    info: CollectionInfo,
    column_key: str,
    spec: IndexSpec,
    search_params: dict[str, Any],
    *,
    sync: bool,
    timeout: float | None,
    require_vectors: bool = True,
) -> IndexDefinition:
    """Give one column (a model version's vectors) its own index spec within its field's index, and rebuild it.

    ``require_vectors=False`` records the spec for a column no segment holds yet (a cluster's shard that has
    none of the rows: its rows to come are indexed by it).

    The field's other columns keep their indexes. The column's old indexes stop
    serving at once (its searches are exact until the new ones are built); the
    spec is durable before anything is rebuilt, so a crash resumes the rebuild.
    """
    collection = service.collection(info)
    field = field_of_key(column_key, collection.dims)
    base = collection.definitions.get(field) if field is not None else None
    if base is None:
        raise IndexNotFoundError(f"column {column_key!r} has no field index to give it its own spec", index=column_key)
    base_spec = base.spec
    if spec.metric is not base_spec.metric:
        raise InvalidArgumentError(f"a version's index must keep the field's metric {base_spec.metric.value}")
    if require_vectors and not any(column_key in view.data.vectors for view in collection.store.snapshot().segments):
        raise IndexNotFoundError(f"column {column_key!r} holds no vectors (its version was dropped?)", index=column_key)
    definition = version_definition(base, column_key, spec, search_params, time.time())
    records = service.catalog.set_version_definition(info.id, definition)
    collection.version_definitions[column_key] = definition
    collection.forget_key(column_key)
    collection.delete_files(records)
    for view in collection.sealed_views():
        if column_key in view.data.vectors:
            collection.schedule(view.data, column_key)
    if sync:
        collection.wait_idle(base.field_name, timeout)
    return definition


def _forget_field(collection: CollectionIndexes, field_name: str, records: list[SegmentIndexRecord]) -> None:
    """A field's index went or changed: forget its versions' own specs, its built indexes, and their files."""
    for key in [k for k, own in collection.version_definitions.items() if own.field_name == field_name]:
        collection.version_definitions.pop(key)
    collection.forget_field(field_name)
    collection.delete_files(records)


def list_indexes(service: IndexService, info: CollectionInfo, field_name: str | None = None) -> list[str]:
    """Index names of a collection, optionally only the one on ``field_name``."""
    definitions = service.collection(info).definitions.values()
    return sorted(d.index_name for d in definitions if field_name is None or d.field_name == field_name)


def describe_index(service: IndexService, info: CollectionInfo, index_name: str) -> dict[str, Any]:
    """pymilvus's describe_index dict plus build progress per segment state."""
    definition = find_definition(service, info, index_name)
    collection = service.collection(info)
    counts = {state: 0 for state in BuildState}
    rows = {state: 0 for state in BuildState}
    index_bytes = 0
    failures = []
    growing_rows = 0
    for view in collection.store.snapshot().segments:
        for key in view.data.vectors:
            if field_of_key(key, collection.dims) != definition.field_name:
                continue
            if not view.sealed:
                growing_rows += view.data.num_rows
                continue
            status = collection.status.get((view.data.segment_id, key))
            state = status.state if status is not None else BuildState.PENDING
            counts[state] += 1
            rows[state] += view.data.num_rows
            if status is not None and state is BuildState.BUILDING:
                rows[BuildState.READY] += status.rows_done
                rows[state] -= status.rows_done
            if status is not None:
                index_bytes += status.nbytes
                if status.error:
                    failures.append({"segment_id": view.data.segment_id, "error": status.error})
    busy = counts[BuildState.PENDING] + counts[BuildState.BUILDING]
    overall = "Failed" if failures else "InProgress" if busy else "Finished"
    spec = definition.spec
    own = {
        key: {
            "index_type": version.spec.index_type,
            "params": dict(version.spec.params),
            "search_params": dict(version.search_defaults),
        }
        for key, version in sorted(collection.version_definitions.items())
        if version.field_name == definition.field_name
    }
    return {
        **({"version_indexes": own} if own else {}),
        "index_name": definition.index_name,
        "field_name": definition.field_name,
        "index_type": spec.index_type,
        "requested_index_type": definition.requested_type,
        "metric_type": spec.metric.value,
        "params": dict(spec.params),
        **spec.params,
        "library": INDEX_TYPES[spec.index_type].library,
        "state": overall,
        "total_rows": sum(rows.values()) + growing_rows,
        "indexed_rows": rows[BuildState.READY],
        "pending_index_rows": rows[BuildState.PENDING] + rows[BuildState.BUILDING],
        "exact_rows": rows[BuildState.SMALL] + growing_rows,
        "segments": {state.value: counts[state] for state in BuildState},
        "index_bytes": index_bytes,
        "builds_enabled": service.builds_enabled,
        "failures": failures,
    }
