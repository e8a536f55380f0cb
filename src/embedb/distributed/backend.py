"""``RayBackend``: the contract on a Ray cluster — shards as actors, decisions and writes logged in object storage.

The router is this object, in the caller's process (or in ``embedb serve
--cluster``). It inherits every signature from ``Client`` and implements only
``_dispatch``, which sends each operation the way ``ROUTES`` says:

- a **decision** is appended to the catalog log under the router's write lock,
  then applied by every shard; reads and writes wait for that lock in shared
  mode, so no answer mixes the state before a decision with the state after it
  (a promotion switches every shard at once). A decision that needs a
  backfill done waits for the backfill first, outside the lock.
- a **write** is checked once, whole, by the first shard (``write_plan``: the
  engine's own checks, keys generated for an auto_id insert), split by
  primary-key hash, and each part is logged by its shard in the object store
  before it is applied: acknowledged means stored off the node. A retried part
  carries the same request id and is applied once.
- a **read** fans out and the answers are merged (``embedb.distributed.routing``).

A shard actor that dies is restarted by Ray (``max_restarts=-1``) and rebuilds
from its newest snapshot and the logs. ``replicas`` actors per shard (Milvus's
``replica_number``) keep reads answering meanwhile; with one, a read that meets
a restarting shard fails at once with ``UnavailableError`` (retriable). A write
waits for the shard's primary up to ``write_retry_s`` (``embedb.distributed.shard_set``).
"""

from __future__ import annotations

import pickle
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from embedb.backends.local import check_arguments
from embedb.client import Client
from embedb.config import Settings
from embedb.contract import OPERATIONS, check_scalar_arguments, scalar_checks
from embedb.display import present
from embedb.distributed.agreement import JOB_CONTROLS, require_agreement
from embedb.distributed.analyses import ClusterAnalyses
from embedb.distributed.artifacts import stored_source
from embedb.distributed.drifting import ClusterDrift
from embedb.distributed.experiments import EXPERIMENT_LOG, READS_THE_LOG, ClusterExperiments, entries_as_arguments
from embedb.distributed.log import OperationLog
from embedb.distributed.making import ClusterMaking
from embedb.distributed.merged_reads import MergedReads
from embedb.distributed.monitoring import MONITOR_MINUTES, READS_THE_MINUTES, ClusterMonitor
from embedb.distributed.object_store import open_object_store
from embedb.distributed.placement import BY_PARTITION_KEY, BY_PRIMARY_KEY
from embedb.distributed.policies import ClusterPolicies, RouterPolicyLoop
from embedb.distributed.routes import ROUTES, Route
from embedb.distributed.routing import (
    in_batch,
    merge_rows_in_key_order,
    split_rows,
    with_keys,
)
from embedb.distributed.shard import CATALOG_FOLDER, SETTLING_OPERATIONS, WritePlan
from embedb.distributed.shard_base import ReadWriteLock
from embedb.distributed.shard_reads import TUNED_INDEX
from embedb.distributed.shard_set import ShardSet
from embedb.engine.collections import checked_num_shards
from embedb.engine.policies import check_policy
from embedb.errors import ClosedError, DataError, EmbedbError, InvalidArgumentError, UnavailableError
from embedb.experiments import QueryLogEntry
from embedb.job_following import RUNNING_STATES, JobFollower
from embedb.schema import MAX_JSON_DEPTH

CLUSTER_FILE = "cluster.json"
DEFAULT_SHARDS = 2


