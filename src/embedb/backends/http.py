"""``HttpBackend``: the ``Backend`` contract over the REST API of ``embedb serve``.

Every method is one ``POST`` whose path comes from the protocol's operation
table (``embedb.protocol.OPERATIONS``), so client and server cannot disagree on
routes. NumPy arrays travel packed (base64, exact bits), Arrow tables as an
Arrow IPC stream, and reads ask for packed vectors and unpack them into the
lists the embedded backend returns. An error response is raised as the class
its wire name names, so ``except CollectionNotFoundError`` works the same
embedded and remote. The ``httpx.Client`` keeps connections alive and may be
shared by threads.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from embedb.backends import Backend, SearchHits
from embedb.errors import (
    ClosedError,
    EmbedbError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServerError,
    UnauthenticatedError,
    UnavailableError,
    error_from_wire,
)
from embedb.protocol import Returns, operation, wire
from embedb.schema import CollectionSchema

DEFAULT_TIMEOUT_S = 60.0
JOB_POLL_S = 0.25
log = logging.getLogger(__name__)
_STATUS_ERRORS: dict[int, type[EmbedbError]] = {
    401: UnauthenticatedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


class HttpBackend(Backend):
    """A connection to an EmbeDB server (``embedb serve``) at ``uri``."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        verify: bool | str = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "embedb-python"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.uri = uri.rstrip("/")
        tls: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self._client = httpx.Client(
            base_url=self.uri, headers=headers, timeout=timeout, verify=tls, transport=transport
        )
        self._closed = False
        self._stopping = threading.Event()
        self._watchers: list[threading.Thread] = []

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        if not self._closed:
            self._stopping.set()  # progress watchers stop at their next poll
            for watcher in self._watchers:
                watcher.join()
            self._closed = True
            self._client.close()

    def _call(self, operation_id: str, /, **arguments: Any) -> Any:
        """POST the arguments to the operation's route; return its result or raise its typed error."""
        spec = operation(operation_id)
        body = wire.dumps({name: wire.to_wire(value) for name, value in arguments.items()})
        params = {"vector_encoding": "base64"} if spec.returns is not Returns.PLAIN else None
        response = self._post(spec.path, content=body, params=params, headers={"Content-Type": "application/json"})
        result = self._result(response)
        return wire.unpack_to_lists(result) if params else result

    def _call_arrow(self, operation_id: str, collection_name: str, data: Any, partition_name: str | None) -> Any:
        spec = operation(operation_id)
        params = {"collection_name": collection_name}
        if partition_name is not None:
            params["partition_name"] = partition_name
        body = wire.write_arrow_stream(data)
        return self._result(
            self._post(spec.path, content=body, params=params, headers={"Content-Type": wire.ARROW_STREAM})
        )

    def _post(self, path: str, **request: Any) -> httpx.Response:
        if self._closed:
            raise ClosedError("this EmbeDB client is closed")
        try:
            return self._client.post(path, **request)
        except httpx.TransportError as error:
            raise UnavailableError(f"cannot reach the EmbeDB server at {self.uri}: {error}") from error

    @staticmethod
    def _result(response: httpx.Response) -> Any:
        try:
            payload = wire.loads(response.content) if response.content else None
        except ValueError:
            payload = None
        if response.status_code >= 400:
            raise _error_of(response.status_code, payload, response.text)
        if not isinstance(payload, dict) or "result" not in payload:
            raise ServerError(
                f"unexpected response from the server (status {response.status_code}): {response.text[:200]}"
            )
        return payload["result"]

    # ---------------------------------------------------------- collections

    def create_collection(
        self,
        collection_name: str,
        dimension: int | None = None,
        *,
        primary_field_name: str = "id",
        id_type: str = "int",
        vector_field_name: str = "vector",
        metric_type: str = "COSINE",
        auto_id: bool = False,
        max_length: int | None = None,
        enable_dynamic_field: bool = True,
        schema: CollectionSchema | dict[str, Any] | None = None,
        index_params: Any = None,
        description: str = "",
    ) -> None:
        self._call(
            "create_collection",
            collection_name=collection_name,
            dimension=dimension,
            primary_field_name=primary_field_name,
            id_type=id_type,
            vector_field_name=vector_field_name,
            metric_type=metric_type,
            auto_id=auto_id,
            max_length=max_length,
            enable_dynamic_field=enable_dynamic_field,
            schema=schema,
            index_params=index_params,
            description=description,
        )

    def list_collections(self) -> list[str]:
        return list(self._call("list_collections"))

    def has_collection(self, collection_name: str) -> bool:
        return bool(self._call("has_collection", collection_name=collection_name))

    def describe_collection(self, collection_name: str) -> dict[str, Any]:
        return dict(self._call("describe_collection", collection_name=collection_name))

    def drop_collection(self, collection_name: str) -> None:
        self._call("drop_collection", collection_name=collection_name)

    def rename_collection(self, old_name: str, new_name: str) -> None:
        self._call("rename_collection", old_name=old_name, new_name=new_name)

    def get_collection_stats(self, collection_name: str) -> dict[str, Any]:
        return dict(self._call("get_collection_stats", collection_name=collection_name))

    # ----------------------------------------------------------- partitions

    def create_partition(self, collection_name: str, partition_name: str) -> None:
        self._call("create_partition", collection_name=collection_name, partition_name=partition_name)

    def drop_partition(self, collection_name: str, partition_name: str) -> None:
        self._call("drop_partition", collection_name=collection_name, partition_name=partition_name)

    def has_partition(self, collection_name: str, partition_name: str) -> bool:
        return bool(self._call("has_partition", collection_name=collection_name, partition_name=partition_name))

    def list_partitions(self, collection_name: str) -> list[str]:
        return list(self._call("list_partitions", collection_name=collection_name))

    # -------------------------------------------------------------- aliases

    def create_alias(self, collection_name: str, alias: str) -> None:
        self._call("create_alias", collection_name=collection_name, alias=alias)

    def alter_alias(self, collection_name: str, alias: str) -> None:
        self._call("alter_alias", collection_name=collection_name, alias=alias)

    def drop_alias(self, alias: str) -> None:
        self._call("drop_alias", alias=alias)

    def list_aliases(self, collection_name: str | None = None) -> dict[str, Any]:
        return dict(self._call("list_aliases", collection_name=collection_name))

    def describe_alias(self, alias: str) -> dict[str, Any]:
        return dict(self._call("describe_alias", alias=alias))

    # ----------------------------------------------------------------- data

    def insert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._write("insert", collection_name, data, partition_name, embedding_versions)

    def upsert(
        self,
        collection_name: str,
        data: Any,
        *,
        partition_name: str | None = None,
        embedding_versions: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self._write("upsert", collection_name, data, partition_name, embedding_versions)

    def _write(
        self,
        operation_id: str,
        collection_name: str,
        data: Any,
        partition_name: str | None,
        versions: dict[str, str] | None,
    ) -> dict[str, Any]:
        if wire.is_arrow(data):
            if versions is None:
                return dict(self._call_arrow(f"{operation_id}_arrow", collection_name, data, partition_name))
            data = data.to_pydict()  # the Arrow route takes no options: send columns as JSON
        return dict(
            self._call(
                operation_id,
                collection_name=collection_name,
                data=data,
                partition_name=partition_name,
                embedding_versions=versions,
            )
        )

    def delete(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any | None = None,
        *,
        filter: str | None = None,
        partition_name: str | None = None,
    ) -> dict[str, Any]:
        return dict(
            self._call("delete", collection_name=collection_name, ids=ids, filter=filter, partition_name=partition_name)
        )

    def get(
        self,
        collection_name: str,
        ids: Sequence[Any] | Any,
        *,
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        return list(
            self._call(
                "get",
                collection_name=collection_name,
                ids=ids,
                output_fields=output_fields,
                partition_names=partition_names,
            )
        )

    def query(
        self,
        collection_name: str,
        filter: str = "",
        *,
        output_fields: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
        partition_names: Sequence[str] | None = None,
        ids: Sequence[Any] | None = None,
        filter_params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return list(
            self._call(
                "query",
                collection_name=collection_name,
                filter=filter,
                output_fields=output_fields,
                limit=limit,
                offset=offset,
                partition_names=partition_names,
                ids=ids,
                filter_params=filter_params,
            )
        )

    def search(
        self,
        collection_name: str,
        data: Any,
        *,
        filter: str = "",
        limit: int = 10,
        offset: int = 0,
        output_fields: Sequence[str] | None = None,
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        partition_names: Sequence[str] | None = None,
        filter_params: dict[str, Any] | None = None,
        group_by_field: str | None = None,
        group_size: int | None = None,
        strict_group_size: bool | None = None,
        embedding_version: str | None = None,
        user_key: str | None = None,
    ) -> SearchHits:
        return list(
            self._call(
                "search",
                collection_name=collection_name,
                data=data,
                filter=filter,
                limit=limit,
                offset=offset,
                output_fields=output_fields,
                search_params=search_params,
                anns_field=anns_field,
                partition_names=partition_names,
                filter_params=filter_params,
                group_by_field=group_by_field,
                group_size=group_size,
                strict_group_size=strict_group_size,
                embedding_version=embedding_version,
                user_key=user_key,
            )
        )

    def flush(self, collection_name: str) -> None:
        self._call("flush", collection_name=collection_name)

    def compact(self, collection_name: str) -> dict[str, Any]:
        return dict(self._call("compact", collection_name=collection_name))

    # -------------------------------------------------------------- indexes

    def create_index(
        self,
        collection_name: str,
        index_params: Any = None,
        *,
        field_name: str | None = None,
        index_type: str | None = None,
        metric_type: str | None = None,
        params: dict[str, Any] | None = None,
        index_name: str | None = None,
        sync: bool = True,
        timeout: float | None = None,
    ) -> None:
        if index_params is not None and not isinstance(index_params, (dict, list)):
            index_params = list(index_params)  # pymilvus IndexParams: a list of dicts on the wire
        self._call(
            "create_index",
            collection_name=collection_name,
            index_params=index_params,
            field_name=field_name,
            index_type=index_type,
            metric_type=metric_type,
            params=params,
            index_name=index_name,
            sync=sync,
            timeout=timeout,
        )

    def list_indexes(self, collection_name: str, field_name: str | None = None) -> list[str]:
        return list(self._call("list_indexes", collection_name=collection_name, field_name=field_name))

    def describe_index(self, collection_name: str, index_name: str) -> dict[str, Any]:
        return dict(self._call("describe_index", collection_name=collection_name, index_name=index_name))

    def drop_index(self, collection_name: str, index_name: str) -> None:
        self._call("drop_index", collection_name=collection_name, index_name=index_name)

    # --------------------------------------------- embedding versions, jobs

    def add_embedding_version(
        self,
        collection_name: str,
        field_name: str,
        model: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, Any]:
        job = dict(
            self._call(
                "add_embedding_version", collection_name=collection_name, field_name=field_name, model=model, wait=False
            )
        )
        if wait:
            return self._follow_job(job["job_id"], timeout=timeout, progress=progress)
        if progress is not None:  # as embedded: reported while the job runs, though nobody waits
            watcher = threading.Thread(
                target=self._report_progress,
                args=(job["job_id"], progress),
                name=f"embedb-job-progress-{job['job_id']}",
                daemon=True,
            )
            self._watchers = [w for w in self._watchers if w.is_alive()] + [watcher]
            watcher.start()
        return job

    def _report_progress(self, job_id: int, progress: Callable[[int, int], None]) -> None:
        """Follow a job in the background for its progress callback; stops when the job or the client does."""

        def report(done: int, total: int) -> None:
            try:
                progress(done, total)
            except Exception:  # a broken progress bar must not stop following (the job runs on the server)
                log.exception("the progress callback of job %s failed", job_id)

        try:
            self._follow_job(job_id, timeout=None, progress=report)
        except EmbedbError:  # the server went away: nothing left to report
            return

    def _follow_job(
        self, job_id: int, *, timeout: float | None, progress: Callable[[int, int], None] | None
    ) -> dict[str, Any]:
        """Poll a job until it stops running, reporting progress; one request at most every poll interval."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if progress is not None:
                progress(int(job["rows_done"]), int(job["rows_total"]))
            if job["state"] not in ("PENDING", "RUNNING") or (deadline is not None and time.monotonic() >= deadline):
                return job
            if self._stopping.wait(JOB_POLL_S):
                return job

    def drop_embedding_version(self, collection_name: str, field_name: str, model: str) -> dict[str, Any]:
        return dict(
            self._call("drop_embedding_version", collection_name=collection_name, field_name=field_name, model=model)
        )

    def list_jobs(self, collection_name: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("list_jobs", collection_name=collection_name))

    def get_job(self, job_id: int) -> dict[str, Any]:
        return dict(self._call("get_job", job_id=job_id))

    def wait_job(self, job_id: int, *, timeout: float | None = None) -> dict[str, Any]:
        return self._follow_job(job_id, timeout=timeout, progress=None)

    def pause_job(self, job_id: int) -> dict[str, Any]:
        return dict(self._call("pause_job", job_id=job_id))

    def resume_job(self, job_id: int) -> dict[str, Any]:
        return dict(self._call("resume_job", job_id=job_id))

    def cancel_job(self, job_id: int) -> dict[str, Any]:
        return dict(self._call("cancel_job", job_id=job_id))

    def promote(
        self, collection_name: str, field_name: str, model: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        return dict(
            self._call(
                "promote",
                collection_name=collection_name,
                field_name=field_name,
                model=model,
                reason=reason,
                actor=actor,
            )
        )

    def rollback(
        self, collection_name: str, field_name: str, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        return dict(
            self._call("rollback", collection_name=collection_name, field_name=field_name, reason=reason, actor=actor)
        )

    def serving_history(self, collection_name: str, field_name: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("serving_history", collection_name=collection_name, field_name=field_name))

    # ------------------------------------------------------- model registry

    def register_model(
        self,
        name: str,
        source: Any,
        *,
        flavor: str | None = None,
        alias: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        lineage: dict[str, Any] | None = None,
        actor: str | None = None,
        dimension: int | None = None,
        metric: str | None = None,
        normalize: bool | None = None,
    ) -> dict[str, Any]:
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidArgumentError(
                "over HTTP a model is registered from a path on the server, an import path 'pkg.mod:fn' or an MLflow URI;"
                f" a {type(source).__name__} object can only be registered embedded"
            )
        return dict(
            self._call(
                "register_model",
                name=name,
                source=os.fspath(source),
                flavor=flavor,
                alias=alias,
                tags=tags,
                description=description,
                params=params,
                metrics=metrics,
                lineage=lineage,
                actor=actor,
                dimension=dimension,
                metric=metric,
                normalize=normalize,
            )
        )

    def list_models(self) -> list[dict[str, Any]]:
        return list(self._call("list_models"))

    def describe_model(self, name: str) -> dict[str, Any]:
        return dict(self._call("describe_model", name=name))

    def list_model_versions(self, name: str) -> list[dict[str, Any]]:
        return list(self._call("list_model_versions", name=name))

    def describe_model_version(self, model: str) -> dict[str, Any]:
        return dict(self._call("describe_model_version", model=model))

    def set_model_alias(
        self, name: str, alias: str, version: int, *, actor: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        return dict(self._call("set_model_alias", name=name, alias=alias, version=version, actor=actor, reason=reason))

    def delete_model_alias(self, name: str, alias: str, *, actor: str | None = None, reason: str | None = None) -> None:
        self._call("delete_model_alias", name=name, alias=alias, actor=actor, reason=reason)

    def model_alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("model_alias_history", name=name, alias=alias))

    def set_model_tag(self, name: str, key: str, value: str, *, version: int | None = None) -> None:
        self._call("set_model_tag", name=name, key=key, value=value, version=version)

    def delete_model_version(self, name: str, version: int) -> dict[str, Any]:
        return dict(self._call("delete_model_version", name=name, version=version))

    # --------------------------------------------- experiments, evaluation

    def start_experiment(
        self,
        collection_name: str,
        field_name: str,
        *,
        champion: str,
        challenger: str,
        mode: str,
        split: float = 0.5,
        k: int = 10,
        alpha: float = 0.05,
        sequential: bool = True,
        horizon: int | None = None,
    ) -> dict[str, Any]:
        return dict(
            self._call(
                "start_experiment",
                collection_name=collection_name,
                field_name=field_name,
                champion=champion,
                challenger=challenger,
                mode=mode,
                split=split,
                k=k,
                alpha=alpha,
                sequential=sequential,
                horizon=horizon,
            )
        )

    def get_experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._call("get_experiment", experiment_id=experiment_id))

    def list_experiments(self, collection_name: str | None = None) -> list[dict[str, Any]]:
        return list(self._call("list_experiments", collection_name=collection_name))

    def experiment_report(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._call("experiment_report", experiment_id=experiment_id))

    def stop_experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._call("stop_experiment", experiment_id=experiment_id))

    def promote_experiment(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        return dict(self._call("promote_experiment", experiment_id=experiment_id, reason=reason, actor=actor))

    def feedback(
        self, collection_name: str, query_id: str, doc_id: Any, *, kind: str = "click", relevance: float | None = None
    ) -> dict[str, Any]:
        return dict(
            self._call(
                "feedback",
                collection_name=collection_name,
                query_id=query_id,
                doc_id=doc_id,
                kind=kind,
                relevance=relevance,
            )
        )

    def evaluate(
        self,
        collection_name: str,
        field_name: str,
        *,
        queries: dict[str, str],
        qrels: dict[str, dict[str, float]],
        versions: list[str] | None = None,
        k: int = 10,
        baseline: str | None = None,
        candidate: str | None = None,
        metric: str = "ndcg@10",
        min_delta: float = 0.0,
        ann_check: bool = True,
    ) -> dict[str, Any]:
        return dict(
            self._call(
                "evaluate",
                collection_name=collection_name,
                field_name=field_name,
                queries=queries,
                qrels=qrels,
                versions=versions,
                k=k,
                baseline=baseline,
                candidate=candidate,
                metric=metric,
                min_delta=min_delta,
                ann_check=ann_check,
            )
        )


def _error_of(status: int, payload: Any, text: str) -> EmbedbError:
    """The typed error an error response carries (by wire name), or one chosen from the status."""
    body = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(body, dict) and isinstance(body.get("wire_name"), str):
        details = body.get("details")
        return error_from_wire(
            body["wire_name"], str(body.get("message", "")), details if isinstance(details, dict) else None
        )
    cls = _STATUS_ERRORS.get(status, ServerError)
    return cls(f"HTTP {status} from the server: {text[:200]}")
