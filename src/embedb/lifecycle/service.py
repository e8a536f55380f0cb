"""The lifecycle of a model-bound field: add a version (backfill), promote, roll back, drop.

Promotion and rollback are one catalog transaction each: the field's serving
version, the model alias the field follows (``minilm@champion``) and the
history entry change together or not at all, so after any crash the alias and
the serving binding agree. Both take milliseconds whatever the collection size:
they move pointers; the vectors and indexes of both versions are already there.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from embedb.errors import FailedPreconditionError, InUseError, InvalidArgumentError
from embedb.lifecycle.backfill import BackfillRunner, JobProgress
from embedb.lifecycle.bindings import (
    EmbeddingBindings,
    EmbeddingVersion,
    EmbeddingVersionState,
    FieldBinding,
    add_version,
    check_fits,
    set_serving,
    set_version_state,
)
from embedb.lifecycle.jobs import JobRecord, JobState, JobTable
from embedb.models import ModelRegistry, parse_model_uri
from embedb.pause_points import PausePoints
from embedb.storage import Catalog, CollectionInfo

_TABLES = """
CREATE TABLE IF NOT EXISTS serving_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    action TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    alias TEXT,
    reason TEXT,
    actor TEXT,
    time REAL NOT NULL
);
"""

IndexCheck = Callable[[CollectionInfo, str], str | None]
"""``check(info, column_key)``: None when the column's index is complete, else why not."""
VersionUsers = Callable[[CollectionInfo, str, str], list[str]]
"""``users(info, field, column_key)``: what still uses an embedding version (e.g. a running experiment)."""
EndExperiments = Callable[[sqlite3.Cursor, CollectionInfo, str, str], list[int]]
"""``end(cursor, info, field, why)``: stop the experiments running on a field inside the caller's transaction."""


