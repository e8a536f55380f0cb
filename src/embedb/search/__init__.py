"""The search part: one place for request → plan → execute → hits.

Learn it from these names: ``SearchOperation`` (the contract's ``search`` over
a database: arguments, query embedding, experiment routing), ``SegmentPlanner``
/ ``CostModel`` / ``widen`` (per segment: exact, or the index with the
filter's mask and a widened search list; ``embedb.search.planner``),
``ConfiguredSearch`` (``search_with``: registered search configurations,
routed by their experiments; ``embedb.search.configured``),
``SearchRequest`` / ``search_snapshot`` (run over every segment of a snapshot
and merge; ``embedb.search.execute``), ``group_search``, and
``assemble_hits`` / ``plain_hits`` / ``keys_at`` / ``check_paging`` (the
Milvus-shaped answer; ``embedb.search.hits``).
What it does not do: it never writes, and it logs experiment queries only
through the experiment service it is given.
"""

from embedb.search.configured import ConfiguredSearch
from embedb.search.execute import SearchRequest, SegmentSearcher, exact_segment_search, search_snapshot
from embedb.search.hits import assemble_hits, check_paging, keys_at, plain_hits
from embedb.search.operation import SearchOperation, arm_indexes, index_text
from embedb.search.planner import CostModel, SegmentPlanner, group_search, widen

__all__ = [
    "ConfiguredSearch",
    "CostModel",
    "SearchOperation",
    "SearchRequest",
    "SegmentPlanner",
    "SegmentSearcher",
    "arm_indexes",
    "assemble_hits",
    "check_paging",
    "exact_segment_search",
    "group_search",
    "index_text",
    "keys_at",
    "plain_hits",
    "search_snapshot",
    "widen",
]
