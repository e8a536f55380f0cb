"""Which shard holds a row: by its primary key, or — for a collection with a partition key — by that key's value.

A cluster opened since placement by partition key exists (its ``cluster.json``
says ``"placement": "partition_key"``) places the rows of a collection with a
partition key (Milvus's ``is_partition_key``) by the hash of that field's
value, so one tenant's rows are on one shard, and a search or query whose
filter pins the partition key (``tenant == "a"``, ``tenant in [...]``, ANDed with
anything) asks only the shards that hold those values. Other collections, and
every collection of a cluster created before, are placed by primary key.

A primary key then no longer names its shard, so what one node gets from its one
store the router does across shards: an insert is refused when any shard holds
one of its keys (``DuplicateKeyError``, one node's words), and an upsert that
moves a row to another partition key deletes the copy the old shard holds, after
the new row is written (a write cut short in between leaves both until it is
retried; neither is acknowledged). ``get`` and ``delete`` by key ask every shard,
as they always do. Two routers inserting one new key with different partition
keys at the same moment can both pass the check: uniqueness across shards is
checked, not locked.
"""

from __future__ import annotations

from typing import Any

from embedb.distributed.router_base import RouterBase
from embedb.distributed.routing import holding, owners
from embedb.distributed.shard import WritePlan
from embedb.distributed.shard_base import SHIPPED_FILTER
from embedb.errors import DataError, DuplicateKeyError, EmbedbError
from embedb.query.filters import compile_filter, params_key
from embedb.schema import CollectionSchema

BY_PRIMARY_KEY = "primary_key"
BY_PARTITION_KEY = "partition_key"


class ClusterPlacement(RouterBase):
    """Where the router puts a write's rows and which shards a filtered read asks."""

    placement: str
    shard_count: int

    def _placing(self, plan: WritePlan, operation: str) -> dict[int, list[int]]:
        """A checked write's row positions by the shard that will hold them."""
        among = holding(plan.collection_id, plan.num_shards, self.shard_count)
        if plan.partition_key is None or self.placement != BY_PARTITION_KEY:
            return owners(plan.keys, among)
        if plan.places is None:
            raise DataError(
                f"a partial {operation} of a collection placed by its partition key gives each row's "
                f"{plan.partition_key!r} (the shard that holds the row is chosen by it)"
            )
        return owners(plan.places, among)

    def _moved_or_taken(
        self, collection: str, operation: str, plan: WritePlan, placed: dict[int, list[int]]
    ) -> dict[int, list[Any]]:
        """For a write placed by partition key: refuse an insert of a key some shard holds; for an upsert, the keys
        each shard holds that are now placed on another shard (their old copies, deleted after the write)."""
        if plan.partition_key is None or self.placement != BY_PARTITION_KEY or plan.generated_keys:
            return {}
        keys = list(dict.fromkeys(plan.keys))
        among = holding(plan.collection_id, plan.num_shards, self.shard_count)
        holders = self.shards.read_each({index: _holding(collection, keys) for index in among})
        held = {index: [row[plan.primary] for row in self._answer(outcome)] for index, outcome in holders.items()}
        if operation == "insert":
            present = {key for keys_held in held.values() for key in keys_held}
            existing = [key for key in plan.keys if key in present]
            if existing:
                shown = ", ".join(repr(key) for key in existing[:5])
                raise DuplicateKeyError(
                    f"{len(existing)} primary key(s) already exist: {shown}; use upsert to replace rows",
                    keys=existing[:20],
                )
            return {}
        owner = {plan.keys[position]: index for index, positions in placed.items() for position in positions}
        stale = {index: [key for key in keys_held if owner.get(key) != index] for index, keys_held in held.items()}
        return {index: keys_held for index, keys_held in stale.items() if keys_held}

    def _shards_for(self, arguments: dict[str, Any]) -> list[int] | None:
        """The shards a read needs (None: all): those that hold the collection, and of them, in a collection
        placed by partition key, those that hold the values its filter pins."""
        held = self._holding_shards(arguments["collection_name"])
        values = self._pinned(arguments)
        if values is None:
            return held
        among = list(range(self.shard_count)) if held is None else held
        return sorted(owners(values, among)) or among[:1]

    def _holding_shards(self, collection: str) -> list[int] | None:
        """The shards that hold a collection (None: every shard, or no such collection — every shard then
        refuses the call as one node does)."""
        try:
            among = self._holders(collection)
        except EmbedbError:
            return None
        return None if len(among) == self.shard_count else among

    def _pinned(self, arguments: dict[str, Any]) -> list[Any] | None:
        """The partition key values a read's filter pins, in a collection placed by them (None: not pinned)."""
        expression = arguments.get("filter") or ""
        if self.placement != BY_PARTITION_KEY or arguments.get("partition_names") or not isinstance(expression, str):
            return None
        if not expression.strip():
            return None
        try:
            schema = self._view(arguments["collection_name"]).schema
            if schema.partition_key is None:
                return None
            shipped = arguments.get(SHIPPED_FILTER)
            compiled = (
                shipped[1] if shipped else compile_filter(expression, schema, params=arguments.get("filter_params"))
            )
            values = compiled.values_of(schema.partition_key)
        except EmbedbError:  # a bad filter: every shard refuses it as one node does
            return None
        return None if values is None else list(values)

    def _shipped(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """A read's ``arguments`` with its filter compiled here, once, for every shard it reaches (as each shard
        would compile it: the view's schema, indexed fields and time zone), remembered until the next decision;
        unchanged for a blank filter or one the compiler refuses (the shards then refuse it with one node's error)."""
        expression = arguments.get("filter")
        if not isinstance(expression, str) or not expression.strip() or SHIPPED_FILTER in arguments:
            return arguments
        params = arguments.get("filter_params")
        try:
            view = self._view(arguments["collection_name"])
            indexed, zone = view.filter_context
            context = (indexed, arguments.get("timezone") or zone)
            compiled = self._cached(
                ("filter", arguments["collection_name"], expression, params_key(params or {}), context[1]),
                lambda: compile_filter(expression, view.schema, params=params, indexed=indexed, timezone=context[1]),
            )
        except EmbedbError:
            return arguments
        return {**arguments, SHIPPED_FILTER: (context, compiled)}

    def _schema(self, collection: str) -> CollectionSchema:
        """A collection's schema, as the first shard has it since the router's last decision."""
        schema: CollectionSchema = self._view(collection).schema
        return schema


def _holding(collection: str, keys: list[Any]) -> Any:
    """The call that gets the rows of ``keys`` a shard holds (their primary keys only)."""
    return lambda shard: shard.call.remote("get", {"collection_name": collection, "ids": keys, "output_fields": []})
