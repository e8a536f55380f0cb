"""A model-bound collection on a fresh data directory: two toy versions of one model, rows of text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.support.bound_collections import bound_schema

import embedb
from embedb.backends.local import LocalBackend

__all__ = ["bound_docs", "bound_schema"]


def bound_docs(path: Path, texts: Sequence[str]) -> LocalBackend:
    """``docs`` with ``embedding`` following ``toy@champion`` (v1, 16-d; v2 is ``toy@challenger``, 8-d), holding ``texts``."""
    client = embedb.connect(path, durability="relaxed")
    assert isinstance(client, LocalBackend)
    client.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    client.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
    client.create_collection("docs", schema=bound_schema("toy"))
    client.insert("docs", [{"id": i, "text": text} for i, text in enumerate(texts)])
    return client
