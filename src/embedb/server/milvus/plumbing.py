"""What every Milvus RPC handler shares: the caller, the database it addresses, and failures as statuses.

``RpcBase._serve`` authenticates the caller (the ``authorization`` metadata
carries an EmbeDB token), picks the database (``embedb.databases``), runs the
handler's work with a ``Call`` and answers any failure in the reply's
``status`` (``embedb.server.milvus.status``), as a Milvus server does.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import grpc
from pymilvus.grpc_gen import common_pb2, milvus_pb2_grpc

from embedb.contract import Backend
from embedb.databases import DEFAULT_DATABASE, Databases
from embedb.errors import EmbedbError, InvalidArgumentError, PermissionDeniedError, UnauthenticatedError
from embedb.protocol import operation
from embedb.schema import CollectionSchema
from embedb.server.auth import Authorizer, Principal, TokenStore, attribute_actor
from embedb.server.milvus.status import error_status, ok

log = logging.getLogger("embedb.server")

Reply = TypeVar("Reply")


def pairs(pairs: Sequence[common_pb2.KeyValuePair]) -> dict[str, str]:
    return {pair.key: pair.value for pair in pairs}


def json_value(text: str) -> Any:
    """A value pymilvus sent as text: JSON (numbers, objects, lists) or, failing that, the text itself."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidArgumentError(f"a parameter nests too deep to read: {text[:40]!r}...") from None
    except ValueError:
        return text


def flag(text: str | None) -> bool | None:
    """pymilvus sends booleans as ``str(value)``: ``"True"`` / ``"False"``."""
    if text is None:
        return None
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0", ""):
        return False
    raise InvalidArgumentError(f"expected a boolean, got {text!r}")


def integer(params: dict[str, str], key: str, default: int | None) -> int | None:
    text = params.get(key)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"{key} must be an integer, got {text!r}", argument=key) from None


def hybrid_now() -> int:
    return time.time_ns() // 1_000_000 << 18


class Call:
    """One RPC: who calls, and the database (a ``Backend``) it addresses."""

    def __init__(self, principal: Principal, backend: Backend, authorizer: Authorizer) -> None:
        self.principal = principal
        self.backend = backend
        self._authorizer = authorizer

    def authorize(self, method: str, arguments: dict[str, Any]) -> None:
        """Check the caller's role and collection scope for one contract operation (as the REST server does)."""
        spec = operation(method)
        self._authorizer.check(self.principal, spec, arguments)
        attribute_actor(self.principal, spec, arguments)

    def run(self, method: str, **arguments: Any) -> Any:
        """Authorize and run one contract operation."""
        self.authorize(method, arguments)
        return getattr(self.backend, method)(**arguments)

    def schema(self, collection_name: str) -> CollectionSchema:
        """A collection's schema (call only after the caller was authorized for it)."""
        description = self.backend.describe_collection(collection_name)
        return CollectionSchema.from_dict({"fields": description["fields"], "enable_dynamic_field": description["enable_dynamic_field"]})


class RpcBase(milvus_pb2_grpc.MilvusServiceServicer):
    """The servicer's state and plumbing; the handlers are in ``admin_rpcs`` and ``data_rpcs``."""

    def __init__(self, databases: Databases, tokens: TokenStore | None) -> None:
        self._databases = databases
        self._tokens = tokens
        self._authorizers: dict[int, Authorizer] = {}
        self._compactions: dict[int, str] = {}
        self._next_compaction = itertools.count(int(time.time() * 1000) << 8)

    # ------------------------------------------------------------ plumbing

    def _principal(self, metadata: dict[str, Any]) -> Principal:
        """The caller, from the ``authorization`` metadata pymilvus and the Node SDK send (base64 of the token)."""
        if self._tokens is None:
            return Principal.open_access()
        header = metadata.get("authorization")
        if not isinstance(header, str) or not header:
            raise UnauthenticatedError("this server needs an API token: MilvusClient(uri, token='edb_...')")
        try:
            token = base64.b64decode(header, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UnauthenticatedError("the authorization metadata is not base64 of a token") from None
        # user:password credentials carry the token as the password (the user names nobody).
        user, colon, password = token.partition(":")
        return self._tokens.authenticate(f"Bearer {password if colon else user}")

    def _call(self, request: Any, context: grpc.ServicerContext, database: str | None) -> Call:
        """The caller and the database it addresses: ``database``, else the request's ``db_name``, else the ``dbname`` metadata."""
        metadata = dict(context.invocation_metadata())
        principal = self._principal(metadata)
        database = database or getattr(request, "db_name", "") or metadata.get("dbname") or DEFAULT_DATABASE
        if not isinstance(database, str):
            raise InvalidArgumentError("the dbname metadata must be text")
        if database != DEFAULT_DATABASE and principal.collections is not None:
            raise PermissionDeniedError(
                f"token {principal.token_id} is limited to collections of the default database; {database!r} needs a global token"
            )
        backend = self._databases.get(database)
        authorizer = self._authorizers.get(id(backend))
        if authorizer is None:
            authorizer = self._authorizers[id(backend)] = Authorizer(backend)
        return Call(principal, backend, authorizer)

    def _serve(
        self, request: Any, context: grpc.ServicerContext, reply_type: type[Reply], work: Callable[[Call], Reply], *, database: str | None = None
    ) -> Reply:
        """Run ``work`` for the authenticated caller; any failure becomes the reply's status."""
        try:
            return work(self._call(request, context, database))
        except Exception as error:
            if not isinstance(error, EmbedbError):
                log.exception("Milvus gRPC call failed")
            status = error_status(error)
            if reply_type is common_pb2.Status:
                return status
            return reply_type(status=status)  # type: ignore[call-arg]

    def _status(
        self, request: Any, context: grpc.ServicerContext, work: Callable[[Call], object], *, database: str | None = None
    ) -> common_pb2.Status:
        """For RPCs whose reply is a bare ``Status``."""

        def run(call: Call) -> common_pb2.Status:
            work(call)
            return ok()

        return self._serve(request, context, common_pb2.Status, run, database=database)
