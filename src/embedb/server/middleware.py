"""ASGI middleware: access log and request metrics (outermost), then token check and body limit.

Both run before FastAPI parses anything: a request without a valid token is
refused from its headers alone, and a body over the limit is refused from its
``Content-Length`` or, when streamed, as soon as the bytes read pass the limit
— so neither an unauthenticated caller nor an oversized body costs a parse.
A JSON body that nests arrays and objects deeper than ``wire.MAX_JSON_DEPTH``
levels is refused (400 ``invalid_argument``) before parsing too: nothing
behind the parser has to handle arbitrarily deep values.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedb.errors import EmbedbError, InvalidArgumentError, PayloadTooLargeError
from embedb.protocol import wire
from embedb.server.auth import Principal, TokenStore
from embedb.server.metrics import ServerMetrics
from embedb.server.responses import error_response

PUBLIC_PATHS = frozenset({"/healthz", "/ui"})
PUBLIC_PREFIX = "/ui/"  # the console's static files: they hold no data; the page asks for a token
PRINCIPAL_KEY = "embedb.principal"


def principal_of(scope: Scope) -> Principal:
    """The principal ``AdmissionMiddleware`` attached to a request."""
    principal = scope.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else Principal.open_access()


class ObservabilityMiddleware:
    """Counts and times every HTTP request by route template and writes one JSON access-log line."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics, access_log: logging.Logger) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent_bytes = 0

        async def send_and_record(message: Message) -> None:
            nonlocal status, sent_bytes
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                sent_bytes += len(message.get("body", b""))
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.observe_request(method, route, status, seconds)
            if self.access_log.isEnabledFor(logging.INFO):
                self.access_log.info(json.dumps(_access_record(scope, method, route, status, seconds, sent_bytes)))


def _access_record(
    scope: Scope, method: str, route: str, status: int, seconds: float, sent_bytes: int
) -> dict[str, Any]:
    principal = scope.get(PRINCIPAL_KEY)
    client = scope.get("client")
    return {
        "ts": round(time.time(), 3),
        "method": method,
        "path": scope.get("path", ""),
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "bytes_out": sent_bytes,
        "token_id": principal.token_id if isinstance(principal, Principal) else None,
        "client": f"{client[0]}:{client[1]}" if client else None,
    }


class AdmissionMiddleware:
    """Authenticates the token (unless auth is off or the path is public) and enforces the body limit."""

    def __init__(self, app: ASGIApp, *, tokens: TokenStore | None, max_body_bytes: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            scope[PRINCIPAL_KEY] = self._authenticate(scope)
            body = await self._read_body(scope, receive)
            _check_nesting(scope, body)
        except EmbedbError as error:
            await error_response(error)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authenticate(self, scope: Scope) -> Principal:
        if self.tokens is None:
            return Principal.open_access()
        return self.tokens.authenticate(_header(scope, b"authorization"))

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidArgumentError(f"Content-Length must be a number of bytes, got {declared!r}")
            if int(declared) > self.max_body_bytes:
                raise _too_large(int(declared), self.max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _too_large(size, self.max_body_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _check_nesting(scope: Scope, body: bytes) -> None:
    content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != wire.ARROW_STREAM and wire.json_too_deep(body):
        raise InvalidArgumentError(
            f"the request body nests arrays and objects deeper than {wire.MAX_JSON_DEPTH} levels",
            limit=wire.MAX_JSON_DEPTH,
        )


def _too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body of {size} bytes (or more) exceeds the server limit of {limit} bytes; send smaller batches",
        limit_bytes=limit,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None
