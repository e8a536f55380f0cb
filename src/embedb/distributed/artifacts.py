"""Model artifacts in the cluster's object store: a registered path is uploaded once, every shard registers its own copy.

On one machine ``register_model("m", "/models/minilm")`` reads a directory this
process sees. On a cluster the shards run on other nodes, so the router packs
the directory (or file) into one tar object keyed by its SHA-256
(``artifacts/<sha>.tar``: the same bytes are stored once) and logs the
registration with ``embedb-artifact:<key>/<name>`` as its source; a shard that
applies (or replays) it fetches the object, unpacks it beside its data and
registers from there (the registry then copies it into the shard's own store).
Sources that are not paths — an import path ``pkg.mod:fn``, an MLflow URI,
analyzer parameters — are logged as they are.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedb.distributed.object_store import ObjectStore
from embedb.errors import CorruptionError, InvalidArgumentError

ARTIFACT_SCHEME = "embedb-artifact:"


def stored_source(store: ObjectStore, source: Any) -> Any:
    """The source to log for ``register_model``: a local path uploaded to ``store``, anything else as it is."""
    if isinstance(source, Mapping):
        return dict(source)
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgumentError(
            "on a cluster a model is registered from a path, an import path 'pkg.mod:fn', an MLflow URI or "
            f"analyzer_params (a dict); a {type(source).__name__} object can only be registered embedded",
            argument="source",
        )
    path = Path(os.fspath(source))
    if not path.exists():  # an import path or a URI: the shards resolve it themselves
        return os.fspath(source)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(path, arcname=path.name)
    body = buffer.getvalue()
    key = f"artifacts/{hashlib.sha256(body).hexdigest()}.tar"
    store.put_new(key, body)  # the same bytes under the same key: stored once
    return f"{ARTIFACT_SCHEME}{key}/{path.name}"


@contextmanager
def fetched_source(store: ObjectStore, source: Any, into: Path) -> Iterator[Any]:
    """``source`` as this shard can register it: an uploaded artifact unpacked under ``into`` (removed after)."""
    if not isinstance(source, str) or not source.startswith(ARTIFACT_SCHEME):
        yield source
        return
    key, _, name = source[len(ARTIFACT_SCHEME) :].rpartition("/")
    body = store.get(key)
    if body is None:
        raise CorruptionError(f"the model artifact {key} is missing from {store.url}")
    into.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="artifact-", dir=into))
    try:
        with tarfile.open(fileobj=io.BytesIO(body)) as archive:
            archive.extractall(folder, filter="data")
        yield str(folder / name)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
