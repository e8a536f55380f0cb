"""``ShardSet``: a cluster's shard actors — per shard a primary and its read replicas — and calls that survive losing some.

- **Reads** go to one replica of each shard, taken in turn; one that is gone
  (its process or node died, Ray is restarting it) is replaced by the next
  replica of the same shard, and one that has not answered within
  ``READ_HEDGE_S`` is joined by the next (a lost node hangs calls until Ray
  notices; the first answer wins), so with ``replicas >= 2`` searches keep
  answering while a shard restarts. With one replica a read fails at once with
  ``UnavailableError`` (retriable); with more, when every replica fails at once
  (while Ray handles a lost node a living one can be unreachable for a moment)
  each is asked once more after ``READ_RETRY_PAUSE_S`` before the read fails.
- **Writes** go to the shard's primary, which logs them in the object store
  and applies them; a primary that is gone is retried (same request id, so a
  write applies once) until ``write_retry_s``. Then every live read replica
  applies the log up to the write (``ShardServer.follow``) before the write is
  acknowledged, so a read on any replica sees every acknowledged write; a
  replica that is gone catches up from the log when Ray restarts it.
- **Decisions** are applied by every actor; the first shard's answer is the answer (waited for, as a
  write is, while every replica of the first shard restarts).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from embedb.config import Settings
from embedb.distributed.shard import ShardServer, Written
from embedb.errors import UnavailableError

# How long a read waits for one replica before it asks the next one too: a node that died hangs its calls
# until Ray notices (tens of seconds); a replica elsewhere answers in milliseconds.
READ_RETRY_PAUSE_S = 0.5  # with replicas, the pause before each replica of a shard is asked a second time
READ_HEDGE_S = 2.0


# What each replica's placement-group bundle reserves: Ray's bundles need some resource; the actors use none.
BUNDLE_CPU = 0.001
PLACEMENT_WAIT_S = 60.0


def _placement_group(ray: Any, name: str, bundles: int) -> Any:
    """``bundles`` bundles on different nodes whenever there are enough (a ``SPREAD`` group).

    Best effort, not strict: when a node is lost Ray moves its bundles to the nodes left, even one that
    holds another bundle of the group, so a shard keeps its replicas rather than waiting for a node.
    """
    from ray.util.placement_group import get_placement_group, placement_group

    try:
        group = get_placement_group(name)  # a router reopening a running cluster
    except ValueError:
        group = placement_group([{"CPU": BUNDLE_CPU}] * bundles, strategy="SPREAD", name=name)
    try:
        ray.get(group.ready(), timeout=PLACEMENT_WAIT_S)
    except ray.exceptions.GetTimeoutError:
        raise UnavailableError(
            f"Ray could not place the {bundles} bundles of {name} within {PLACEMENT_WAIT_S:g}s (each reserves {BUNDLE_CPU} CPU)"
        ) from None
    return group


def _placement(groups: list[Any], shard: int, replica: int, replicas: int) -> Any:
    """Where an actor starts: with replicas, its bundle of its shard's group; with one actor per shard, the
    shard's bundle of the one group that spreads the shards over the nodes."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    group, bundle = (groups[shard], replica) if replicas > 1 else (groups[0], shard)
    return PlacementGroupSchedulingStrategy(placement_group=group, placement_group_bundle_index=bundle)


