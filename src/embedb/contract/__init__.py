"""The contract: every operation of EmbeDB, declared once, and the types of what they return.

Learn the layer from these names:

- ``Backend`` — every operation as a method (parameters, defaults, result type,
  documentation) marked with ``@operation`` (the ``Role`` a token needs, the
  arguments naming the collections it must cover). Adapters — embedded, the
  HTTP client, the REST server, later gRPC and Ray — implement or serve it;
- ``OPERATIONS`` — the declarations read back as ``OperationSpec``s, by name,
  which routes, request models and auth are built from or checked against;
- ``embedb.contract.results`` — the typed dicts each operation returns;
  ``check_result`` checks a value against them.

What this layer does not do: it holds no engine, opens no connection and knows
no protocol. It imports only ``embedb.schema`` and ``embedb.errors``.
"""

from embedb.contract import results
from embedb.contract.backend import Backend
from embedb.contract.checking import ContractViolation, check_result, check_scalar_arguments, scalar_checks
from embedb.contract.data_contract import MAX_NUM_SHARDS, MAX_SEARCH_LIMIT
from embedb.contract.declare import Access, OperationSpec, Role, declared_operations
from embedb.contract.results import Hit, Row, SearchHits

OPERATIONS = declared_operations(Backend)
"""Every operation of the contract, by name, in declaration order."""

__all__ = [
    "MAX_NUM_SHARDS",
    "MAX_SEARCH_LIMIT",
    "OPERATIONS",
    "Access",
    "Backend",
    "ContractViolation",
    "Hit",
    "OperationSpec",
    "Role",
    "Row",
    "SearchHits",
    "check_result",
    "check_scalar_arguments",
    "declared_operations",
    "results",
    "scalar_checks",
]
