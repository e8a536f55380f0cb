"""Tiny deterministic embedders for tests and examples, registered with the callable flavor.

They hash words into a fixed number of buckets (the "hashing trick"), so texts
that share words get similar vectors. No model, no weights, no randomness::

    registry.register("toy", "embedb.models.testing:hash_embed_16")
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")


def hash_embed(texts: Sequence[str], *, dimension: int) -> np.ndarray:
    """Return float32 ``(len(texts), dimension)`` bag-of-hashed-words vectors (not normalised)."""
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % dimension
            sign = 1.0 if digest[4] & 1 else -1.0
            vectors[row, bucket] += sign
    return vectors


def hash_embed_8(texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words in 8 dimensions."""
    return hash_embed(texts, dimension=8)


def hash_embed_16(texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words in 16 dimensions."""
    return hash_embed(texts, dimension=16)


class HashingEmbedder:
    """An object with an ``embed`` method, for the callable flavor's second form."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Hashed bag of words in ``self.dimension`` dimensions."""
        return hash_embed(texts, dimension=self.dimension)


hashing_embedder_32 = HashingEmbedder(32)
