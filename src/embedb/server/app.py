"""The FastAPI app factory: operation routes, health, metrics, error handlers and middleware."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from embedb import __version__
from embedb.config import module_prefixes
from embedb.contract import Backend
from embedb.errors import EmbedbError, InvalidArgumentError, PermissionDeniedError, UnavailableError
from embedb.server.auth import Authorizer, TokenStore
from embedb.server.console import add_console
from embedb.server.metrics import CONTENT_TYPE, ServerMetrics
from embedb.server.middleware import AdmissionMiddleware, ObservabilityMiddleware, principal_of
from embedb.server.responses import (
    embedb_error_handler,
    error_response,
    http_error_handler,
    json_response,
    unexpected_error_handler,
    validation_error_handler,
)
from embedb.server.routes import ServerContext, build_router

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024

DESCRIPTION = """\
The EmbeDB REST API. Every operation is `POST /v1/<group>/<verb>` with a JSON body
whose fields are the arguments of the Python client method of the same name
(`embedb.connect(...)`); the response is `{"result": ...}`. Errors are
`{"error": {"wire_name", "message", "details"}}` with a 4xx status; the wire name
names the exception class. Send `Authorization: Bearer <token>` (see `embedb token create`).

Vectors may travel packed: `{"dtype": "float32", "shape": [n, d], "b64": "..."}` is
accepted wherever `data` holds vectors, and `?vector_encoding=base64` returns vector
fields packed. `insert_arrow`/`upsert_arrow` take an Arrow IPC stream body.
"""


@dataclass(frozen=True)
class ServerLimits:
    """Limits of one server: body size and how long a graceful shutdown waits for requests in flight."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    graceful_shutdown_s: float = 30.0
    access_log: logging.Logger = field(default_factory=lambda: logging.getLogger("embedb.access"))

    def __post_init__(self) -> None:
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1:
            raise InvalidArgumentError(f"max_body_bytes must be a positive integer, got {self.max_body_bytes!r}")
        if self.graceful_shutdown_s < 0:
            raise InvalidArgumentError("graceful_shutdown_s must not be negative")


def create_app(
    backend_or_path: Backend | str | os.PathLike[str],
    *,
    auth: TokenStore | None,
    limits: ServerLimits | None = None,
    allow_code_models: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app serving ``backend_or_path`` (a ``Backend``, or a data directory the app opens and closes).

    ``auth=None`` serves without tokens (every caller is an admin); otherwise every
    route but ``/healthz`` needs a token from that store. Code-bearing models (the
    ``callable`` flavor) are registered, bound and loaded only from modules under
    ``allow_code_models``: the policy of the database served here is narrowed to
    them, for every client of it in this process (``PermissionDeniedError`` otherwise).
    Raises ``InvalidArgumentError`` for a prefix that is not a module path, and what
    opening the data directory raises (``DirectoryLockedError``, ``FormatVersionError``).
    """
    limits = limits or ServerLimits()
    code_prefixes = module_prefixes(allow_code_models)
    owns_backend = not isinstance(backend_or_path, Backend)
    if isinstance(backend_or_path, Backend):
        backend = backend_or_path
    else:
        from embedb.connection import connect

        backend = connect(os.fspath(backend_or_path), allow_code_models=code_prefixes)
    restrict_code_models(backend, code_prefixes)
    metrics = ServerMetrics(backend)
    context = ServerContext(backend, Authorizer(backend), metrics)
    stopping = {"now": False}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(_warm_up)
        yield
        # uvicorn has stopped accepting and waited for requests in flight: close flushes the WAL.
        stopping["now"] = True
        if owns_backend:
            await run_in_threadpool(backend.close)

    app = FastAPI(
        title="EmbeDB",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.include_router(build_router(context))
    add_console(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers (no token needed).")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", tags=["operations"], summary="Readiness: the database answers and the server is not stopping.")
    async def readyz() -> Response:
        if stopping["now"]:
            return error_response(UnavailableError("the server is shutting down"))
        try:
            await run_in_threadpool(backend.list_collections)
        except EmbedbError as error:
            return error_response(UnavailableError(f"the database is not ready: {error.message}"))
        return json_response({"status": "ready"})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics (needs a token valid for every collection).")
    async def metrics_endpoint(request: Request) -> Response:
        if principal_of(request.scope).collections is not None:
            raise PermissionDeniedError("/metrics needs a token valid for every collection")
        return Response(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE)

    app.add_exception_handler(EmbedbError, embedb_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    # Added last = outermost: observability sees every request, admission runs before any parsing.
    app.add_middleware(AdmissionMiddleware, tokens=auth, max_body_bytes=limits.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=limits.access_log)
    app.openapi = lambda: _openapi_document(app)  # type: ignore[method-assign]
    app.state.backend = backend
    app.state.metrics = metrics
    app.state.limits = limits
    return app


def restrict_code_models(backend: Backend, prefixes: Sequence[str]) -> None:
    """Narrow the code-model policy of a database this process runs; a remote backend's server has its own."""
    from embedb.backends.local import LocalBackend

    if isinstance(backend, LocalBackend):
        backend.models.code_models.restrict(prefixes)


def _warm_up() -> None:
    """Pay one-time import costs before the first request (pyarrow imports pandas on its first list conversion)."""
    import pyarrow as pa

    pa.array([0])


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus bearer auth, minus the 422 responses this server never sends (it sends 400)."""
    if app.openapi_schema is None:
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, methods in document.get("paths", {}).items():
            for spec in methods.values():
                spec.get("responses", {}).pop("422", None)
                if path == "/healthz":
                    spec["security"] = []
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        document.setdefault("components", {})["securitySchemes"] = {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token from `embedb token create`.",
            }
        }
        document["security"] = [{"bearerAuth": []}]
        app.openapi_schema = document
    return app.openapi_schema
