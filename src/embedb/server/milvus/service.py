"""``milvus.proto.milvus.MilvusService`` over a ``Backend``: each RPC a thin call of one contract operation.

A handler reads the request message, checks the caller's token and role as
the REST server does (the same ``TokenStore``, ``Authorizer`` and operation
table), calls the backend of the database it addresses and writes the reply
message. Failures are answered in the reply's ``status``
(``embedb.server.milvus.status``), as a Milvus server does. RPCs EmbeDB has
no counterpart for are left to the generated base class, which answers gRPC
``UNIMPLEMENTED``. The handlers live in ``admin_rpcs`` and ``data_rpcs``,
their plumbing in ``plumbing``.
"""

from __future__ import annotations

from embedb.server.milvus.admin_rpcs import AdminRpcs
from embedb.server.milvus.data_rpcs import DataRpcs


class MilvusService(AdminRpcs, DataRpcs):
    """The Milvus gRPC service of ``embedb serve --milvus-port``."""
