"""``fine_tune`` and ``select_model`` on a cluster: the router gathers the rows, one shard makes the model.

One node reads the texts of named rows and a seeded sample of its rows, trains
or scores, and registers what it made. On a cluster the rows are spread over the
shards and the registry is every shard's, kept alike by the catalog log. So one
shard (any live one) runs the engine's operation on rows this router gathered
(``embedb.distributed.gathered``): each time it needs rows not gathered yet it
answers the request, and the router gathers them — texts by a ``get`` over the
cluster, a sample as one uniform draw of the whole collection (the same as
``tune_index`` and ``drift`` take) — and asks again. When it has run, the
router logs each registration it deferred (``register_model`` from the object
store, or ``set_model_alias``) as a decision every shard applies, and answers
the report with the registered versions' URIs.
"""

from __future__ import annotations

from typing import Any, cast

from embedb.client import Client
from embedb.distributed.gathered import with_versions
from embedb.distributed.router_base import RouterBase
from embedb.errors import ServerError

MAKING = frozenset({"fine_tune", "select_model"})
MAX_ROUNDS = 8  # a run asks for rows a few times (named texts, a sample, the sample's texts); more is a loop


class ClusterMaking(RouterBase):
    """``fine_tune`` and ``select_model`` of the router."""

    def _make_model(self, operation: str, arguments: dict[str, Any]) -> Any:
        texts: dict[tuple[str, str], dict[Any, str | None]] = {}
        samples: dict[tuple[Any, ...], list[Any]] = {}
        for _ in range(MAX_ROUNDS):
            answer = self._answer(
                self.shards.read_any(lambda shard: shard.make_model.remote(operation, arguments, texts, samples))
            )
            if answer[0] == "made":
                return self._registered(answer[1], answer[2])
            request = answer[1]
            if request[0] == "texts":
                _, collection, source, keys = request
                texts.setdefault((collection, source), {}).update(self._texts(collection, source, keys))
            else:
                _, collection, column_key, rows, seed = request
                samples[(collection, column_key, rows, seed)] = self._sample_keys(collection, column_key, rows, seed)
        raise ServerError(f"{operation} asked for rows {MAX_ROUNDS} times on a cluster")

    def _texts(self, collection: str, source: str, keys: list[Any]) -> dict[Any, str | None]:
        """Each key's ``source`` text over the cluster (None: no such row, or no text)."""
        primary = self._primary(collection)
        rows = self._client.get(collection, keys, output_fields=[source])
        found = {row[primary]: row.get(source) for row in rows}
        return {key: text if isinstance(text := found.get(key), str) else None for key in keys}

    def _sample_keys(self, collection: str, column_key: str, rows: int, seed: int) -> list[Any]:
        """The keys of one seeded uniform sample of the collection's rows that hold ``column_key``."""
        _, keys = self._whole_sample(
            lambda shard_seed: lambda shard: shard.sample_keys.remote(collection, column_key, rows, shard_seed),
            [seed],
            rows,
        )
        return keys

    def _registered(self, report: Any, pending: list[tuple[str, dict[str, Any]]]) -> Any:
        """Log each registration a shard deferred (every shard applies it); the report with their versions' URIs."""
        versions: list[str | None] = []
        for decision, arguments in pending:
            if decision == "register_model":
                versions.append(str(self._client.register_model(**arguments)["uri"]))
            else:
                self._client.set_model_alias(**arguments)
                versions.append(None)
        return with_versions(report, versions)

    @property
    def _client(self) -> Client:
        """This router as the contract's client (``RayBackend`` is one): its operations, checked and routed."""
        return cast(Client, self)
