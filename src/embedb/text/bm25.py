"""The BM25 function's pieces: term vectors of texts, corpus statistics, Okapi BM25 weights.

A text's row in the function's sparse output field is ``{term id: count}``:
the term id of a token is its CRC-32 (below 2**32 - 1, Milvus's largest sparse
dimension), so the same token has the same id in every segment, process and
release. Scores follow Milvus's formula,
``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` with
``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``, summed over the query's
tokens; ``N``, ``df`` and ``avgdl`` are counted over the live rows at search
time, so they follow inserts, deletes and compaction, and survive any crash
with the rows themselves.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_K1 = 1.2
DEFAULT_B = 0.75
_TERM_SPACE = 2**32 - 1


def term_id(token: str) -> int:
    """A token's dimension in the sparse field: its CRC-32, kept below 2**32 - 1."""
    return zlib.crc32(token.encode("utf-8")) % _TERM_SPACE


def term_vector(tokens: Iterable[str]) -> dict[int, float]:
    """``{term id: count}`` of a token list (a text's row, or a query's weights)."""
    counts = Counter(term_id(token) for token in tokens)
    return {term: float(count) for term, count in counts.items()}


@dataclass(frozen=True)
class BM25Stats:
    """Corpus statistics over the live rows a search sees: row count, mean length, document frequencies."""

    rows: int
    mean_length: float
    document_frequency: Mapping[int, int] = field(default_factory=dict)

    def idf(self, term: int) -> float:
        df = self.document_frequency.get(term, 0)
        return math.log(1.0 + (self.rows - df + 0.5) / (df + 0.5))


def bm25_weights(
    term_frequencies: np.ndarray, lengths: np.ndarray, stats: BM25Stats, k1: float, b: float
) -> np.ndarray:
    """The saturated, length-normalised term weight of each (tf, document length) pair (without idf)."""
    mean = stats.mean_length if stats.mean_length > 0 else 1.0
    return term_frequencies * (k1 + 1.0) / (term_frequencies + k1 * (1.0 - b + b * lengths / mean))


def bm25_scores(
    queries: Sequence[Sequence[str]], documents: Sequence[Sequence[str]], *, k1: float = DEFAULT_K1, b: float = DEFAULT_B
) -> np.ndarray:
    """The BM25 score of every document (tokens) for every query (tokens), ``(queries, documents)``, in memory."""
    postings: dict[int, list[tuple[int, int]]] = {}
    for position, tokens in enumerate(documents):
        for term, count in Counter(term_id(token) for token in tokens).items():
            postings.setdefault(term, []).append((position, count))
    lengths = np.asarray([len(tokens) for tokens in documents], dtype=np.float64)
    stats = BM25Stats(
        len(documents),
        float(lengths.mean()) if len(documents) else 0.0,
        {term: len(found) for term, found in postings.items()},
    )
    scores = np.zeros((len(queries), len(documents)), dtype=np.float64)
    for row, tokens in enumerate(queries):
        for term, weight in term_vector(tokens).items():
            found = postings.get(term)
            if not found:
                continue
            rows = np.fromiter((position for position, _ in found), dtype=np.int64, count=len(found))
            counts = np.fromiter((count for _, count in found), dtype=np.float64, count=len(found))
            scores[row, rows] += weight * stats.idf(term) * bm25_weights(counts, lengths[rows], stats, k1, b)
    return scores


__all__ = ["DEFAULT_B", "DEFAULT_K1", "BM25Stats", "bm25_scores", "bm25_weights", "term_id", "term_vector"]
