"""``fine_tune`` and ``select_model`` on a shard: on rows its router gathered, their registration deferred to it.

The engine's operations read rows through ``CollectionRows`` and register through
``Registration`` (``embedb.engine.making``). A shard runs them with:

- ``GatheredRows``: the texts and samples the router gathered from every shard.
  Asked for rows the router has not gathered yet, it raises ``RowsWanted`` with
  the request; the shard answers that request, the router gathers it (a ``get``
  over the cluster, or one uniform sample of the whole collection) and asks
  again. The operation is deterministic, so each run asks for the same rows
  until it has them all; only the last run trains.
- ``DeferredRegistration``: a made model is saved by its flavor, uploaded to the
  object store (``stored_source``) and answered as a placeholder URI; the router
  logs the ``register_model`` (or ``set_model_alias``) decision every shard
  applies, and puts the version's URI in the report.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from embedb.distributed.artifacts import stored_source
from embedb.distributed.object_store import ObjectStore
from embedb.engine.making import lineage_fields
from embedb.lifecycle import EmbeddingVersion
from embedb.models import Lineage, ModelVersion
from embedb.models.flavors import get_flavor
from embedb.storage import CollectionInfo

PENDING = "embedb-pending-version:"  # a placeholder URI: the router swaps in the registered version's


class RowsWanted(Exception):  # a request, not an error: the router answers it and asks again
    """Rows the router has not gathered yet: ``("texts", collection, source, keys)`` or
    ``("sample", collection, column key, rows, seed)``."""

    def __init__(self, request: tuple[Any, ...]) -> None:
        super().__init__(request[0])
        self.request = request


class GatheredRows:
    """``CollectionRows`` on what the router gathered: ``texts`` {(collection, source): {key: text or None}} and
    ``samples`` {(collection, column key, rows, seed): keys}."""

    def __init__(self, texts: dict[tuple[str, str], dict[Any, str | None]], samples: dict[tuple[Any, ...], list[Any]]):
        self.gathered_texts = texts
        self.samples = samples

    def texts(self, info: CollectionInfo, source: str, keys: Iterable[Any]) -> dict[Any, str]:
        wanted = list(dict.fromkeys(keys))
        known = self.gathered_texts.get((info.name, source), {})
        missing = [key for key in wanted if key not in known]
        if missing:
            raise RowsWanted(("texts", info.name, source, missing))
        return {key: text for key in wanted if isinstance(text := known[key], str)}

    def sample_keys(self, info: CollectionInfo, version: EmbeddingVersion, rows: int, seed: int) -> list[Any]:
        request = (info.name, version.column_key, rows, seed)
        if request not in self.samples:
            raise RowsWanted(("sample", *request))
        return self.samples[request]


class DeferredRegistration:
    """``Registration`` the router carries out: each made model uploaded, each registration kept in ``pending``."""

    def __init__(self, store: ObjectStore, scratch: Path) -> None:
        self.store = store
        self.scratch = scratch
        self.pending: list[tuple[str, dict[str, Any]]] = []  # (decision, arguments), in order

    def register(self, name: str, model: Any, *, flavor: str, lineage: Lineage, **described: Any) -> str:
        self.scratch.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="made-", dir=self.scratch))
        try:
            saved = folder / "model"
            saved.mkdir()
            implementation = get_flavor(flavor)
            implementation.save(model, saved, dimension=None)
            # what the flavor registers from: the saved folder, or its one file (a .skops pipeline)
            source = next(path for path in (saved, *sorted(saved.iterdir())) if implementation.detect(path))
            arguments = {
                "name": name,
                "source": stored_source(self.store, source),
                "flavor": flavor,
                "lineage": lineage_fields(lineage),
                **{key: value for key, value in described.items() if value is not None},
            }
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.pending.append(("register_model", arguments))
        return f"{PENDING}{len(self.pending) - 1}"

    def set_alias(self, version: ModelVersion, alias: str, *, reason: str) -> str:
        arguments = {"name": version.name, "alias": alias, "version": version.version, "reason": reason}
        self.pending.append(("set_model_alias", arguments))
        return version.uri


def with_versions(value: Any, versions: list[str | None]) -> Any:
    """``value`` with every placeholder URI (``PENDING`` n) replaced by ``versions[n]``."""
    if isinstance(value, str) and value.startswith(PENDING):
        return versions[int(value[len(PENDING) :])]
    if isinstance(value, dict):
        return {key: with_versions(item, versions) for key, item in value.items()}
    if isinstance(value, list):
        return [with_versions(item, versions) for item in value]
    return value
