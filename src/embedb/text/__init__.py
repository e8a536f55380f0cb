"""Text: analyzers (text to tokens) and the BM25 function's term vectors, shared by ingest, filters and search.

- ``analyzer(params)`` — the analyzer Milvus's ``analyzer_params`` describe (``embedb.text.analyzers``);
- ``term_vector(tokens)`` / ``term_id(token)`` — a text's BM25 row: term ids (a hash of
  each token) with their counts (``embedb.text.bm25``);
- ``BM25Stats`` / ``bm25_scores`` — corpus statistics and Okapi BM25 scores.
"""

from embedb.text.analyzers import BUILT_IN, ENGLISH_STOP_WORDS, Analyzer, analyzer
from embedb.text.bm25 import DEFAULT_B, DEFAULT_K1, BM25Stats, bm25_scores, bm25_weights, term_id, term_vector

__all__ = [
    "BUILT_IN",
    "DEFAULT_B",
    "DEFAULT_K1",
    "ENGLISH_STOP_WORDS",
    "Analyzer",
    "BM25Stats",
    "analyzer",
    "bm25_scores",
    "bm25_weights",
    "term_id",
    "term_vector",
]
