"""EmbeDB server mode: a REST API over any ``Backend``, with tokens, metrics and graceful shutdown.

The layer is learnt from this module:

- ``create_app(backend_or_path, *, auth, limits, allow_code_models)`` — the
  FastAPI app (tests and embedding in another ASGI server);
- ``serve(path, *, host, port, auth, tls_cert, tls_key, limits, allow_code_models, milvus_port)``
  — run it on uvicorn, as ``embedb serve`` does, and with ``milvus_port`` also
  Milvus's gRPC protocol (``embedb.server.milvus``) on the same backend and tokens;
- ``TokenStore`` — API tokens hashed in the catalog, roles (``embedb.contract.Role``)
  reader < writer < admin, global or per collection.

The routes come from ``embedb.protocol.OPERATIONS``, the one table of
``Backend`` methods the server shares with the HTTP client.

What the server does not do: it holds no storage or query logic (handlers are
thin calls of ``Backend`` methods), it never retries, and it refuses to listen
on a non-loopback address without auth. Code-bearing models (a ``callable``
version runs the Python function its import path names) are refused unless the
operator allowed their module prefix (``allow_code_models``): a token, even an
admin's, never chooses code for the server to run.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from embedb.client import Client
from embedb.config import Settings, module_prefixes
from embedb.databases import Databases
from embedb.errors import InvalidArgumentError, UnsupportedError
from embedb.server.app import ServerLimits, create_app
from embedb.server.auth import Principal, TokenStore

__all__ = [
    "Principal",
    "ServerLimits",
    "TokenStore",
    "create_app",
    "is_loopback",
    "serve",
]

log = logging.getLogger("embedb.server")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_serving_options(*, host: str, auth: bool, tls_cert: str | None, tls_key: str | None) -> None:
    """Refuse unsafe or incomplete options; raises ``InvalidArgumentError`` naming the fix."""
    if not auth and not is_loopback(host):
        raise InvalidArgumentError(
            f"refusing to serve on {host} without auth: anyone who can reach it could read and delete every collection. "
            "Use --auth (the default) with tokens from 'embedb token create', or bind to 127.0.0.1"
        )
    if (tls_cert is None) != (tls_key is None):
        raise InvalidArgumentError("TLS needs both --tls-cert and --tls-key")
    for label, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not Path(path).is_file():
            raise InvalidArgumentError(f"{label} {path} is not a file")


def configure_logging(level: str) -> None:
    """Access log lines (JSON) and server messages to stderr, unless the process configured logging."""
    root = logging.getLogger("embedb")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level.upper())


def _graceful_server(config: Any) -> Any:
    """A uvicorn server that returns after a graceful SIGINT/SIGTERM shutdown (uvicorn re-raises the signal)."""
    import uvicorn

    class GracefulServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                # Shutdown already finished in-flight requests and closed the database; exit 0.
                getattr(self, "_captured_signals", []).clear()

    return GracefulServer(config)


def limit_blas_threads() -> None:
    """Run BLAS single-threaded in this process (the server's parallelism is one request per worker thread).

    With a BLAS pool per call, concurrent requests oversubscribe the cores:
    on 2 cores, 8 clients mixing search and insert saw search p99 fall from
    ~700 ms to ~55 ms and throughput triple with one BLAS thread per call.
    A no-op without ``threadpoolctl``.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        log.warning("threadpoolctl is not installed: BLAS may oversubscribe the cores under concurrent requests")
        return
    threadpool_limits(limits=1, user_api="blas")


def _one_database_on_a_cluster(folder: Path | None) -> Client:
    raise UnsupportedError("a cluster serves the default database only (docs/distributed.md)")


def serve(
    path: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 19530,
    auth: bool = True,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    limits: ServerLimits | None = None,
    log_level: str = "info",
    allow_code_models: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
    milvus_port: int | None = None,
    cluster: str | None = None,
    storage: str | None = None,
    shards: int | None = None,
    replicas: int = 1,
) -> None:
    """Serve a data directory until SIGINT/SIGTERM, then finish requests in flight and close it.

    With ``cluster`` (``ray://HOST:PORT``, or ``ray`` for Ray on this machine) the
    server is the router of a sharded cluster whose state lives in ``storage``
    (docs/distributed.md); ``path`` then keeps only the API tokens.

    With ``milvus_port``, Milvus clients (pymilvus, the Node and Java SDKs) reach
    the same data over Milvus's gRPC protocol on that port, with the same tokens.

    ``settings`` tune the engine the server opens (``Settings`` fields, e.g. ``index_min_rows``).

    ``allow_code_models`` are the module prefixes whose Python callables
    code-bearing model versions may run (none by default; see ``create_app``).
    Raises ``InvalidArgumentError`` for unsafe options (no auth off loopback, half
    a TLS pair, a prefix that is not a module path) and ``DirectoryLockedError``
    when another process writes there.
    """
    import uvicorn

    from embedb.connection import connect

    check_serving_options(host=host, auth=auth, tls_cert=tls_cert, tls_key=tls_key)
    code_prefixes = module_prefixes(allow_code_models)
    limits = limits or ServerLimits()
    # Takes the writer lock first (a locked directory fails before anything else); the database starts with
    # the code-model policy, so a backfill it resumes never runs a callable the server refuses.
    if cluster is not None:
        if storage is None:
            raise InvalidArgumentError("--cluster needs --storage (s3://bucket/prefix or a directory every node sees)")
        Path(path).mkdir(parents=True, exist_ok=True)
        cluster_settings = Settings().with_overrides(allow_code_models=code_prefixes, **dict(settings or {}))
        backend = connect(cluster, settings=cluster_settings, storage=storage, shards=shards, replicas=replicas)
    elif storage is not None or shards is not None or replicas != 1:
        raise InvalidArgumentError("--storage, --shards and --replicas are options of --cluster")
    else:
        backend = connect(os.fspath(path), allow_code_models=code_prefixes, **dict(settings or {}))
    configure_logging(log_level)
    limit_blas_threads()
    tokens: TokenStore | None = None
    milvus = None
    databases: Databases | None = None
    try:
        tokens = TokenStore.open(path) if auth else None
        if milvus_port is not None:
            from embedb.server.milvus import start_milvus_server

            databases = Databases(
                backend, Path(path), lambda folder: connect(os.fspath(folder or ":memory:"), allow_code_models=code_prefixes, **dict(settings or {}))
            ) if cluster is None else Databases(backend, None, _one_database_on_a_cluster)
            milvus = start_milvus_server(databases, host=host, port=milvus_port, tokens=tokens, tls_cert=tls_cert, tls_key=tls_key)
            log.info("Milvus gRPC protocol on %s:%s", host, milvus.port)
        if tokens is not None and not tokens.list_tokens():
            log.warning("no API tokens yet: create one with 'embedb token create %s --role admin'", path)
        config = uvicorn.Config(
            create_app(backend, auth=tokens, limits=limits, allow_code_models=code_prefixes),
            host=host,
            port=port,
            ssl_certfile=tls_cert,
            ssl_keyfile=tls_key,
            access_log=False,
            log_level=log_level,
            timeout_graceful_shutdown=max(1, math.ceil(limits.graceful_shutdown_s)),
            server_header=False,
            lifespan="on",
        )
        scheme = "https" if tls_cert else "http"
        log.info("EmbeDB serving %s on %s://%s:%s (auth %s)", path, scheme, host, port, "on" if auth else "OFF")
        if code_prefixes:
            log.warning(
                "code-bearing models may run any code in modules under %s, as this process's user",
                ", ".join(code_prefixes),
            )
        _graceful_server(config).run()
    finally:
        if milvus is not None:
            milvus.stop(limits.graceful_shutdown_s)
        if databases is not None:
            databases.close()
        # uvicorn has stopped accepting and finished the requests in flight: closing flushes the WAL.
        backend.close()
        if tokens is not None:
            tokens.close()
