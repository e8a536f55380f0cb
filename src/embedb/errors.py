"""The one exception tree of EmbeDB.

Every error EmbeDB raises on purpose is an ``EmbedbError``. Each class also
inherits the builtin it is closest to, so ``except KeyError`` keeps working for
callers that do not know EmbeDB, and carries the HTTP status and the wire name
that the server puts in an error response (the HTTP client maps the wire name
back to the class, so embedded and server raise the same thing)::

    EmbedbError
    ├── InvalidArgumentError (ValueError)           400 invalid_argument
    │   ├── SchemaError                             400 schema_error
    │   │   └── UnsupportedTypeError (AttributeError) 400 unsupported_type
    │   ├── DataError                               400 data_error
    │   │   └── DimensionMismatchError              400 dimension_mismatch
    │   ├── FilterError                             400 filter_error
    │   │   └── FilterSyntaxError                   400 filter_syntax_error
    │   └── InvalidNameError                        400 invalid_name
    ├── NotFoundError (KeyError)                    404 not_found
    │   ├── CollectionNotFoundError                 404 collection_not_found
    │   ├── DatabaseNotFoundError                   404 database_not_found
    │   ├── PartitionNotFoundError                  404 partition_not_found
    │   ├── AliasNotFoundError                      404 alias_not_found
    │   ├── FieldNotFoundError                      404 field_not_found
    │   ├── IndexNotFoundError                      404 index_not_found
    │   ├── ModelNotFoundError                      404 model_not_found
    │   ├── ModelVersionNotFoundError               404 model_version_not_found
    │   ├── ExperimentNotFoundError                 404 experiment_not_found
    │   └── JobNotFoundError                        404 job_not_found
    ├── AlreadyExistsError                          409 already_exists
    │   ├── CollectionAlreadyExistsError            409 collection_already_exists
    │   ├── PartitionAlreadyExistsError             409 partition_already_exists
    │   ├── AliasAlreadyExistsError                 409 alias_already_exists
    │   ├── IndexAlreadyExistsError                 409 index_already_exists
    │   ├── ModelAlreadyExistsError                 409 model_already_exists
    │   ├── DatabaseAlreadyExistsError              409 database_already_exists
    │   └── DuplicateKeyError                       409 duplicate_key
    ├── FailedPreconditionError                     412 failed_precondition
    │   ├── InvalidStateError                       412 invalid_state
    │   ├── InUseError                              412 in_use
    │   ├── CollectionNotLoadedError                412 collection_not_loaded
    │   └── PartitionNotLoadedError                 412 partition_not_loaded
    ├── PermissionDeniedError (PermissionError)     403 permission_denied
    ├── UnauthenticatedError (PermissionError)      401 unauthenticated
    ├── PayloadTooLargeError                        413 payload_too_large
    ├── StorageError (OSError)                      500 storage_error
    │   ├── CorruptionError                         500 corruption
    │   ├── DirectoryLockedError                    423 directory_locked
    │   ├── ReadOnlyError                           409 read_only
    │   └── FormatVersionError                      500 format_version
    ├── ModelError                                  500 model_error
    │   └── ArtifactIntegrityError                  500 artifact_integrity
    ├── ClosedError                                 409 closed
    ├── UnavailableError (ConnectionError)          503 unavailable
    ├── UnsupportedError (NotImplementedError)      501 unsupported
    └── ServerError                                 500 server_error

``WIRE_NAMES`` maps each wire name to its class; it is derived from the classes,
never written by hand.
"""

from __future__ import annotations

from typing import Any


class EmbedbError(Exception):
    """Base of every error EmbeDB raises on purpose."""

    http_status: int = 500
    wire_name: str = "embedb_error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        # KeyError would otherwise wrap the message in quotes.
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.message, self.details))


def _rebuild_error(cls: type[EmbedbError], message: str, details: dict[str, Any]) -> EmbedbError:
    return cls(message, **details)


class InvalidArgumentError(EmbedbError, ValueError):
    """A request is malformed or names something invalid; nothing was written."""

    http_status = 400
    wire_name = "invalid_argument"


class SchemaError(InvalidArgumentError):
    """A collection schema or field definition is invalid."""

    wire_name = "schema_error"


class UnsupportedTypeError(SchemaError, AttributeError):
    """A Milvus data type EmbeDB does not store yet (``DataType.FLOAT16_VECTOR``, ...).

    Also an ``AttributeError``, so ``hasattr(DataType, name)`` and ``getattr`` with a
    default keep working as they do for any missing name.
    """

    http_status = 400
    wire_name = "unsupported_type"


class DataError(InvalidArgumentError):
    """Rows or columns handed to a write do not fit the schema; names row and field."""

    wire_name = "data_error"


class DimensionMismatchError(DataError):
    """A vector has the wrong number of dimensions for its field."""

    wire_name = "dimension_mismatch"


class FilterError(InvalidArgumentError):
    """A filter expression names an unknown field or mixes types."""

    wire_name = "filter_error"


class FilterSyntaxError(FilterError):
    """A filter expression does not parse; says the position and what was expected."""

    wire_name = "filter_syntax_error"


class InvalidNameError(InvalidArgumentError):
    """A collection, partition, alias, field or model name is not allowed."""

    wire_name = "invalid_name"


class NotFoundError(EmbedbError, KeyError):
    """The named object does not exist."""

    http_status = 404
    wire_name = "not_found"


