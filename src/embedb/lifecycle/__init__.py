"""The lifecycle of a model-bound field: embedding versions, backfill, promotion, rollback.

Learn the layer from these names:

- ``EmbeddingBindings`` / ``FieldBinding`` / ``EmbeddingVersion`` /
  ``EmbeddingVersionState`` — which model versions a field holds vectors of,
  which one serves, which are being written (catalog tables, cached);
- ``embed_rows`` / ``given_versions`` / ``embed_query_text`` / ``is_text_query``
  — embedding written rows with every version being written, and query text
  with the version it is compared to;
- ``JobTable`` / ``JobRecord`` / ``JobState`` and ``BackfillRunner`` — backfill
  jobs (durable, resumable from their last committed chunk) and the threads
  that run them;
- ``LifecycleService`` — add / drop a version, promote, roll back: each one
  catalog transaction that checks its preconditions.

What this layer does not do: it never routes a search (``embedb.search`` and
``embedb.experiments`` do), never judges a model (``embedb.evaluation``), and
knows no collection store beyond what ``embedb.storage`` exposes.
"""

from embedb.lifecycle.backfill import BackfillRunner, JobProgress
from embedb.lifecycle.bindings import (
    EmbeddingBindings,
    EmbeddingVersion,
    EmbeddingVersionState,
    FieldBinding,
    set_version_state,
)
from embedb.lifecycle.check import (
    HalfDroppedVersion,
    IncompleteVersion,
    half_dropped_versions,
    incomplete_ready_versions,
)
from embedb.lifecycle.embedding import embed_query_text, embed_rows, given_versions, is_text_query
from embedb.lifecycle.jobs import JobRecord, JobState, JobTable
from embedb.lifecycle.service import LifecycleService

__all__ = [
    "BackfillRunner",
    "EmbeddingBindings",
    "EmbeddingVersion",
    "EmbeddingVersionState",
    "FieldBinding",
    "HalfDroppedVersion",
    "IncompleteVersion",
    "JobProgress",
    "JobRecord",
    "JobState",
    "JobTable",
    "LifecycleService",
    "embed_query_text",
    "embed_rows",
    "given_versions",
    "half_dropped_versions",
    "incomplete_ready_versions",
    "is_text_query",
    "set_version_state",
]
