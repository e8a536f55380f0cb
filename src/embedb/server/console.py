"""The web console's routes: ``/ui`` serves the static files shipped in ``embedb.console`` (no build step, no CDN).

The files are public (they hold no data); the page signs in with an API token and
calls the REST API with it, so it shows and does only what the token's role may.
``GET /v1/auth/whoami`` tells the page who the token is. Every console response
carries a Content-Security-Policy that allows this origin only.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from embedb.errors import NotFoundError
from embedb.server.middleware import principal_of
from embedb.server.responses import json_response

ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "pages.js": "text/javascript; charset=utf-8",
    "lifecycle.js": "text/javascript; charset=utf-8",
    "workflow.js": "text/javascript; charset=utf-8",
    "policy.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def add_console(app: FastAPI) -> None:
    """Mount ``/ui`` (the console) and ``/v1/auth/whoami`` on ``app``."""

    @app.api_route("/ui", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @app.api_route("/ui/", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_index() -> Response:
        return _asset("index.html")

    @app.api_route("/ui/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_asset(name: str) -> Response:
        return _asset(name)

    @app.get("/v1/auth/whoami", tags=["operations"], summary="The token's id, name, role and collection scope.")
    async def whoami(request: Request) -> Response:
        principal = principal_of(request.scope)
        return json_response(
            {
                "result": {
                    "token_id": principal.token_id,
                    "name": principal.name,
                    "role": principal.role.name.lower(),
                    "collections": sorted(principal.collections) if principal.collections is not None else None,
                }
            }
        )


def _asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFoundError(f"the console has no file {name!r}")
    body = resources.files("embedb.console").joinpath(name).read_bytes()
    return Response(body, media_type=media_type, headers=SECURITY_HEADERS)