class LifecycleService:
    """Embedding versions of model-bound fields: backfill jobs, promotion, rollback, retention."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        registry: ModelRegistry,
        bindings: EmbeddingBindings,
        runner: BackfillRunner,
        jobs: JobTable,
        index_check: IndexCheck,
        drop_column: Callable[[CollectionInfo, str], int],
        collection_by_id: Callable[[int], CollectionInfo],
        version_users: VersionUsers | None = None,
        end_experiments: EndExperiments | None = None,
        pause_points: PausePoints | None = None,
        version_added: Callable[[CollectionInfo, str], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.bindings = bindings
        self.runner = runner
        self.jobs = jobs
        self.index_check = index_check
        self.drop_column = drop_column
        self.collection_by_id = collection_by_id
        self.version_users: VersionUsers = version_users or _no_users
        self.end_experiments: EndExperiments = end_experiments or _end_nothing
        self.pause_points = pause_points or PausePoints()
        # ``version_added(info, column_key)``: a column starts afresh (an index spec left by an earlier life goes).
        self.version_added = version_added or (lambda info, key: None)
        catalog.ensure_tables(_TABLES)

    def binding(self, info: CollectionInfo, field: str) -> FieldBinding:
        """The binding of a model-bound field (cached); raise ``InvalidArgumentError`` for any other field."""
        info.schema.field(field)
        return _bound(self.bindings.fields(info.id, info.schema), info, field)

    def binding_in(self, cursor: sqlite3.Cursor, info: CollectionInfo, field: str) -> FieldBinding:
        """The binding as the caller's transaction sees it: what a transition checks before it commits."""
        info.schema.field(field)
        return _bound(self.bindings.read_in(cursor, info.id, info.schema), info, field)

    # ------------------------------------------------------------- backfill

    def add_embedding_version(
        self, info: CollectionInfo, field: str, model: str, *, progress: JobProgress | None = None
    ) -> JobRecord:
        """Start a backfill of ``field`` with the model version ``model`` names; return the job.

        From the moment this returns, every new write is embedded with both versions.
        Raises ``AlreadyExistsError`` if the field holds that version already, and
        ``PermissionDeniedError`` for a code-bearing model the registry's policy refuses.
        """
        binding = self.binding(info, field)
        version = self.registry.resolve(model)
        self.registry.check_code_allowed(version)
        check_fits(info.schema.field(field), version)
        with self.catalog.transaction() as cursor:
            added = add_version(cursor, info.id, field, version)
            job_id = self.jobs.create(
                cursor,
                collection_id=info.id,
                field=field,
                model_name=added.model_name,
                model_version=added.model_version,
                column_key=added.column_key,
            )
            self.catalog.record_event(cursor, "embedding.add", info.name, field=field, version=added.uri, job=job_id)
            self.pause_points.reach("lifecycle.add.checked")
        self.pause_points.reach("lifecycle.add.committed")
        del binding
        self.bindings.forget(info.id)
        self.version_added(info, added.column_key)
        self.runner.start(job_id, progress)
        return self.jobs.get(job_id)

    def pause(self, job_id: int) -> JobRecord:
        record = self.jobs.get(job_id)
        record.state.check_transition(JobState.PAUSED)
        self.runner.stop(job_id)
        return self.jobs.transition(job_id, JobState.PAUSED)

    def resume(self, job_id: int, *, progress: JobProgress | None = None) -> JobRecord:
        record = self.jobs.get(job_id)
        if record.state is not JobState.RUNNING:
            record.state.check_transition(JobState.RUNNING)
            record = self.jobs.transition(job_id, JobState.RUNNING)
        self.runner.start(job_id, progress)
        return record

    def cancel(self, info: CollectionInfo, job_id: int) -> JobRecord:
        """Stop a job for good, retire its version and drop the vectors it wrote."""
        record = self.jobs.get(job_id)
        record.state.check_transition(JobState.CANCELLED)
        self.runner.stop(job_id)
        with self.catalog.transaction() as cursor:
            set_version_state(cursor, record.collection_id, record.column_key, EmbeddingVersionState.RETIRING)
            cancelled = self.jobs.transition(job_id, JobState.CANCELLED, cursor=cursor)
            self.pause_points.reach("lifecycle.cancel.checked")
        self.bindings.forget(record.collection_id)
        self._retire(info, record.column_key)
        return cancelled

    def stop_collection(self, collection_id: int) -> list[int]:
        """Stop the backfill threads of a collection about to be dropped (its jobs go with it); return their ids.

        Each thread finishes the chunk it is embedding and stops before writing
        anything more, so no thread outlives its collection's store.
        """
        running = [job.id for job in self.jobs.list_jobs(collection_id) if not job.state.finished]
        for job_id in running:
            self.runner.stop(job_id)
        return running

    # ---------------------------------------------------- promote, rollback

    def promote(
        self,
        info: CollectionInfo,
        field: str,
        model: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        index_gaps: dict[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """Serve ``model``'s vectors for ``field`` and move the field's model alias to it, atomically.

        Refused (``FailedPreconditionError``) unless the version's vectors are complete
        (READY) and its index is built. An experiment running on the field is stopped
        in the same transaction (its traffic goes to the new serving version). A caller
        that runs this inside its own catalog transaction passes ``index_gaps`` (see
        ``index_gaps``), read before it began. Returns what moved and how long it took.
        """
        self.binding(info, field)  # a field that is not model-bound fails before any lookup
        model_version = self.registry.resolve(model)
        return self._switch(
            info, field, lambda binding: binding.version(model_version), "promote", reason, actor, index_gaps
        )

    def rollback(
        self, info: CollectionInfo, field: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Go back to the version that served before the last promotion (or rollback); stops a running experiment."""

        def previous(binding: FieldBinding) -> EmbeddingVersion:
            if binding.previous is None or binding.previous.state is EmbeddingVersionState.RETIRED:
                raise FailedPreconditionError(f"field {field!r} has no previous version to roll back to")
            return binding.previous

        return self._switch(info, field, previous, "rollback", reason, actor)

    def index_gaps(self, info: CollectionInfo, field: str) -> dict[str, str | None]:
        """Per READY version of ``field`` (by column key): None when its index is complete, else why not.

        Read before a promotion's catalog transaction, never inside it: the check takes
        the store's and the index layer's locks, and their holders (a write checking its
        versions, a flush, a store being opened) wait for the catalog's lock.
        """
        binding = self.binding(info, field)
        ready = [v for v in binding.versions if v.state is EmbeddingVersionState.READY]
        if binding.tokenized:  # searched through inverted lists made from the text: no index to wait for
            return dict.fromkeys((version.column_key for version in ready), None)
        return {version.column_key: self.index_check(info, version.column_key) for version in ready}

    def _switch(
        self,
        info: CollectionInfo,
        field: str,
        choose: Callable[[FieldBinding], EmbeddingVersion],
        action: str,
        reason: str | None,
        actor: str | None,
        index_gaps: dict[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """Check and commit a serving change in one catalog transaction, against the state that transaction sees."""
        started = time.perf_counter()
        gaps = self.index_gaps(info, field) if index_gaps is None else index_gaps
        with self.catalog.transaction() as cursor:
            binding = self.binding_in(cursor, info, field)
            target = choose(binding)
            if target.state is EmbeddingVersionState.RETIRING:
                raise FailedPreconditionError(f"cannot {action} field {field!r} to {target.uri}: it is being dropped")
            if target.state is not EmbeddingVersionState.READY:
                raise FailedPreconditionError(
                    f"cannot {action} field {field!r} to {target.uri}: its vectors are {target.state.value}, "
                    "not complete (wait for the backfill job)"
                )
            if target.column_key not in gaps:  # it became READY after the index check: rare, and safe to retry
                raise FailedPreconditionError(
                    f"cannot {action} field {field!r} to {target.uri}: it became READY while this {action} was "
                    "being checked; try again"
                )
            missing_index = gaps[target.column_key]
            if missing_index is not None:
                raise FailedPreconditionError(f"cannot {action} field {field!r} to {target.uri}: {missing_index}")
            ref = parse_model_uri(binding.model_ref)
            if ref.alias is not None and ref.name != target.model_name:
                raise FailedPreconditionError(
                    f"field {field!r} follows {binding.model_ref}; only versions of {ref.name!r} can serve it"
                )
            current = binding.serving
            if current.column_key == target.column_key:
                raise FailedPreconditionError(f"{target.uri} already serves field {field!r}")
            self.pause_points.reach(f"lifecycle.{action}.checked")
            set_serving(cursor, info.id, field, target.column_key, current.column_key)
            # A registry alias is shared by every field that follows it: a promotion moves it only when this
            # field is its one follower, so it never changes what another collection's alias names.
            move_alias = ref.alias is not None and not _other_followers(cursor, binding.model_ref, info.id, field)
            if move_alias:
                assert ref.alias is not None
                self.registry.set_alias(
                    ref.name, ref.alias, target.model_version, actor=actor, reason=reason or action, cursor=cursor
                )
            cursor.execute(
                "INSERT INTO serving_history (collection_id, field, action, from_version, to_version, alias, reason, actor, time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (info.id, field, action, current.uri, target.uri, binding.model_ref, reason, actor, time.time()),
            )
            self.catalog.record_event(cursor, f"embedding.{action}", info.name, field=field, to=target.uri)
            why = f"{action} of field {field!r} to {target.uri}" + (f": {reason}" if reason else "")
            self.end_experiments(cursor, info, field, why)
        # Committed, unless a caller's transaction holds this one (promote_experiment commits it later).
        self.pause_points.reach(f"lifecycle.{action}.committed")
        self.bindings.forget(info.id)
        return {
            "collection_name": info.name,
            "field": field,
            "action": action,
            "from_version": current.uri,
            "to_version": target.uri,
            "alias": binding.model_ref if move_alias else None,
            "elapsed_ms": (time.perf_counter() - started) * 1000.0,
        }

    def serving_history(self, info: CollectionInfo, field: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM serving_history WHERE collection_id = ?"
        params: tuple[Any, ...] = (info.id,)
        if field is not None:
            sql += " AND field = ?"
            params = (info.id, field)
        rows = self.catalog.query(sql + " ORDER BY id", params)
        return [
            {
                "field": r["field"],
                "action": r["action"],
                "from_version": r["from_version"],
                "to_version": r["to_version"],
                "alias": r["alias"],
                "reason": r["reason"],
                "actor": r["actor"],
                "time": r["time"],
            }
            for r in rows
        ]

    # ------------------------------------------------------------ retention

    def drop_embedding_version(self, info: CollectionInfo, field: str, model: str) -> dict[str, Any]:
        """Delete one version's vectors and indexes; refused while it serves or anything uses it.

        The checks and the retirement are one catalog transaction, so a promotion
        or an experiment that commits first is seen, and one that commits later
        finds the version retired.
        """
        self.binding(info, field)
        model_version = self.registry.resolve(model)
        with self.catalog.transaction() as cursor:
            binding = self.binding_in(cursor, info, field)
            target = binding.version(model_version)
            users = []
            if target.column_key == binding.serving_key:
                users.append("it serves the field")
            if target.column_key == binding.previous_key:
                users.append("it is the rollback target")
            aliases = self.registry.get_version(target.model_name, target.model_version).aliases
            users.extend(f"model alias {target.model_name}@{alias}" for alias in aliases)
            users.extend(self.version_users(info, field, target.column_key))
            running = [
                j.id for j in self.jobs.list_jobs(info.id) if j.column_key == target.column_key and not j.state.finished
            ]
            users.extend(f"backfill job {job_id}" for job_id in running)
            if users:
                raise InUseError(f"cannot drop {target.uri} from field {field!r}: {'; '.join(users)}", users=users)
            self.pause_points.reach("lifecycle.drop.checked")
            set_version_state(cursor, info.id, target.column_key, EmbeddingVersionState.RETIRING)
            self.catalog.record_event(cursor, "embedding.drop", info.name, field=field, version=target.uri)
        self.bindings.forget(info.id)
        segments = self._retire(info, target.column_key)
        return {"collection_name": info.name, "field": field, "dropped_version": target.uri, "segments": segments}

    def _retire(self, info: CollectionInfo, key: str) -> int:
        """Delete a RETIRING version's vectors and indexes, then record it RETIRED; return the segments it was in.

        Each step can be repeated: a crash anywhere leaves the version RETIRING, and
        ``finish_retirements`` (on the next writable open) or a retried drop finishes it.
        """
        self.pause_points.reach("lifecycle.retire.before_files")
        segments = self.drop_column(info, key)
        self.pause_points.reach("lifecycle.retire.files_dropped")
        with self.catalog.transaction() as cursor:
            set_version_state(cursor, info.id, key, EmbeddingVersionState.RETIRED)
        self.bindings.forget(info.id)
        return segments

    def finish_retirements(self) -> list[str]:
        """Finish every drop or cancel a crash interrupted (versions left RETIRING); return their column keys."""
        rows = self.catalog.query(
            "SELECT collection_id, column_key FROM embedding_versions WHERE state = ?",
            (EmbeddingVersionState.RETIRING.value,),
        )
        finished = []
        for row in rows:
            info = self.collection_by_id(int(row["collection_id"]))
            self._retire(info, row["column_key"])
            finished.append(row["column_key"])
        return finished


def _other_followers(cursor: sqlite3.Cursor, model_ref: str, collection_id: int, field: str) -> list[str]:
    """The other (collection, field) pairs whose vector field follows the model reference ``model_ref``."""
    followers = []
    for row in cursor.execute("SELECT id, name, schema FROM collections").fetchall():
        for entry in json.loads(row["schema"]).get("fields", []):
            if entry.get("model") == model_ref and (int(row["id"]), entry.get("name")) != (collection_id, field):
                followers.append(f"{row['name']}.{entry.get('name')}")
    return followers


def _bound(bindings: dict[str, FieldBinding], info: CollectionInfo, field: str) -> FieldBinding:
    binding = bindings.get(field)
    if binding is None:
        raise InvalidArgumentError(f"field {field!r} of {info.name!r} is not bound to a model (no source/model)")
    return binding


def _end_nothing(cursor: sqlite3.Cursor, info: CollectionInfo, field: str, why: str) -> list[int]:
    return []


def _no_users(info: CollectionInfo, field: str, key: str) -> list[str]:
    return []
