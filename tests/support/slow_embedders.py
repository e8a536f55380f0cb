"""Embedders for crash tests: deterministic, slow enough to be killed mid-job, and counted.

``counted_hash_8`` embeds like ``embedb.models.testing.hash_embed_8`` after a short
sleep per text, and appends how many texts it embedded to the file named by
``EMBEDB_EMBED_LOG`` (when set), so a test can count work across processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from embedb.models.testing import hash_embed

SECONDS_PER_TEXT = 0.0004


def counted_hash_8(texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words in 8 dimensions, slowly, with the count logged."""
    time.sleep(SECONDS_PER_TEXT * len(texts))
    log = os.environ.get("EMBEDB_EMBED_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(f"{len(texts)}\n")
    return hash_embed(texts, dimension=8)
