"""Okapi BM25 written here from the formula, to check EmbeDB's scores against.

Milvus's form: ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` with
``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``, over already-made tokens.
"""

from __future__ import annotations

import math
from collections import Counter


def reference_bm25(docs: dict[int, list[str]], query: list[str], k1: float = 1.2, b: float = 0.75) -> dict[int, float]:
    """Each document's score for ``query`` (documents scoring 0 left out)."""
    n = len(docs)
    mean = sum(len(tokens) for tokens in docs.values()) / n
    scores = {}
    for key, tokens in docs.items():
        counts = Counter(tokens)
        score = 0.0
        for term in query:
            df = sum(1 for other in docs.values() if term in other)
            tf = counts[term]
            if tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(tokens) / mean))
        if score > 0:
            scores[key] = score
    return scores
