"""API tokens and who may call what.

A token is ``edb_<token id>_<secret>``. The catalog keeps only the id, a
per-token random salt and ``sha256(salt + secret)``: the secret is 256 random
bits, so a fast hash is enough (a slow KDF protects guessable passwords, and
this is not one), and a stolen catalog reveals no token. Each token has one
role (reader < writer < admin, see ``embedb.contract.Role``) and is valid either for
every collection or for a list of collections (an alias counts as the
collection it points to).

``TokenStore`` opens the catalog with its own SQLite connection, so
``embedb token create`` works while a server runs on the same directory; the
server re-reads a token at most every ``cache_ttl_s`` seconds, so a revocation
takes effect within that time.

The server, not the client, says who acted: an operation with an ``actor``
argument (alias moves, promotion, rollback) records the token's name
(``Principal.actor``), whatever the request body claims (``attribute_actor``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedb.contract import Backend
from embedb.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from embedb.protocol import Operation, Role
from embedb.schema import check_name
from embedb.storage import CATALOG_FILE, Catalog

TOKEN_PREFIX = "edb"
OPEN_ACCESS_ID = "-"
TOKEN_TABLES = """
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL,
    collections TEXT,
    salt BLOB NOT NULL,
    digest BLOB NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
"""


@dataclass(frozen=True)
class Principal:
    """Who sent a request: a token's id, role, the collections it is limited to (``None``: all) and its name."""

    token_id: str
    role: Role
    collections: frozenset[str] | None
    name: str = ""

    @classmethod
    def open_access(cls) -> Principal:
        """The caller of a server started with ``--no-auth``: a global admin nobody vouches for."""
        return cls(OPEN_ACCESS_ID, Role.ADMIN, None)

    @property
    def actor(self) -> str | None:
        """The actor the history records for this caller: the token's name, ``token:<id>`` when it has none.

        ``None`` without auth: an unauthenticated caller is nobody in particular.
        """
        if self.token_id == OPEN_ACCESS_ID:
            return None
        return self.name or f"token:{self.token_id}"

    def visible(self, names: Iterable[str]) -> list[str]:
        """The collection names this principal may see, in their given order."""
        return [n for n in names if self.collections is None or n in self.collections]


