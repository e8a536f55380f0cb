"""The index layer: ANN kernels behind one protocol, their definitions, builds and files.

Learn the layer from these names:

- ``VectorIndex`` / ``IndexSpec`` / ``make_index`` / ``resolve_spec`` /
  ``INDEX_TYPES`` / ``AUTOINDEX`` — one protocol over Faiss, hnswlib and Annoy
  kernels (``embedb.index.vector_index``);
- ``IndexRequest`` / ``index_requests`` / ``search_options`` / ``range_bounds``
  — pymilvus index and search parameters, checked and resolved;
- ``IndexService`` / ``CollectionIndexes`` / ``BuildState`` — one index per
  (sealed segment, vector column), built in the background, checksummed on
  disk, loaded on open; ``lookup(segment, column)`` hands a published index to
  the search planner;
- ``tune`` / ``TunedPoint`` / ``pareto_front`` / ``best_point`` — AutoML: the
  fastest index meeting a recall target on a sample, found with Optuna;
- ``admin`` — create / list / describe / drop an index definition;
  ``failed_index_builds`` — what ``embedb check`` reports.

What this layer does not do: it never sees primary keys, deletion marks or
filters as such, and never decides whether an index is used for a search —
``embedb.search.planner`` turns those into an ``allowed`` row mask per search
and picks exact or index per segment. A failed or corrupt index never fails a
search: the segment is searched exactly and ``describe_index`` says why.
"""

from embedb.index import admin
from embedb.index.check import failed_index_builds
from embedb.index.manager import BuildState, CollectionIndexes, IndexService, SegmentIndexStatus
from embedb.index.requests import IndexRequest, index_requests, range_bounds, search_options
from embedb.index.tuning import TunedPoint, available_types, best_point, pareto_front, tune
from embedb.index.vector_index import (
    AUTOINDEX,
    INDEX_TYPES,
    MAX_EF,
    BuildCancelled,
    IndexSpec,
    IndexType,
    ParamRule,
    VectorIndex,
    check_search_params,
    default_search_params,
    make_index,
    resolve_spec,
)

__all__ = [
    "AUTOINDEX",
    "INDEX_TYPES",
    "MAX_EF",
    "BuildCancelled",
    "BuildState",
    "CollectionIndexes",
    "IndexRequest",
    "IndexService",
    "IndexSpec",
    "IndexType",
    "ParamRule",
    "SegmentIndexStatus",
    "TunedPoint",
    "VectorIndex",
    "admin",
    "available_types",
    "best_point",
    "check_search_params",
    "default_search_params",
    "failed_index_builds",
    "index_requests",
    "make_index",
    "pareto_front",
    "range_bounds",
    "resolve_spec",
    "search_options",
    "tune",
]
