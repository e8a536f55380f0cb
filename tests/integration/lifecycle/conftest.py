"""A model-bound collection on a fresh data directory: two toy versions of one model, rows of text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import embedb
from embedb.backends.local import LocalBackend
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField


def bound_docs(path: Path, texts: Sequence[str]) -> LocalBackend:
    """``docs`` with ``embedding`` following ``toy@champion`` (v1, 16-d; v2 is ``toy@challenger``, 8-d), holding ``texts``."""
    client = embedb.connect(path, durability="relaxed")
    assert isinstance(client, LocalBackend)
    client.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    client.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
    schema = CollectionSchema(
        (
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("text", DataType.VARCHAR, max_length=200),
            VectorField("embedding", source="text", model="toy@champion"),
        )
    )
    client.create_collection("docs", schema=schema)
    client.insert("docs", [{"id": i, "text": text} for i, text in enumerate(texts)])
    return client
