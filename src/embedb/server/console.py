"""The web console's routes: ``/ui`` serves the static files shipped in ``embedb.console`` (no build step, no CDN).

The files are public (they hold no data); the page signs in with an API token and
calls the REST API with it, so it shows and does only what the token's role may.
``GET /v1/auth/whoami`` tells the page who the token is. Every console response
carries a Content-Security-Policy that allows this origin only.
"""

from __future__ import annotations

from importlib import resources
from pathlib import PurePath

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from embedb.errors import NotFoundError
from embedb.server.middleware import principal_of
from embedb.server.responses import json_response

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
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
    """Mount ``/ui`` (the console) and ``/v1/auth/whoami`` on ``app``; the files are read once, here."""
    assets = _read_assets()

    @app.api_route("/ui", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @app.api_route("/ui/", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_index() -> Response:
        return _asset(assets, "index.html")

    @app.api_route("/ui/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def console_asset(name: str) -> Response:
        return _asset(assets, name)

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


def _read_assets() -> dict[str, tuple[bytes, str]]:
    """Every servable file of ``embedb.console`` (HTML, JavaScript, CSS) by name: its bytes and media type."""
    found = {}
    for entry in resources.files("embedb.console").iterdir():
        media_type = MEDIA_TYPES.get(PurePath(entry.name).suffix)
        if media_type is not None:
            found[entry.name] = (entry.read_bytes(), media_type)
    return found


def _asset(assets: dict[str, tuple[bytes, str]], name: str) -> Response:
    asset = assets.get(name)
    if asset is None:
        raise NotFoundError(f"the console has no file {name!r}")
    return Response(asset[0], media_type=asset[1], headers=SECURITY_HEADERS)