class ShardSet:
    """Every shard's actors (``replicas`` per shard), a shard's replicas on different nodes, restarted when they die."""

    def __init__(
        self,
        ray: Any,
        *,
        name: str,
        shard_count: int,
        replicas: int,
        storage: str,
        settings: Settings,
        workdir: str | None,
        snapshot_every: int,
        endpoint_url: str | None,
        write_retry_s: float,
    ) -> None:
        self._ray = ray
        self.write_retry_s = write_retry_s
        actor: Any = ray.remote(ShardServer)
        # with one replica per shard the shards are the bundles of one placement group, spread over the nodes;
        # with more, each shard's replicas are the bundles of its own group, on different nodes
        self.groups = (
            [_placement_group(ray, f"{name}-shard-{index}", replicas) for index in range(shard_count)]
            if replicas > 1
            else [_placement_group(ray, f"{name}-shards", shard_count)]
        )
        self.replicas: list[list[Any]] = [
            [
                actor.options(
                    name=f"{name}-shard-{index}" + (f"-replica-{replica}" if replica else ""),
                    get_if_exists=True,
                    max_restarts=-1,
                    max_concurrency=16,
                    num_cpus=0,
                    scheduling_strategy=_placement(self.groups, index, replica, replicas),
                ).remote(
                    index,
                    storage=storage,
                    settings=settings,
                    workdir=workdir,
                    snapshot_every=snapshot_every,
                    endpoint_url=endpoint_url,
                    replica=replica,
                    shard_count=shard_count,
                )
                for replica in range(replicas)
            ]
            for index in range(shard_count)
        ]
        self._turn = itertools.count()
        ray.get([actor.status.remote() for actor in self.actors()])  # every actor recovered before the first request

    def actors(self) -> list[Any]:
        return [actor for replicas in self.replicas for actor in replicas]

    # -------------------------------------------------------------- reads

    def read(self, index: int, call: Callable[[Any], Any]) -> Any:
        """``call`` on one live replica of shard ``index``."""
        return self.read_all(call, shards=[index])[0]

    def read_all(self, call: Callable[[Any], Any], *, shards: list[int] | None = None) -> list[Any]:
        """``call`` on one replica of each shard (in parallel), by shard: see ``read_each``."""
        wanted = list(range(len(self.replicas))) if shards is None else shards
        answers = self.read_each(dict.fromkeys(wanted, call))
        return [answers[index] for index in wanted]

    def read_each(self, calls: dict[int, Callable[[Any], Any]]) -> dict[int, Any]:
        """A call on one replica of each of some shards (in parallel); the first answer of each shard wins.

        A replica that is gone is replaced by the shard's next one; with several replicas, a shard
        that has not answered within ``READ_HEDGE_S`` is also asked of its next replica, and the
        first of the two to answer is kept (a slow replica is not a dead one).
        """
        start = next(self._turn)
        asked = dict.fromkeys(calls, 1)
        owner: dict[Any, int] = {call(self._replica(index, start)): index for index, call in calls.items()}
        answers: dict[int, Any] = {}
        hedge = READ_HEDGE_S if any(len(self.replicas[index]) > 1 for index in calls) else None
        while len(answers) < len(calls):
            ready, _ = self._ray.wait(list(owner), num_returns=1, timeout=hedge)
            if not ready:  # nobody answered within the hedge: ask the next replica of each waiting shard too
                for index in {owner[future] for future in owner}:
                    if asked[index] < len(self.replicas[index]):
                        owner[calls[index](self._replica(index, start + asked[index]))] = index
                        asked[index] += 1
                continue
            future = ready[0]
            index = owner.pop(future)
            try:
                answer = self._ray.get(future)
            except self._ray.exceptions.RayActorError as error:
                if index in answers or any(owned == index for owned in owner.values()):
                    continue  # another replica of the shard answered or may still answer
                replicas = len(self.replicas[index])
                if asked[index] >= (replicas if replicas == 1 else 2 * replicas):
                    raise UnavailableError(f"every replica of shard {index} is restarting; retry: {error}") from None
                if asked[index] % replicas == 0:  # every replica failed at once: while Ray handles a lost node a
                    time.sleep(READ_RETRY_PAUSE_S)  # living one can be unreachable for a moment; ask each once more
                owner[calls[index](self._replica(index, start + asked[index]))] = index
                asked[index] += 1
                continue
            if index not in answers:
                answers[index] = answer
                for other in [future for future, owned in owner.items() if owned == index]:
                    del owner[other]  # the slower replica's answer is not needed
        return answers

    def read_any(self, call: Callable[[Any], Any]) -> Any:
        """``call`` on one live replica of some shard, a different shard each time (work any shard can do)."""
        return self.read(next(self._turn) % len(self.replicas), call)

    def _replica(self, index: int, turn: int) -> Any:
        replicas = self.replicas[index]
        return replicas[turn % len(replicas)]

    # ------------------------------------------------------------- writes

    def write(self, parts: dict[int, tuple[str, dict[str, Any], str]]) -> list[Any]:
        """Each part (operation, arguments, request id) on its shard's primary, then on its live replicas; the outcomes."""
        deadline = time.monotonic() + self.write_retry_s
        pending = dict(parts)
        written: dict[int, Written] = {}
        while pending:
            calls = {index: self.replicas[index][0].write.remote(*part) for index, part in pending.items()}
            for index, future in calls.items():
                try:
                    written[index] = self._ray.get(future)
                    del pending[index]
                except self._ray.exceptions.RayActorError as error:
                    if time.monotonic() >= deadline:
                        raise UnavailableError(
                            f"shard {index} did not come back within {self.write_retry_s:g}s: {error}"
                        ) from None
            if pending:
                time.sleep(0.2)
        followers = [
            replica.follow.remote(written[index].seq) for index in written for replica in self.replicas[index][1:]
        ]
        self._settle(followers)
        return [written[index].outcome for index in sorted(written)]

    def apply_catalog(self, seq: int) -> Any:
        """Every actor applies the catalog log up to ``seq``; the first shard's outcome (from a live replica).

        When every replica of the first shard is gone, it is asked again (it replays the log when Ray restarts
        it, and remembers the outcome) until ``write_retry_s``: a caller told "unavailable" would retry a
        decision that is logged and applies anyway (a model registered twice).
        """
        futures = [[actor.apply_catalog.remote(seq) for actor in replicas] for replicas in self.replicas]
        first = self._first_outcome(seq, futures[0])
        self._settle([future for replicas in futures[1:] for future in replicas] + futures[0])
        return first

    def _first_outcome(self, seq: int, futures: list[Any]) -> Any:
        deadline = time.monotonic() + self.write_retry_s
        while True:
            for future in futures:
                try:
                    return self._ray.get(future)
                except self._ray.exceptions.RayActorError as error:
                    failure = error
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    f"decision {seq} is logged and will apply, but no replica of shard 0 came back within "
                    f"{self.write_retry_s:g}s to answer it: {failure}"
                ) from None
            time.sleep(0.2)
            futures = [actor.apply_catalog.remote(seq) for actor in self.replicas[0]]

    def _settle(self, futures: list[Any]) -> None:
        """Wait for calls whose answer is not needed; an actor that is gone catches up from the logs when it is back."""
        for future in futures:
            try:
                self._ray.get(future)
            except self._ray.exceptions.RayActorError:
                continue

    # ------------------------------------------------------------ operators

    def status(self) -> list[dict[str, Any]]:
        return list(self._operator_call([actor.status.remote() for actor in self.actors()]))

    def checkpoint(self) -> list[str]:
        keys = self._operator_call([replicas[0].checkpoint.remote() for replicas in self.replicas])
        return [key for key in keys if key is not None]

    def _operator_call(self, futures: list[Any]) -> list[Any]:
        """Every actor's answer; an actor that is restarting is a retriable ``UnavailableError``, as for a read."""
        try:
            return list(self._ray.get(futures))
        except self._ray.exceptions.RayActorError as error:
            raise UnavailableError(f"a shard actor is restarting; ask again: {error}") from None

    def stop(self) -> None:
        """Close every actor's engine, then end the actors (the object store keeps the cluster)."""
        for actor in self.actors():
            try:
                self._ray.get(actor.stop.remote(), timeout=30)
            except Exception:
                pass
            self._ray.kill(actor)
        from ray.util.placement_group import remove_placement_group

        for group in self.groups:
            remove_placement_group(group)
