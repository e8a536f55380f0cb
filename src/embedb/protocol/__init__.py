"""The protocol between ``HttpBackend`` and ``embedb serve``: what travels, and where.

The client (``embedb.backends.http``) and the server (``embedb.server``) both
import this module, never each other, so they cannot disagree on a route, a
role or an encoding. It is learnt from these names:

- ``wire`` — how values are encoded: NumPy arrays packed as base64 (exact
  bits), Arrow tables as an IPC stream, JSON that carries NaN and infinities;
- ``OPERATIONS`` / ``operation(id)`` — the one table of routes: each
  ``Operation`` names the contract operation it carries, its path, its request
  model, the shape it ``Returns`` and how its ``Body`` is encoded; the ``Role``
  a token needs comes from the operation's declaration in ``embedb.contract``;
- ``ErrorResponse`` — the body of every error answer.

The request models (pydantic, strict, unknown fields refused) sit beside it in
``requests.py``, ``lifecycle_requests.py`` and ``experiment_requests.py``;
they are reached through ``Operation.request``.

What this part does not do: it opens no connection and serves nothing, and it
needs only NumPy, pyarrow and pydantic — no web framework — so importing it
from the client stays light.
"""

from __future__ import annotations

from embedb.protocol import wire
from embedb.protocol.operations import OPERATIONS, Body, Operation, Returns, Role, operation
from embedb.protocol.requests import ErrorResponse

__all__ = [
    "OPERATIONS",
    "Body",
    "ErrorResponse",
    "Operation",
    "Returns",
    "Role",
    "operation",
    "wire",
]
