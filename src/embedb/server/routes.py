"""REST routes, generated from the operation table: each is a thin call of one ``Backend`` method.

A handler validates the body against the operation's request model (FastAPI,
before the handler runs), checks the caller's role and collection scope, puts the
caller's token name in an ``actor`` argument (a claimed actor is only logged), calls
the backend in a worker thread — NumPy and Faiss release the GIL there, so
searches use every core while the event loop keeps accepting — and wraps the
result as ``{"result": ...}``. Nothing else: no storage or query logic here.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from embedb.contract import Backend
from embedb.errors import InvalidArgumentError
from embedb.protocol import OPERATIONS, Body, ErrorResponse, Operation, Returns, wire
from embedb.server.auth import Authorizer, Principal, attribute_actor
from embedb.server.metrics import ServerMetrics
from embedb.server.middleware import principal_of
from embedb.server.responses import describe_validation_errors, result_response

log = logging.getLogger("embedb.server")

VectorEncoding = Literal["json", "base64"]
VECTOR_ENCODING_DOC = 'How vector fields in the result are encoded: "json" lists, or "base64" packed float32 arrays.'
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "Invalid argument: the wire name says which kind (data_error, filter_syntax_error, ...)."),
        (401, "No valid API token."),
        (403, "The token's role or collections do not allow this."),
        (404, "A named object does not exist."),
        (409, "Already exists, or a duplicate key."),
        (412, "The current state does not allow this."),
        (413, "The body is larger than the server's limit."),
        (500, "A server fault (server_error, storage_error, ...)."),
        (503, "The server is shutting down or not ready (unavailable)."),
    )
}


@dataclass(frozen=True)
class ServerContext:
    """What every handler needs: the backend, the authorizer and the metrics."""

    backend: Backend
    authorizer: Authorizer
    metrics: ServerMetrics


def invoke(
    context: ServerContext, operation: Operation, principal: Principal, arguments: dict[str, Any], encoding: str
) -> Response:
    """Authorize, call ``Backend.<method>(**arguments)`` and render the result (runs in a worker thread)."""
    context.authorizer.check(principal, operation, arguments)
    claimed = attribute_actor(principal, operation, arguments)
    if claimed is not None:
        # Kept where it says it was claimed, never in the history the backend writes.
        log.info(
            json.dumps(
                {
                    "event": "claimed_actor",
                    "operation": operation.method,
                    "token_id": principal.token_id,
                    "actor": principal.actor,
                    "claimed_actor": claimed,
                }
            )
        )
    for name in operation.packed_args:
        if name in arguments:
            arguments[name] = wire.unpack_nested(arguments[name])
    method = getattr(context.backend, operation.method)
    with context.metrics.time_operation(operation.method):
        result = method(**arguments)
    if operation.listing:
        result = principal.visible(result)
    if encoding == "base64" and operation.returns is not Returns.PLAIN:
        rows = result if operation.returns is Returns.ROWS else [hit["entity"] for hits in result for hit in hits]
        # Only rows that carry lists can hold vectors: most searches return none, and skip the schema lookup.
        if any(isinstance(value, (list, dict)) for row in rows for value in row.values()):
            wire.pack_row_vectors(rows, _vector_fields(context.backend, arguments["collection_name"]))
    return result_response(result)


def _vector_fields(backend: Backend, collection: str) -> list[str]:
    fields = backend.describe_collection(collection)["fields"]
    return [f["name"] for f in fields if str(f.get("type", "")).endswith("_VECTOR")]


def backend_arguments(body: BaseModel) -> dict[str, Any]:
    """The fields a caller set, under the backend's argument names (aliases such as ``schema``)."""
    fields = type(body).model_fields
    return {fields[name].alias or name: getattr(body, name) for name in body.model_fields_set}


def _json_endpoint(context: ServerContext, operation: Operation) -> Callable[..., Coroutine[Any, Any, Response]]:
    async def endpoint(request: Request, body: BaseModel, vector_encoding: str = "json") -> Response:
        principal = principal_of(request.scope)
        return await run_in_threadpool(invoke, context, operation, principal, backend_arguments(body), vector_encoding)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=operation.request),
    ]
    if operation.returns is not Returns.PLAIN:
        parameters.append(
            inspect.Parameter(
                "vector_encoding",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=VectorEncoding,
                default=Query("json", description=VECTOR_ENCODING_DOC),
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    return endpoint


def _arrow_endpoint(context: ServerContext, operation: Operation) -> Callable[..., Coroutine[Any, Any, Response]]:
    async def endpoint(request: Request) -> Response:
        principal = principal_of(request.scope)
        try:
            params = operation.request.model_validate(dict(request.query_params), strict=False)
        except ValidationError as error:
            message, problems = describe_validation_errors(error.errors())
            raise InvalidArgumentError(message, errors=problems) from None
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != wire.ARROW_STREAM:
            raise InvalidArgumentError(
                f"{operation.path} takes a body of type {wire.ARROW_STREAM}, got {content_type or 'none'!r}"
            )
        body = await request.body()

        def call() -> Response:
            arguments = backend_arguments(params)
            arguments["data"] = wire.read_arrow_stream(body)
            return invoke(context, operation, principal, arguments, "json")

        return await run_in_threadpool(call)

    return endpoint


def _arrow_openapi(operation: Operation) -> dict[str, Any]:
    fields = operation.request.model_fields
    return {
        "parameters": [
            {"name": name, "in": "query", "required": field.is_required(), "schema": {"type": "string"}}
            for name, field in fields.items()
        ],
        "requestBody": {
            "required": True,
            "content": {wire.ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}},
        },
    }


def build_router(context: ServerContext) -> APIRouter:
    """One ``POST`` route per row of the operation table."""
    router = APIRouter()
    for operation in OPERATIONS:
        docstring = (inspect.getdoc(getattr(Backend, operation.method)) or operation.method).replace("``", "`")
        summary, _, description = docstring.partition("\n")
        common: dict[str, Any] = {
            "operation_id": operation.operation_id,
            "summary": summary,
            "description": (description.strip() + f"\n\nNeeds role `{operation.role.name.lower()}`.").strip(),
            "tags": [operation.group],
            "response_model": operation.response,
            "responses": ERROR_RESPONSES,
        }
        if operation.body is Body.ARROW:
            router.add_api_route(
                operation.path,
                _arrow_endpoint(context, operation),
                methods=["POST"],
                openapi_extra=_arrow_openapi(operation),
                **common,
            )
        else:
            router.add_api_route(operation.path, _json_endpoint(context, operation), methods=["POST"], **common)
    return router
