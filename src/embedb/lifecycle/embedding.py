"""Embedding inside the database: rows on their way in, query text on its way to search.

Rows that carry a bound field's source text and no vector are embedded with
every version the field writes (``FieldBinding.write_versions``). Vectors a user
brings must say which model version made them (``embedding_versions=``); the
other versions are embedded from the source text. Query text is embedded with
the version whose vectors it is compared to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow.compute as pc

from embedb.errors import DataError, DimensionMismatchError, InvalidArgumentError
from embedb.lifecycle.bindings import EmbeddingVersion, FieldBinding
from embedb.models import ModelRegistry, ProgressCallback
from embedb.schema import CollectionSchema
from embedb.storage import PreparedRows, RowBatch, check_vectors, supplied_column


def given_versions(
    bindings: Mapping[str, FieldBinding], registry: ModelRegistry, embedding_versions: Mapping[str, str] | None
) -> dict[str, EmbeddingVersion]:
    """Resolve ``embedding_versions={field: model uri}`` to the field's stored versions; raise on mismatch."""
    if not embedding_versions:
        return {}
    if not isinstance(embedding_versions, Mapping):
        raise InvalidArgumentError("embedding_versions must map a vector field to the model version of its vectors")
    resolved = {}
    for field, uri in embedding_versions.items():
        binding = bindings.get(field)
        if binding is None or binding.tokenized:
            raise InvalidArgumentError(f"embedding_versions names {field!r}, which is not a model-bound vector field")
        version = binding.version(registry.resolve(uri))
        if version not in binding.write_versions:
            raise InvalidArgumentError(f"field {field!r} no longer takes vectors of {version.uri}")
        resolved[field] = version
    return resolved


def embed_rows(
    batch: RowBatch,
    prepared: PreparedRows,
    schema: CollectionSchema,
    bindings: Mapping[str, FieldBinding],
    registry: ModelRegistry,
    given: Mapping[str, EmbeddingVersion],
    *,
    progress: ProgressCallback | None = None,
    check_only: bool = False,
) -> RowBatch:
    """Return ``batch`` with a vector column for every version every bound field writes.

    Raises ``DataError`` when a row has neither a vector nor source text, and
    when vectors are given for a bound field without saying their version.
    ``check_only`` raises what embedding would, embeds nothing and returns ``batch``
    (how a cluster's router checks a whole batch before its shards embed their parts).
    """
    vectors = dict(batch.vectors)
    for name, binding in bindings.items():
        if binding.tokenized:  # its counts are made from the text: by the BM25 function at insert, by search per version
            continue
        field = schema.field(name)
        supplied = supplied_column(prepared, name)
        if supplied is not None and name not in given:
            uris = ", ".join(v.uri for v in binding.write_versions)
            raise DataError(
                f"field {name!r} is embedded by {binding.model_ref}; vectors you bring must say which model version "
                f"made them: insert(..., embedding_versions={{{name!r}: 'models:/...'}}) (it takes {uris})",
                field=name,
            )
        texts: list[str] | None = None
        for version in binding.write_versions:
            if supplied is not None and given[name].column_key == version.column_key:
                sized = replace(field, dim=version.dimension)
                vectors[version.column_key] = check_vectors(sized, supplied, batch.num_rows, prepared)
                continue
            if texts is None:
                texts = _source_texts(batch, binding)
            if check_only:
                continue
            embedded = registry.load(version.uri).embed(texts, progress=progress)
            if embedded.shape[1] != version.dimension:
                raise DimensionMismatchError(
                    f"{version.uri} made {embedded.shape[1]}-d vectors, field {name!r} stores {version.dimension}-d ones"
                )
            vectors[version.column_key] = np.ascontiguousarray(embedded, dtype=np.float32)
    return RowBatch(batch.table, vectors, batch.partition_id)


def _source_texts(batch: RowBatch, binding: FieldBinding) -> list[str]:
    column = batch.table.column(binding.source)
    if column.null_count:
        row = int(np.nonzero(pc.is_null(column).to_numpy(zero_copy_only=False))[0][0])
        raise DataError(
            f"row {row}: field {binding.field!r} needs its source {binding.source!r} (or a vector) but it is null",
            row=row,
            field=binding.source,
        )
    return [str(text) for text in column.to_pylist()]


def is_text_query(data: Any) -> bool:
    """True when search data is query text (a string or a list of strings) rather than vectors."""
    if isinstance(data, str):
        return True
    return isinstance(data, (list, tuple)) and bool(data) and all(isinstance(item, str) for item in data)


def embed_query_text(data: Any, version: EmbeddingVersion, registry: ModelRegistry) -> np.ndarray:
    """Embed query text with exactly ``version`` (the one whose vectors it will be compared to)."""
    texts = [data] if isinstance(data, str) else list(data)
    return registry.load(version.uri).embed(texts)