class CollectionNotFoundError(NotFoundError):
    wire_name = "collection_not_found"


class DatabaseNotFoundError(NotFoundError):
    """No Milvus database has this name (``embedb.databases``)."""

    wire_name = "database_not_found"


class PartitionNotFoundError(NotFoundError):
    wire_name = "partition_not_found"


class AliasNotFoundError(NotFoundError):
    wire_name = "alias_not_found"


class FieldNotFoundError(NotFoundError):
    wire_name = "field_not_found"


class IndexNotFoundError(NotFoundError):
    wire_name = "index_not_found"


class ModelNotFoundError(NotFoundError):
    wire_name = "model_not_found"


class ModelVersionNotFoundError(NotFoundError):
    wire_name = "model_version_not_found"


class ExperimentNotFoundError(NotFoundError):
    wire_name = "experiment_not_found"


class JobNotFoundError(NotFoundError):
    wire_name = "job_not_found"


class AlreadyExistsError(EmbedbError):
    """An object with that name or key exists already."""

    http_status = 409
    wire_name = "already_exists"


class CollectionAlreadyExistsError(AlreadyExistsError):
    wire_name = "collection_already_exists"


class PartitionAlreadyExistsError(AlreadyExistsError):
    wire_name = "partition_already_exists"


class AliasAlreadyExistsError(AlreadyExistsError):
    wire_name = "alias_already_exists"


class IndexAlreadyExistsError(AlreadyExistsError):
    wire_name = "index_already_exists"


class ModelAlreadyExistsError(AlreadyExistsError):
    wire_name = "model_already_exists"


class DatabaseAlreadyExistsError(AlreadyExistsError):
    """A Milvus database with this name exists already."""

    wire_name = "database_already_exists"


class DuplicateKeyError(AlreadyExistsError):
    """An insert carries a primary key that is stored already (use upsert)."""

    wire_name = "duplicate_key"


class FailedPreconditionError(EmbedbError):
    """The request is well-formed but the current state does not allow it."""

    http_status = 412
    wire_name = "failed_precondition"


class InvalidStateError(FailedPreconditionError):
    """A lifecycle transition that the current state does not allow."""

    wire_name = "invalid_state"


class InUseError(FailedPreconditionError):
    """The object is still used by something else (an alias, a collection, an experiment)."""

    wire_name = "in_use"


class CollectionNotLoadedError(FailedPreconditionError):
    """A read of a collection that was released (``load_collection`` serves it again)."""

    wire_name = "collection_not_loaded"


class PartitionNotLoadedError(FailedPreconditionError):
    """A read of a partition that was released (``load_partitions`` serves it again)."""

    wire_name = "partition_not_loaded"


class PermissionDeniedError(EmbedbError, PermissionError):
    """The caller is known but its role does not allow this operation."""

    http_status = 403
    wire_name = "permission_denied"


class UnauthenticatedError(EmbedbError, PermissionError):
    """No valid token came with the request."""

    http_status = 401
    wire_name = "unauthenticated"


class PayloadTooLargeError(EmbedbError):
    """A request body is larger than the configured limit."""

    http_status = 413
    wire_name = "payload_too_large"


class StorageError(EmbedbError, OSError):
    """The data directory cannot be read or written as needed."""

    http_status = 500
    wire_name = "storage_error"


class CorruptionError(StorageError):
    """A checksum does not match: names the file and the byte offset."""

    wire_name = "corruption"


class DirectoryLockedError(StorageError):
    """Another process holds the writer lock of the data directory."""

    http_status = 423
    wire_name = "directory_locked"


class ReadOnlyError(StorageError):
    """A write was attempted on a read-only open."""

    http_status = 409
    wire_name = "read_only"


class FormatVersionError(StorageError):
    """The data directory was written by a newer, unknown format."""

    wire_name = "format_version"


class ModelError(EmbedbError):
    """A model failed to load or to embed."""

    http_status = 500
    wire_name = "model_error"


class ArtifactIntegrityError(ModelError):
    """A model artifact's content does not match its recorded hash."""

    wire_name = "artifact_integrity"


class ClosedError(EmbedbError):
    """The client or database was closed."""

    http_status = 409
    wire_name = "closed"


class UnavailableError(EmbedbError, ConnectionError):
    """The server cannot be reached or is shutting down; the request may be retried."""

    http_status = 503
    wire_name = "unavailable"


class UnsupportedError(EmbedbError, NotImplementedError):
    """The operation exists in the contract but this deployment (a Ray cluster) does not carry it out yet."""

    http_status = 501
    wire_name = "unsupported"


class ServerError(EmbedbError):
    """The server failed in a way it did not classify."""

    http_status = 500
    wire_name = "server_error"


def _all_error_classes(root: type[EmbedbError]) -> list[type[EmbedbError]]:
    found = [root]
    for sub in root.__subclasses__():
        found.extend(_all_error_classes(sub))
    return found


WIRE_NAMES: dict[str, type[EmbedbError]] = {cls.wire_name: cls for cls in _all_error_classes(EmbedbError)}


def error_from_wire(wire_name: str, message: str, details: dict[str, Any] | None = None) -> EmbedbError:
    """Rebuild the typed error named by ``wire_name``; unknown names give ``ServerError``."""
    cls = WIRE_NAMES.get(wire_name, ServerError)
    return cls(message, **(details or {}))