@dataclass(frozen=True)
class TokenInfo:
    """A token as ``embedb token list`` shows it (never the secret)."""

    token_id: str
    name: str
    role: Role
    collections: tuple[str, ...] | None
    created_at: float
    revoked_at: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, role as its lower-case name."""
        return {
            "token_id": self.token_id,
            "name": self.name,
            "role": self.role.name.lower(),
            "collections": list(self.collections) if self.collections is not None else None,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _digest(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode("utf-8")).digest()


class TokenStore:
    """Tokens in the ``api_tokens`` table of a data directory's catalog."""

    def __init__(self, catalog: Catalog, *, cache_ttl_s: float = 2.0) -> None:
        self._catalog = catalog
        self._catalog.ensure_tables(TOKEN_TABLES)
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_path: str | os.PathLike[str], *, cache_ttl_s: float = 2.0) -> TokenStore:
        """The token store of a data directory (created if missing); works next to a running server."""
        folder = Path(data_path)
        folder.mkdir(parents=True, exist_ok=True)
        return cls(Catalog(folder / CATALOG_FILE, read_only=False), cache_ttl_s=cache_ttl_s)

    def close(self) -> None:
        """Close the store's catalog connection."""
        self._catalog.close()

    # -------------------------------------------------------------- admin

    def create(
        self, *, role: Role | str, collections: Sequence[str] | None = None, name: str = ""
    ) -> tuple[str, TokenInfo]:
        """Issue a token; returns ``(token, info)``. The token is shown only here.

        Raises ``InvalidArgumentError`` for an unknown role and ``InvalidNameError``
        for an invalid collection name.
        """
        try:
            parsed = Role.parse(role)
        except ValueError as error:
            raise InvalidArgumentError(str(error)) from None
        scope = None
        if collections is not None:
            if isinstance(collections, str) or not collections:
                raise InvalidArgumentError(
                    "collections must be a non-empty list of names (or None for every collection)"
                )
            scope = tuple(sorted({check_name(c, kind="collection") for c in collections}))
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created = time.time()
        with self._catalog.transaction() as cursor:
            cursor.execute(
                "INSERT INTO api_tokens (token_id, name, role, collections, salt, digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    name,
                    parsed.name.lower(),
                    json.dumps(scope) if scope else None,
                    salt,
                    _digest(salt, secret),
                    created,
                ),
            )
            self._catalog.record_event(
                cursor, "token_created", token_id, role=parsed.name.lower(), collections=scope, name=name
            )
        return f"{TOKEN_PREFIX}_{token_id}_{secret}", TokenInfo(token_id, name, parsed, scope, created, None)

    def list_tokens(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        """Every token, oldest first (revoked ones only when asked)."""
        rows = self._catalog.query("SELECT * FROM api_tokens ORDER BY created_at, token_id")
        infos = [self._info(row) for row in rows]
        return [info for info in infos if include_revoked or info.revoked_at is None]

    def revoke(self, token_id: str) -> None:
        """Revoke a token; raises ``NotFoundError`` when no active token has that id."""
        with self._catalog.transaction() as cursor:
            cursor.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (time.time(), token_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"no active token with id {token_id!r}", token_id=token_id)
            self._catalog.record_event(cursor, "token_revoked", token_id)
        with self._lock:
            self._cache.pop(token_id, None)

    @staticmethod
    def _info(row: Any) -> TokenInfo:
        scope = json.loads(row["collections"]) if row["collections"] else None
        return TokenInfo(
            row["token_id"],
            row["name"],
            Role.parse(row["role"]),
            tuple(scope) if scope else None,
            row["created_at"],
            row["revoked_at"],
        )

    # ---------------------------------------------------- authentication

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal of an ``Authorization: Bearer <token>`` header; raises ``UnauthenticatedError``."""
        if not authorization:
            raise UnauthenticatedError("this server needs an API token: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("the Authorization header must be 'Bearer <token>'")
        prefix, _, rest = token.strip().partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != TOKEN_PREFIX or not token_id or not secret:
            raise UnauthenticatedError("malformed API token (expected edb_<id>_<secret>)")
        row = self._row(token_id)
        if (
            row is None
            or row["revoked_at"] is not None
            or not hmac.compare_digest(_digest(row["salt"], secret), row["digest"])
        ):
            raise UnauthenticatedError("unknown or revoked API token")
        info = self._info(row)
        return Principal(
            info.token_id, info.role, frozenset(info.collections) if info.collections is not None else None, info.name
        )

    def _row(self, token_id: str) -> Any:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(token_id)
        if cached is not None and now - cached[0] < self._cache_ttl_s:
            return cached[1]
        row = self._catalog.query_one("SELECT * FROM api_tokens WHERE token_id = ?", (token_id,))
        if row is not None:
            with self._lock:
                self._cache[token_id] = (now, row)
        return row


def attribute_actor(principal: Principal, operation: Operation, arguments: dict[str, Any]) -> str | None:
    """Set ``arguments['actor']`` to the caller's ``Principal.actor``; return the actor the body claimed, if another.

    A no-op for operations without an ``actor`` argument. The claim is never
    passed on: the caller may log it as claimed.
    """
    if "actor" not in operation.request.model_fields:
        return None
    claimed = arguments.get("actor")
    arguments["actor"] = principal.actor
    return claimed if claimed is not None and claimed != principal.actor else None


class Authorizer:
    """Checks a principal against an operation's role and collection scope."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def check(self, principal: Principal, operation: Operation, arguments: dict[str, Any]) -> None:
        """Return when ``principal`` may run ``operation`` with these arguments; raise ``PermissionDeniedError``."""
        if principal.role < operation.role:
            raise PermissionDeniedError(
                f"token {principal.token_id} has role {principal.role.name.lower()}; "
                f"{operation.operation_id} needs {operation.role.name.lower()}",
                operation=operation.operation_id,
            )
        if principal.collections is None:
            return
        named = [arguments.get(arg) for arg in operation.scope_args]
        if not named or any(name is None for name in named):
            if operation.listing:
                return
            raise PermissionDeniedError(
                f"{operation.operation_id} needs a token valid for every collection; "
                f"token {principal.token_id} is limited to {sorted(principal.collections)}",
                operation=operation.operation_id,
            )
        for name in named:
            collection = self._collection_of(str(name))
            if collection not in principal.collections:
                # Named as the caller sent it: the collection behind an alias is not the caller's to learn.
                raise PermissionDeniedError(
                    f"token {principal.token_id} is not valid for collection {str(name)!r}",
                    operation=operation.operation_id,
                )

    def _collection_of(self, name: str) -> str:
        """The collection a name means: itself, or the target of an alias with that name."""
        try:
            if self._backend.has_collection(name):
                return name
            return str(self._backend.describe_alias(name)["collection_name"])
        except (NotFoundError, InvalidArgumentError):
            return name
