"""Embedders for lifecycle tests, importable by a server process too (``"tests.support.toy_embedders:..."``).

- ``gated_hash_8`` embeds like ``hash_embed_8``, but first waits until every gate
  file named in its texts (a word ``gate:<path>``) exists. A test writes that word
  into its rows, starts a backfill, and knows the job is RUNNING, held inside its
  first chunk, until it opens the gate (``Gate.open``): pause, cancel and wait
  timeouts become deterministic, embedded and in a server process alike.
- ``tallied_hash_8`` embeds like ``hash_embed_8`` and, for each text holding a
  word ``tally:<path>``, appends a line to that file (the embedding process's id,
  then the text): a test counts how many times, and in which process, a text was embedded.
- ``scrambled_8`` gives each distinct text its own pseudo-random vector, so it
  knows nothing of words: a model version that is worse than ``hash_embed_16``
  on any labelled queries whose texts differ from their documents'.
- ``ladder_0`` ... ``ladder_3`` are a 64-d hashed bag of words plus a pseudo-random
  vector per text scaled by ``LADDER``: model versions each clearly worse than the
  one before (nDCG@10 about 0.85, 0.73, 0.34, 0.14 on word-overlap queries), for
  simulations of many champion/challenger pairs.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embedb.models.testing import hash_embed

GATE_PREFIX = "gate:"
# A gate never opened fails the job instead of holding a thread (and a test session) forever.
GATE_WAIT_S = 30.0


def gated_hash_8(texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words in 8 dimensions, once every gate file named in ``texts`` exists."""
    gates = {word.removeprefix(GATE_PREFIX) for text in texts for word in text.split() if word.startswith(GATE_PREFIX)}
    for gate in sorted(gates):
        deadline = time.monotonic() + GATE_WAIT_S
        while not Path(gate).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"gate {gate} was not opened within {GATE_WAIT_S} s")
            time.sleep(0.01)
    return hash_embed(texts, dimension=8)


TALLY_PREFIX = "tally:"


def tallied_hash_8(texts: Sequence[str]) -> np.ndarray:
    """Hashed bag of words in 8 dimensions; each text naming a tally file (``tally:<path>``) adds a line to it."""
    for text in texts:
        for word in text.split():
            if word.startswith(TALLY_PREFIX):
                with open(word.removeprefix(TALLY_PREFIX), "a", encoding="utf-8") as tally:
                    tally.write(f"{os.getpid()} {text}\n")
    return hash_embed(texts, dimension=8)


def scrambled_8(texts: Sequence[str]) -> np.ndarray:
    """A pseudo-random 8-d vector per distinct text: similar texts get unrelated vectors."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
        rows.append(np.random.default_rng(seed).standard_normal(8))
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 8)


LADDER = (0.0, 0.5, 1.0, 1.5)  # noise scales of ladder_0 ... ladder_3


def _ladder(texts: Sequence[str], level: float, dimension: int = 64) -> np.ndarray:
    words = hash_embed(texts, dimension=dimension)
    norms = np.linalg.norm(words, axis=1, keepdims=True)
    noise = np.stack([_text_vector(text, dimension) for text in texts]) if texts else np.zeros((0, dimension))
    return (words + level * noise * np.maximum(norms, 1.0) / np.sqrt(dimension)).astype(np.float32)


def _text_vector(text: str, dimension: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dimension)


def ladder_0(texts: Sequence[str]) -> np.ndarray:
    return _ladder(texts, LADDER[0])


def ladder_1(texts: Sequence[str]) -> np.ndarray:
    return _ladder(texts, LADDER[1])


def ladder_2(texts: Sequence[str]) -> np.ndarray:
    return _ladder(texts, LADDER[2])


def ladder_3(texts: Sequence[str]) -> np.ndarray:
    return _ladder(texts, LADDER[3])


@dataclass(frozen=True)
class Gate:
    """A gate file: rows whose text holds ``word`` are embedded by ``gated_hash_8`` only once it is opened."""

    path: Path

    @property
    def word(self) -> str:
        return f"{GATE_PREFIX}{self.path}"

    def open(self) -> None:
        self.path.touch()

    def open_after(self, seconds: float) -> threading.Timer:
        """Open the gate from another thread (for a call that blocks until the held chunk ends)."""
        timer = threading.Timer(seconds, self.open)
        timer.start()
        return timer