class RayBackend(ClusterAnalyses, ClusterDrift, ClusterMaking, ClusterPolicies, MergedReads, Client):
    """EmbeDB on a Ray cluster: ``shards`` actors, their logs and snapshots in ``storage`` (s3://... or a directory)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        storage: str,
        shards: int | None = None,
        name: str = "embedb",
        settings: Settings | None = None,
        workdir: str | None = None,
        endpoint_url: str | None = None,
        snapshot_every: int = 2000,
        write_retry_s: float = 60.0,
        replicas: int = 1,
    ) -> None:
        try:
            import ray
        except ImportError as error:
            raise InvalidArgumentError("a Ray cluster needs ray: pip install 'embedb[distributed]'") from error
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, namespace="embedb", log_to_driver=False, include_dashboard=False)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or not 1 <= replicas <= 16:
            raise InvalidArgumentError(
                f"replicas must be an integer from 1 to 16, got {replicas!r}", argument="replicas"
            )
        self.store = open_object_store(storage, endpoint_url=endpoint_url)
        try:
            self.shard_count, self.placement = _cluster_config(self.store, shards)
        except BaseException:
            self.store.close()
            raise
        self.replicas = replicas
        self.shards = ShardSet(
            ray,
            name=name,
            shard_count=self.shard_count,
            replicas=replicas,
            storage=self.store.url,
            settings=settings or Settings(),
            workdir=workdir,
            snapshot_every=snapshot_every,
            endpoint_url=endpoint_url,
            write_retry_s=write_retry_s,
        )
        self.catalog = OperationLog(self.store, CATALOG_FOLDER, shared=True)  # every router appends to it
        self.lock = ReadWriteLock()
        self._closed = False
        self._cache: dict[tuple[str, ...], Any] = {}
        self._jobs = JobFollower(self)
        self._experiments = ClusterExperiments(self._write_experiment_log)
        self._monitor = ClusterMonitor(lambda rows: self._decide(MONITOR_MINUTES, {"rows": rows}))
        self._policies = RouterPolicyLoop(self, self._decide)

    def close(self) -> None:
        """Stop this router's shard actors (their data stays in the object store) and, if it started Ray, Ray."""
        if self._closed:
            return
        self._jobs.stop()
        self._experiments.close()  # the buffered query log and minutes are written while the shards still run
        self._monitor.close()
        self.store.close()
        self._closed = True
        if not self._ray.is_initialized():  # Ray was shut down under us: the actors went with it
            return
        self.shards.stop()
        if self._owns_ray:
            self._ray.shutdown()

    # ----------------------------------------------------------- dispatch

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        if self._closed:
            raise ClosedError("this EmbeDB client is closed")
        check_scalar_arguments(_SCALAR_CHECKS[name], arguments)
        check_arguments(arguments)
        callbacks = {local: arguments.pop(local, None) for local in OPERATIONS[name].access.local}  # stay here
        route = ROUTES[name]
        if name in READS_THE_LOG or name in READS_THE_MINUTES:
            self._experiments.flush()
        if name in READS_THE_MINUTES:
            self._monitor.flush()
        if route is Route.CATALOG:
            return present(self._decide(name, arguments, progress=callbacks.get("progress")))
        if route is Route.ROUTER:
            return present(self._run_policy(arguments, callbacks.get("progress")))
        if route is Route.FIRST:
            with self.lock.reading():
                return present(self._answer(self._read(0, name, arguments)))
        if name == "evaluate":
            return present(self._evaluate(arguments, callbacks.get("progress")))
        if name == "search_with":
            return present(self._search_with(arguments))
        if name == "evaluate_search":
            return present(self._evaluate_search(arguments, callbacks.get("progress")))
        try:
            return present(_HANDLERS[name](self, arguments))
        except (RecursionError, pickle.PicklingError) as error:  # what Ray cannot send to a shard
            raise DataError(
                f"{name}: the arguments nest lists and dicts deeper than {MAX_JSON_DEPTH} levels ({error})"
            ) from None

    # ---------------------------------------------------------- decisions

    def _decide(
        self, name: str, arguments: dict[str, Any], *, progress: Callable[[int, int], None] | None = None
    ) -> Any:
        """Log a decision, apply it on every shard, answer with the first shard's outcome.

        A backfill's ``progress`` is followed here, over every shard (the callback cannot travel).
        """
        wait_job = bool(arguments.get("wait")) if name == "add_embedding_version" else False
        sync_index = name == "create_index" and arguments.get("sync", True)
        if name == "add_embedding_version":
            arguments = {**arguments, "wait": False}  # the backfill runs outside the lock; waited for below
        if name == "create_index":
            arguments = {**arguments, "sync": False}
        if name in SETTLING_OPERATIONS or name in JOB_CONTROLS:
            collection = arguments.get("collection_name") or self._collection_of(arguments)
            if name in SETTLING_OPERATIONS:
                self._wait_for_jobs(collection)
                if collection is not None:
                    self._wait_for_indexes(collection)
            require_agreement(name, arguments, self._every, collection)
        if name == "set_policy":  # checked before the log's encoding turns a NumPy number into a plain one
            check_policy(arguments["policy"])
        if name == "create_collection":  # the shards that will hold it, logged: none given is every shard
            arguments = {**arguments, "num_shards": self._num_shards(arguments.get("num_shards"))}
        if name == "register_model":  # a local path travels to the shards through the object store
            arguments = {**arguments, "source": stored_source(self.store, arguments["source"])}
        with self.lock.writing():
            if name == "alter_collection_field":  # lower limits are checked against every shard's rows first
                for outcome in self._read_all(
                    lambda shard: shard.check_field_change.remote(
                        arguments["collection_name"], arguments["field_name"], arguments["field_params"]
                    )
                ):
                    self._answer(outcome)
            seq = self.catalog.append(name, arguments)
            first = self.shards.apply_catalog(seq)
            self._cache.clear()
        result = self._answer(first)
        if name in JOB_CONTROLS and isinstance(result, Mapping):  # the whole job, not the first shard's part
            result = self._get_job({"job_id": arguments["job_id"]})
        if name == "add_embedding_version" and isinstance(result, Mapping):
            if wait_job:
                result = self._jobs.follow(int(result["job_id"]), timeout=arguments.get("timeout"), progress=progress)
            elif progress is not None:
                self._jobs.watch(int(result["job_id"]), progress)
        if sync_index:
            self._wait_for_indexes(arguments["collection_name"])
        return result

    def _num_shards(self, asked: int | None) -> int:
        """A new collection's ``num_shards`` on this cluster: every shard when none is asked; more is refused
        (as one node refuses what no cluster has), before anything is logged."""
        checked = checked_num_shards(asked)
        if checked is None:
            return self.shard_count
        if checked > self.shard_count:
            raise InvalidArgumentError(
                f"num_shards is {asked}, but this cluster has {self.shard_count} shards", argument="num_shards"
            )
        return checked

    def _tune_index(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """One seeded sample of the whole collection drawn over every shard, the tuning measured on it by one
        shard, and the recipe adopted by every shard through the catalog log (the index built outside the lock)."""
        started = time.perf_counter()
        # a seed that is no integer: the shards refuse it as one node does
        seed = [int(arguments["seed"])] if isinstance(arguments["seed"], int) else [0]
        rows, _ = self._whole_sample(
            lambda shard_seed: _tune_sampler(arguments, shard_seed), seed, int(arguments["sample_rows"])
        )
        # not under the router's lock: a tuning takes minutes, and a decision would hold every read behind it
        report, adoption = self._answer(self.shards.read_any(lambda shard: shard.tune_measure.remote(arguments, rows)))
        apply = bool(arguments["apply"])
        if adoption is not None and (apply or adoption["model"] is not None):
            collection = arguments["collection_name"]
            self._decide(TUNED_INDEX, {"collection_name": collection, "adoption": adoption, "apply": apply})
            if apply:
                self._wait_for_indexes(arguments["collection_name"])
        return {**report, "applied": adoption is not None and apply, "seconds": time.perf_counter() - started}

    def _collection_of(self, arguments: dict[str, Any]) -> str | None:
        """The collection an experiment's or a job's decision is about (None when it names neither)."""
        try:
            if "experiment_id" in arguments:
                return str(
                    self._answer(self._read(0, "get_experiment", {"experiment_id": arguments["experiment_id"]}))[
                        "collection_name"
                    ]
                )
            if "job_id" in arguments:
                return self._answer(self._read(0, "get_job", {"job_id": arguments["job_id"]}))["collection_name"]
        except EmbedbError:
            return None  # the decision itself raises one node's error
        return None

    def _wait_for_jobs(self, collection_name: str | None) -> None:
        for job in self._list_jobs({"collection_name": collection_name}):
            if job["state"] in RUNNING_STATES:
                self._wait_job({"job_id": job["job_id"], "timeout": None})

    def _wait_for_indexes(self, collection_name: str) -> None:
        for description in (
            self._read(0, "list_indexes", {"collection_name": collection_name, "field_name": None}) or []
        ):
            index_name = description if isinstance(description, str) else description.get("index_name")
            while (
                self._describe_index({"collection_name": collection_name, "index_name": index_name})["state"]
                == "InProgress"
            ):
                time.sleep(0.05)

    # ------------------------------------------------------------- writes

    def _plan(self, operation: str, arguments: dict[str, Any]) -> WritePlan:
        """The first shard's check of a whole write; waited for while that shard restarts (as a write is)."""
        deadline = time.monotonic() + self.shards.write_retry_s
        while True:
            try:
                plan = self._answer(self._read_with(0, lambda shard: shard.write_plan.remote(operation, arguments)))
                assert isinstance(plan, WritePlan)
                return plan
            except UnavailableError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def _write_parts(self, operation: str, arguments: dict[str, Any]) -> tuple[WritePlan, list[Any]]:
        """Check the whole write once, split it by owner, log and apply each part on its shard.

        A partial update (``partial_update``, ``field_ops``) is checked again by each owner, on its
        stored rows, before any shard writes: its rows are only whole there.
        """
        data = arguments["data"]
        if (
            not isinstance(data, (list, tuple, Mapping))
            and not hasattr(data, "to_pydict")
            and not hasattr(data, "columns")
        ):
            raise DataError(  # one node's words; anything else would not even reach a shard
                f"cannot {operation} a {type(data).__name__}: give a list of row dicts, a dict of columns, "
                "a pyarrow Table or a pandas DataFrame"
            )
        with self.lock.reading():
            plan = self._plan(operation, arguments)
            parts: dict[int, tuple[str, dict[str, Any]]] = {}
            placed = self._placing(plan, operation)
            moved = self._moved_or_taken(arguments["collection_name"], operation, plan, placed)
            for index, positions in placed.items():
                part = split_rows(data, positions, columnar=plan.columnar)
                shard_operation = operation
                if plan.generated_keys:  # an auto_id insert: the keys were made once, by the plan
                    part = with_keys(part, plan.primary, [plan.keys[p] for p in positions])
                    shard_operation = "upsert"
                parts[index] = (shard_operation, {**arguments, "data": part})
                if shard_operation != operation:
                    parts[index][1].update(partial_update=False, field_ops=None)
            if arguments.get("partial_update") or arguments.get("field_ops"):
                checks = self.shards.read_each({index: _checking(part) for index, part in parts.items()})
                for index, outcome in checks.items():
                    self._answer(in_batch(outcome, placed[index]))
            outcomes = self._write_on(parts)
            for index, outcome in zip(sorted(parts), outcomes, strict=True):
                self._answer(in_batch(outcome, placed[index]))
            if moved:  # rows an upsert moved to another partition key's shard: their old copies go after
                stale = {
                    index: ("delete", _deleting(arguments["collection_name"], keys)) for index, keys in moved.items()
                }
                for outcome in self._write_on(stale):
                    self._answer(outcome)
        return plan, outcomes

    def _write_on(self, parts: dict[int, tuple[str, dict[str, Any]]]) -> list[Any]:
        """Each part on its shard (a request id each, so a retried part applies once); the outcomes."""
        return self.shards.write(
            {index: (operation, arguments, uuid.uuid4().hex) for index, (operation, arguments) in parts.items()}
        )

    def _insert(self, arguments: dict[str, Any]) -> dict[str, Any]:
        plan, _ = self._write_parts("insert", arguments)
        return {"insert_count": len(plan.keys), "ids": list(plan.keys)}

    def _upsert(self, arguments: dict[str, Any]) -> dict[str, Any]:
        plan, _ = self._write_parts("upsert", arguments)
        return {"upsert_count": len(plan.keys)}

    def _delete(self, arguments: dict[str, Any]) -> dict[str, Any]:
        with self.lock.reading():
            among = self._holding_shards(arguments["collection_name"]) or range(self.shard_count)
            outcomes = self._write_on({index: ("delete", arguments) for index in among})
        return {"delete_count": sum(int(self._answer(outcome)["delete_count"]) for outcome in outcomes)}

    # -------------------------------------------------------------- reads

    def _get(self, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        ids = arguments["ids"]
        if isinstance(ids, np.ndarray):
            keys = ids.tolist()
        elif isinstance(ids, (list, tuple)):
            keys = list(ids)
        elif isinstance(ids, (str, int, np.integer)):
            keys = [ids.item() if isinstance(ids, np.integer) else ids]
        else:
            raise DataError(f"ids must be a list of primary keys, got {type(ids).__name__}")
        answers = self._every("get", arguments, self._holding_shards(arguments["collection_name"]))
        return merge_rows_in_key_order(answers, keys, self._primary(arguments["collection_name"]))

    def _write_experiment_log(self, entries: list[QueryLogEntry]) -> None:
        self._decide(EXPERIMENT_LOG, entries_as_arguments(entries))

    def shard_status(self) -> list[dict[str, Any]]:
        """Each shard actor's process, node and log positions (for operators and the failure tests)."""
        return self.shards.status()

    def checkpoint(self) -> list[str]:
        """Snapshot every shard into the object store now; return the snapshot keys."""
        return self.shards.checkpoint()


def _deleting(collection: str, keys: list[Any]) -> dict[str, Any]:
    """The arguments of a delete of ``keys`` (every argument ``delete`` takes)."""
    return {"collection_name": collection, "ids": keys, "filter": None, "partition_name": None}


def _checking(part: tuple[str, dict[str, Any]]) -> Callable[[Any], Any]:
    """The call that has a shard check its part of a write (``ShardServer.check_write``)."""
    return lambda shard: shard.check_write.remote(*part)


def _cluster_config(store: Any, shards: int | None) -> tuple[int, str]:
    """The cluster's shard count and placement, fixed by the first router that used the storage (a cluster created
    before placement by partition key places every collection by primary key)."""
    import json

    if shards is not None and (not isinstance(shards, int) or isinstance(shards, bool) or not 1 <= shards <= 1024):
        raise InvalidArgumentError(f"shards must be an integer from 1 to 1024, got {shards!r}", argument="shards")
    wanted = shards or DEFAULT_SHARDS
    store.put_new(CLUSTER_FILE, json.dumps({"format": 1, "shards": wanted, "placement": BY_PARTITION_KEY}).encode())
    stored = json.loads(store.get(CLUSTER_FILE) or b"{}")
    if shards is not None and stored.get("shards") != shards:
        raise InvalidArgumentError(
            f"the cluster at {store.url} has {stored.get('shards')} shards, not {shards}", argument="shards"
        )
    return int(stored["shards"]), str(stored.get("placement", BY_PRIMARY_KEY))


def _tune_sampler(arguments: dict[str, Any], seed: list[int]) -> Callable[[Any], Any]:
    return lambda shard: shard.tune_sample.remote(arguments, seed)


_SCALAR_CHECKS = {name: scalar_checks(spec) for name, spec in OPERATIONS.items()}

_HANDLERS: dict[str, Callable[[RayBackend, dict[str, Any]], Any]] = {
    "insert": RayBackend._insert,
    "upsert": RayBackend._upsert,
    "delete": RayBackend._delete,
    "get": RayBackend._get,
    "query": RayBackend._query,
    "search": RayBackend._search,
    "hybrid_search": RayBackend._hybrid_search,
    "drift": RayBackend._drift,
    "tune_index": RayBackend._tune_index,
    "fine_tune": lambda router, arguments: router._make_model("fine_tune", arguments),
    "select_model": lambda router, arguments: router._make_model("select_model", arguments),
    "describe_index": RayBackend._describe_index,
    "describe_collection": RayBackend._describe_collection,
    "list_jobs": RayBackend._list_jobs,
    "get_job": RayBackend._get_job,
    "wait_job": RayBackend._wait_job,
    "get_collection_stats": RayBackend._get_collection_stats,
    "flush": RayBackend._flush,
    "compact": RayBackend._compact,
}
