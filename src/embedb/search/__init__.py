"""The search part: one place for request → plan → execute → hits.

Other layers import from here: ``SearchOperation`` (the contract's ``search``
over a database), ``assemble_hits`` and ``plain_hits`` (Milvus-shaped hits from
result arrays), ``keys_at`` (primary keys of result rows) and ``check_paging``.
What it does not do: it never writes, and it logs experiment queries only
through the experiment service it is given.
"""

from embedb.search.hits import assemble_hits, check_paging, keys_at, plain_hits
from embedb.search.operation import SearchOperation, index_text

__all__ = ["SearchOperation", "assemble_hits", "check_paging", "index_text", "keys_at", "plain_hits"]
