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
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from embedb.client import Client
from embedb.contract import OPERATIONS
from embedb.display import present
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
from embedb.job_following import JobFollower
from embedb.protocol import Returns, operation, wire

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
_STATUS_ERRORS: dict[int, type[EmbedbError]] = {
    401: UnauthenticatedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


class HttpBackend(Client):
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
        self._jobs = JobFollower(self)

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        if not self._closed:
            self._jobs.stop()  # progress watchers stop at their next poll
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

    # ----------------------------------------------------------- operations

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        """Send an operation to the server; a few need their arguments reshaped first (``_REMOTE``)."""
        special = _REMOTE.get(name)
        if special is not None:
            return present(special(self, arguments))
        for local in OPERATIONS[name].access.local:  # callbacks cannot travel
            arguments.pop(local, None)
        return present(self._call(name, **arguments))

    def _write(self, name: str, arguments: dict[str, Any]) -> Any:
        """insert / upsert: an Arrow table travels as an Arrow IPC stream, anything else as JSON."""
        data = arguments["data"]
        if wire.is_arrow(data):
            if arguments.get("embedding_versions") is None and not arguments.get("partial_update"):
                return self._call_arrow(f"{name}_arrow", arguments["collection_name"], data, arguments["partition_name"])
            arguments = {**arguments, "data": data.to_pydict()}  # the Arrow route takes no options: columns as JSON
        return self._call(name, **arguments)

    def _create_index(self, arguments: dict[str, Any]) -> Any:
        index_params = arguments["index_params"]
        if index_params is not None and not isinstance(index_params, (dict, list)):
            arguments = {**arguments, "index_params": list(index_params)}  # pymilvus IndexParams: a list of dicts
        return self._call("create_index", **arguments)

    def _add_embedding_version(self, arguments: dict[str, Any]) -> Any:
        """Start the job on the server, then follow it here: progress callbacks cannot travel."""
        wait, timeout, progress = arguments.pop("wait"), arguments.pop("timeout"), arguments.pop("progress")
        job = self._call("add_embedding_version", **arguments, wait=False)
        if wait:
            return self._jobs.follow(job["job_id"], timeout=timeout, progress=progress)
        if progress is not None:
            self._jobs.watch(job["job_id"], progress)
        return job

    def _wait_job(self, arguments: dict[str, Any]) -> Any:
        return self._jobs.follow(arguments["job_id"], timeout=arguments["timeout"], progress=None)

    def _register_model(self, arguments: dict[str, Any]) -> Any:
        source = arguments["source"]
        if isinstance(source, Mapping):  # analyzer_params: data, not code, so it travels as it is
            return self._call("register_model", **{**arguments, "source": dict(source)})
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidArgumentError(
                "over HTTP a model is registered from a path on the server, an import path 'pkg.mod:fn', an MLflow URI"
                " or analyzer_params (a dict);"
                f" a {type(source).__name__} object can only be registered embedded"
            )
        return self._call("register_model", **{**arguments, "source": os.fspath(source)})


# Operations whose arguments are reshaped before they travel; every other one is sent as it was called.
_REMOTE: dict[str, Callable[[HttpBackend, dict[str, Any]], Any]] = {
    "insert": lambda client, arguments: client._write("insert", arguments),
    "upsert": lambda client, arguments: client._write("upsert", arguments),
    "create_index": HttpBackend._create_index,
    "add_embedding_version": HttpBackend._add_embedding_version,
    "wait_job": HttpBackend._wait_job,
    "register_model": HttpBackend._register_model,
}


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
