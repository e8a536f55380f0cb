"""``connect(uri)``: the one entry point; the URI picks the adapter (embedded or HTTP)."""

from __future__ import annotations

import os
from typing import Any

from embedb.client import Client
from embedb.config import Settings
from embedb.errors import InvalidArgumentError

MEMORY = ":memory:"
RAY_LOCAL = "ray"  # a Ray instance started in this process (one machine); ray://HOST:PORT joins a running cluster
CLUSTER_OPTIONS = frozenset({"storage", "shards", "replicas", "name", "workdir", "endpoint_url", "snapshot_every"})


def connect(
    uri: str | os.PathLike[str] = MEMORY,
    *,
    token: str | None = None,
    read_only: bool = False,
    settings: Settings | None = None,
    **setting_overrides: Any,
) -> Client:
    """Open an EmbeDB database.

    - ``"./data"`` (any path): embedded, on that data directory (created if missing);
    - ``":memory:"``: embedded, in a temporary directory removed on close;
    - ``"http://host:port"`` / ``"https://..."``: a server started with ``embedb serve``;
    - ``"ray://host:port"`` (a running Ray cluster) or ``"ray"`` (Ray on this machine): a sharded
      cluster; ``storage="s3://bucket/prefix"`` (or a directory every node sees) is required,
      ``shards=`` sets the shard count when the storage is new, ``replicas=`` the actors per
      shard (read replicas keep searches answering while one restarts; docs/distributed.md).

    ``settings`` (or keyword overrides such as ``durability="relaxed"``) tune the
    embedded engine. Raises ``DirectoryLockedError`` if another process writes
    to the directory, ``FormatVersionError`` if a newer EmbeDB wrote it.
    """
    text = os.fspath(uri)
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError(f"uri must be a path, ':memory:' or an http(s) URL, got {uri!r}")
    if text == RAY_LOCAL or text.startswith("ray://"):
        return _connect_cluster(text, token=token, read_only=read_only, settings=settings, options=setting_overrides)
    if text.startswith(("http://", "https://")):
        if setting_overrides or settings is not None:
            raise InvalidArgumentError("engine settings apply to embedded databases only; set them on the server")
        from embedb.backends.http import HttpBackend

        return HttpBackend(text, token=token)
    if token is not None:
        raise InvalidArgumentError("token= is for server URIs (http://...); an embedded database has no auth")
    resolved = (settings or Settings()).with_overrides(**setting_overrides) if setting_overrides else (settings or Settings())
    from embedb.backends.local import LocalBackend

    if text == MEMORY:
        if read_only:
            raise InvalidArgumentError("a :memory: database cannot be read-only")
        return LocalBackend(None, settings=resolved)
    return LocalBackend(text, read_only=read_only, settings=resolved)


def _connect_cluster(
    text: str, *, token: str | None, read_only: bool, settings: Settings | None, options: dict[str, Any]
) -> Client:
    if token is not None or read_only:
        raise InvalidArgumentError("token= and read_only= are not options of a Ray cluster connection")
    unknown = set(options) - CLUSTER_OPTIONS
    if unknown:
        raise InvalidArgumentError(f"unknown cluster options {sorted(unknown)}; known: {sorted(CLUSTER_OPTIONS)}")
    if "storage" not in options:
        raise InvalidArgumentError("a Ray cluster needs storage='s3://bucket/prefix' (or a directory every node sees)")
    from embedb.distributed import RayBackend

    return RayBackend(None if text == RAY_LOCAL else text, settings=settings, **options)
