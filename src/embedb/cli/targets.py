"""What a command works on: ``TARGET``, a data directory or the URL of ``embedb serve``.

Commands open it with ``embedb.connect`` and use only ``Backend`` methods, so
each works the same on a directory and against a server. A directory is
opened read-only unless the command writes, so it works beside a running
server; the token for a server comes from ``--token`` or ``EMBEDB_TOKEN``
(and is ignored for a directory, where there is no auth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import embedb
from embedb.errors import InvalidArgumentError

Target = Annotated[str, typer.Argument(help="A data directory, or http(s)://host:port of `embedb serve`.")]
Token = Annotated[str | None, typer.Option("--token", envvar="EMBEDB_TOKEN", help="API token for a server.")]


def is_server(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def open_target(target: str, token: str | None, *, read_only: bool) -> embedb.Backend:
    """Connect to ``target``; raise ``InvalidArgumentError`` when it is neither a directory nor an http(s) URL."""
    if is_server(target):
        return embedb.connect(target, token=token)
    if not Path(target).is_dir():
        raise InvalidArgumentError(f"{target!r} is neither a data directory nor an http(s):// URL of `embedb serve`")
    return embedb.connect(target, read_only=read_only)
