"""The query layer: filters, exact vector search kernels, and reads over a snapshot.

Learn the layer from these names:

- ``compile_filter`` / ``CompiledFilter`` / ``MAX_FILTER_DEPTH`` — the Milvus
  boolean expression language, parsed, checked against the schema and evaluated
  on Arrow tables (``embedb.query.filters`` documents the grammar, its limits
  and its errors);
- ``prepare_queries`` / ``exact_search`` / ``top_k`` / ``distances_for_output`` /
  ``NO_ROW`` — exact (brute-force) search, the oracle every index is measured
  against, and the score conventions (higher is closer);
- ``row_mask`` / ``filter_mask`` / ``select_rows`` / ``locate_keys`` /
  ``RowRefs`` / ``OutputPlan`` / ``plan_output`` / ``project`` — which rows of
  a snapshot match, and the fields a read returns.

What this layer does not do: it never writes, never opens an index (the
search planner does) and never embeds text.
"""

from embedb.query.exact import NO_ROW, distances_for_output, exact_search, prepare_queries, top_k
from embedb.query.filters import MAX_FILTER_DEPTH, CompiledFilter, compile_filter
from embedb.query.ordering import OrderBy, order_refs, order_rows, parse_order_by, with_order_fields
from embedb.query.reads import (
    OutputPlan,
    RowFilter,
    RowRefs,
    filter_mask,
    locate_keys,
    plan_output,
    project,
    row_mask,
    select_rows,
)

__all__ = [
    "MAX_FILTER_DEPTH",
    "NO_ROW",
    "CompiledFilter",
    "OrderBy",
    "OutputPlan",
    "RowFilter",
    "RowRefs",
    "compile_filter",
    "distances_for_output",
    "exact_search",
    "filter_mask",
    "locate_keys",
    "order_refs",
    "order_rows",
    "parse_order_by",
    "plan_output",
    "prepare_queries",
    "project",
    "row_mask",
    "select_rows",
    "top_k",
    "with_order_fields",
]
