"""Before a decision that reads shard-local progress is logged, the shards must agree on that progress.

A backfill runs on every shard at once and can end differently on each (a
model that fails on one shard's rows); an index builds at each shard's pace.
A decision that reads that state — promote, rollback, dropping a version,
starting or promoting an experiment, pausing, resuming or cancelling a job —
would then succeed on some shards and fail on others, and the shards would
serve different versions. So the router first waits for the collection's
backfills and index builds, then asks every shard for the state the decision
reads and refuses, with ``FailedPreconditionError`` and nothing logged, when
they differ (``require_agreement``). When they agree every shard meets the
decision alike: it succeeds everywhere or fails everywhere with one node's error.

Dropping a version is the way out of a disagreement, so it is never refused
for one: once the collection's jobs have stopped, a version that is not
serving drops alike whether a shard's part of its backfill ended DONE or
FAILED, and the shards agree again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedb.errors import EmbedbError, FailedPreconditionError

Every = Callable[[str, dict[str, Any]], list[Any]]

JOB_CONTROLS = frozenset({"pause_job", "resume_job", "cancel_job"})
# Decisions that bring disagreeing shards back into line: they apply alike whatever each shard's part became.
REPAIRS = frozenset({"drop_embedding_version"})


def version_states(description: dict[str, Any]) -> dict[str, list[tuple[str, str, bool]]]:
    """Per bound field, each version's (URI, state, serving): what a promotion or a drop reads."""
    return {
        field: [(str(v["model_version"]), str(v["state"]), bool(v.get("serving"))) for v in versions]
        for field, versions in (description.get("embedding_versions") or {}).items()
    }


def require_agreement(name: str, arguments: dict[str, Any], every: Every, collection_name: str | None) -> None:
    """Raise ``FailedPreconditionError`` if the shards disagree on what decision ``name`` reads."""
    if name in REPAIRS:
        return
    if name in JOB_CONTROLS:
        try:
            parts = every("get_job", {"job_id": arguments["job_id"]})
        except EmbedbError:
            return  # the decision itself raises one node's error (an unknown job)
        states = {str(part["state"]) for part in parts}
        if len(states) > 1:
            by_state = {
                state: [i for i, part in enumerate(parts) if part["state"] == state] for state in sorted(states)
            }
            raise FailedPreconditionError(
                f"job {arguments['job_id']} is {', '.join(f'{s} on shard(s) {i}' for s, i in by_state.items())}: "
                "on a cluster a job is paused, resumed or cancelled when every shard's part is in one state; "
                "wait for it (wait_job) or drop its version (drop_embedding_version)"
            )
        return
    if collection_name is None:
        return
    try:
        descriptions = every("describe_collection", {"collection_name": collection_name})
    except EmbedbError:
        return
    held = [version_states(description) for description in descriptions]
    if any(state != held[0] for state in held[1:]):
        raise FailedPreconditionError(
            f"the shards of {collection_name!r} disagree on its embedding versions "
            f"({'; '.join(f'shard {i}: {state}' for i, state in enumerate(held))}): "
            "a backfill ended differently on some shards; drop and add the version again"
        )
