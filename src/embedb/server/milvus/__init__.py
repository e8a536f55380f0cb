"""Milvus's gRPC protocol over any ``Backend``: what ``embedb serve --milvus-port`` answers.

Unmodified Milvus clients — pymilvus's ``MilvusClient`` and
``AsyncMilvusClient``, the Node and Java SDKs — talk to it as to a Milvus
server: ``MilvusClient(uri="http://127.0.0.1:19530", token="edb_...")``. The
messages are Milvus's own (``milvus.proto``), as generated inside the
``pymilvus`` package, which Milvus Lite uses the same way.

The layer is learnt from this module:

- ``start_milvus_server(databases, *, host, port, tokens, tls_cert, tls_key)``
  — a started ``MilvusServer`` (its ``port``; ``stop(grace)``) over the
  Milvus databases of a data directory (``embedb.databases``);
- ``MilvusService`` — the servicer: each RPC a thin call of one operation of
  the contract, with the same tokens, roles and collection scopes as REST;
- ``schemas`` and ``columns`` — Milvus's schema and column messages to and
  from EmbeDB's; ``status`` — EmbeDB's errors as Milvus status codes.

What it does not do: it holds no storage or query logic, and RPCs without an
EmbeDB counterpart (users and roles, resource groups, imports) answer gRPC
``UNIMPLEMENTED``; docs/milvus-compatibility.md lists each one.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from pymilvus.grpc_gen import milvus_pb2_grpc

from embedb.databases import Databases
from embedb.errors import InvalidArgumentError
from embedb.server.auth import TokenStore
from embedb.server.milvus.service import MilvusService

__all__ = ["MilvusServer", "MilvusService", "start_milvus_server"]

# Milvus's clients send batches of up to 64 MiB by default; answers may be as large.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class MilvusServer:
    """A started gRPC server and the port it listens on."""

    server: grpc.Server
    port: int

    def stop(self, grace: float | None = None) -> None:
        """Stop accepting calls, let those in flight finish for ``grace`` seconds, then cancel the rest."""
        self.server.stop(grace).wait()


def start_milvus_server(
    databases: Databases,
    *,
    host: str,
    port: int,
    tokens: TokenStore | None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    workers: int = 16,
) -> MilvusServer:
    """Serve ``databases`` (``default``: the data directory's own) to Milvus gRPC calls on ``host:port``.

    ``port`` 0 takes any free port; with a certificate and key it serves TLS.
    Raises ``InvalidArgumentError`` when the address cannot be bound.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embedb-milvus"),
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusService(databases, tokens), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        if tls_cert and tls_key:
            pair = (Path(tls_key).read_bytes(), Path(tls_cert).read_bytes())
            bound = server.add_secure_port(address, grpc.ssl_server_credentials([pair]))
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise InvalidArgumentError(f"cannot listen for Milvus gRPC on {address} (is the port taken?)")
    server.start()
    return MilvusServer(server, bound)
