"""The two kinds of response bodies: ``{"result": ...}`` and ``{"error": {...}}``, and the one error translation.

Every error leaves the server through ``error_response``: an ``EmbedbError``
keeps its class's HTTP status and wire name; request validation errors become
400 ``invalid_argument`` naming the field; anything else is a 500
``server_error`` (a bug: the tests fail on it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from embedb.errors import EmbedbError, InvalidArgumentError, NotFoundError, ServerError
from embedb.protocol import wire

log = logging.getLogger("embedb.server")

JSON = "application/json"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response rendered with ``wire.dumps`` (compact; NaN tolerated)."""
    return Response(wire.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def result_response(result: Any) -> Response:
    """A 200 carrying ``{"result": result}``."""
    return json_response({"result": result})


def error_payload(error: EmbedbError) -> dict[str, Any]:
    """``{"error": {"wire_name", "message", "details"}}``; details that JSON cannot carry become strings."""
    details = {
        key: value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)
        for key, value in error.details.items()
    }
    return {"error": {"wire_name": error.wire_name, "message": error.message, "details": details}}


def error_response(error: EmbedbError, status: int | None = None) -> Response:
    """The response for a typed error: its class's status (or ``status``) and wire name."""
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    return json_response(error_payload(error), status or error.http_status, headers)


def describe_validation_errors(errors: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """A message naming the first bad field, plus one ``{"field", "message"}`` per problem."""
    problems = []
    for item in errors:
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in ("body", "query"):
            location = location[1:]
        kind = item.get("type", "")
        if kind == "json_invalid":
            context = item.get("ctx") or {}
            message = f"the body is not valid JSON: {context.get('error', item.get('msg', ''))}"
            field = ""
        elif kind == "extra_forbidden":
            field = ".".join(location)
            message = f"unknown field {field!r}"
        elif kind == "missing" and not location:
            field, message = "", "the request needs a JSON object body"
        else:
            field = ".".join(location)
            message = f"{field or 'body'}: {item.get('msg', 'invalid value')}"
        problems.append({"field": field, "message": message})
    first = problems[0]["message"] if problems else "invalid request"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return first + more, problems


async def embedb_error_handler(request: Request, error: Exception) -> Response:
    """A typed error: its class's status and wire name (server-side kinds are logged)."""
    if not isinstance(error, EmbedbError):
        return await unexpected_error_handler(request, error)
    if error.http_status >= 500:
        log.error("request failed: %s: %s", error.wire_name, error.message)
    return error_response(error)


async def validation_error_handler(request: Request, error: Exception) -> Response:
    """A body that does not fit the request model: 400 ``invalid_argument`` naming the field."""
    if not isinstance(error, RequestValidationError):
        return await unexpected_error_handler(request, error)
    message, problems = describe_validation_errors(error.errors())
    return error_response(InvalidArgumentError(message, errors=problems))


async def http_error_handler(request: Request, error: Exception) -> Response:
    """Routing errors (no such path, wrong method) in the same error shape."""
    if not isinstance(error, StarletteHTTPException):
        return await unexpected_error_handler(request, error)
    if error.status_code == 404:
        return error_response(NotFoundError(f"no route {request.method} {request.url.path}"))
    if error.status_code == 405:
        return error_response(InvalidArgumentError(f"{request.url.path} does not accept {request.method}"), status=405)
    return error_response(InvalidArgumentError(str(error.detail)), status=error.status_code)


async def unexpected_error_handler(request: Request, error: Exception) -> Response:
    """Anything else is a bug: 500 ``server_error``, with the traceback in the server log."""
    log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=error)
    return error_response(ServerError(f"internal error ({type(error).__name__}); see the server log"))
