"""EmbeDB's errors as Milvus ``Status`` messages: the codes pymilvus and the Node SDK branch on.

Milvus answers a failed call in the reply (``status.code`` and the older
``status.error_code``), not as a gRPC error; clients raise ``MilvusException``
with that code and reason. The codes are Milvus's: 100 collection not found
(``has_collection`` answers False on it), 101 / 201 collection / partition
not loaded, 700 index not found, 800 database not found, 1100 invalid
parameter, 1401/1402 not permitted / not authenticated, 2 unavailable (closed or busy:
try again), 5 an internal error.
"""

from __future__ import annotations

from pymilvus.grpc_gen import common_pb2

from embedb.errors import (
    AlreadyExistsError,
    ClosedError,
    CollectionNotFoundError,
    CollectionNotLoadedError,
    DatabaseNotFoundError,
    EmbedbError,
    FailedPreconditionError,
    IndexNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    PartitionNotFoundError,
    PartitionNotLoadedError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)

UNAVAILABLE = 2
INTERNAL = 5
PARAMETER_INVALID = 1100
# (class, Milvus code, legacy error_code); the first class that matches wins, so subclasses come first.
_CODES: tuple[tuple[type[Exception], int, int], ...] = (
    (CollectionNotFoundError, 100, common_pb2.CollectionNotExists),
    (CollectionNotLoadedError, 101, common_pb2.UnexpectedError),
    (PartitionNotLoadedError, 201, common_pb2.UnexpectedError),
    (PartitionNotFoundError, 200, common_pb2.UnexpectedError),
    (DatabaseNotFoundError, 800, common_pb2.UnexpectedError),
    (IndexNotFoundError, 700, common_pb2.IndexNotExist),
    (UnauthenticatedError, 1402, common_pb2.PermissionDenied),
    (PermissionDeniedError, 1401, common_pb2.PermissionDenied),
    (NotFoundError, PARAMETER_INVALID, common_pb2.IllegalArgument),
    (AlreadyExistsError, PARAMETER_INVALID, common_pb2.IllegalArgument),
    (InvalidArgumentError, PARAMETER_INVALID, common_pb2.IllegalArgument),
    (FailedPreconditionError, PARAMETER_INVALID, common_pb2.IllegalArgument),
    # closed (a collection dropped under a write, the server shutting down) or busy: try again
    (ClosedError, UNAVAILABLE, common_pb2.UnexpectedError),
    (UnavailableError, UNAVAILABLE, common_pb2.UnexpectedError),
)


def ok() -> common_pb2.Status:
    return common_pb2.Status()


def error_status(error: Exception) -> common_pb2.Status:
    """The ``Status`` a Milvus server answers for ``error``; the reason keeps EmbeDB's message and error name."""
    code, legacy = next(((c, old) for kind, c, old in _CODES if isinstance(error, kind)), (INTERNAL, common_pb2.UnexpectedError))
    name = error.wire_name if isinstance(error, EmbedbError) else "server_error"
    reason = str(error) if isinstance(error, EmbedbError) else f"internal error ({type(error).__name__}); see the server log"
    return common_pb2.Status(code=code, error_code=legacy, reason=reason, extra_info={"embedb_error": name})
