"""How an operation is declared once: ``@operation`` on a ``Backend`` method, and ``OPERATIONS`` read from it.

A contract method carries everything about an operation: its name, its
parameters with their types and defaults, its result type (the return
annotation) and its documentation — in Python's own syntax — plus, through
``@operation``, the ``Role`` a token needs and which arguments name the
collections that role must cover. Its body is always one line that hands the
arguments to the adapter (``self._dispatch("name", locals())``), so an adapter
implements ``_dispatch`` and inherits every signature instead of repeating it.

``OPERATIONS`` reads the declarations back as ``OperationSpec``s; the protocol
(routes and request models), the REST server, the auth table and the drift
tests are built from or checked against them.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

COLLECTION_SCOPE = ("collection_name",)
ACCESS_ATTRIBUTE = "__embedb_access__"


class Role(enum.IntEnum):
    """What a token may do; each role includes the ones below it."""

    # read: describe, list, get, query, search.
    READER = 1
    # write data: insert, upsert, delete, flush, compact, partitions, indexes.
    WRITER = 2
    # change collections and aliases, and everything else.
    ADMIN = 3

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        """A role from its name (``"reader"``, ``"writer"``, ``"admin"``); raises ``ValueError`` otherwise."""
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            raise ValueError(f"role must be one of {[r.name.lower() for r in cls]}, got {value!r}") from None


@dataclass(frozen=True)
class Access:
    """Who may call an operation: the role needed, over which collections."""

    role: Role
    # Arguments naming collections or aliases the token's role must cover. An argument that is
    # absent or None, or an empty tuple, means the operation needs a token valid for every collection.
    scope: tuple[str, ...] = COLLECTION_SCOPE
    # The result is a list of collection names: a token limited to some collections sees only those.
    listing: bool = False
    # Parameters that only exist in-process (callbacks such as a progress function): they never travel.
    local: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperationSpec:
    """One operation of the contract, as declared on ``Backend``."""

    name: str
    access: Access
    signature: inspect.Signature
    doc: str

    @property
    def role(self) -> Role:
        return self.access.role

    @property
    def parameters(self) -> Mapping[str, inspect.Parameter]:
        """Every parameter but ``self``, in order."""
        return {name: p for name, p in self.signature.parameters.items() if name != "self"}

    @property
    def remote_parameters(self) -> Mapping[str, inspect.Parameter]:
        """The parameters that travel over a protocol (the local-only ones left out)."""
        return {name: p for name, p in self.parameters.items() if name not in self.access.local}

    @property
    def result(self) -> str:
        """The declared result type, as written (``"InsertResult"``, ``"list[str]"``, ``"None"``)."""
        annotation = self.signature.return_annotation
        return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))


def operation(
    role: Role, *, scope: tuple[str, ...] = COLLECTION_SCOPE, listing: bool = False, local: tuple[str, ...] = ()
) -> Callable[[F], F]:
    """Mark a ``Backend`` method as an operation of the contract, callable by ``role`` and above."""

    def declare(method: F) -> F:
        code = method.__code__
        # The body must hand its own name to _dispatch: a copied body that names another operation is a bug.
        if method.__name__ not in code.co_consts or "_dispatch" not in code.co_names:
            raise TypeError(f"{method.__name__}: an operation's body is self._dispatch({method.__name__!r}, locals())")
        names = set(inspect.signature(method).parameters)
        unknown = [name for name in (*scope, *local) if name not in names]
        if unknown:
            raise TypeError(f"{method.__name__}: scope/local name unknown parameters {unknown}")
        setattr(method, ACCESS_ATTRIBUTE, Access(role, scope, listing, local))
        return method

    return declare


def declared_operations(contract: type) -> dict[str, OperationSpec]:
    """Every ``@operation`` method of ``contract`` (and its bases), by name, in declaration order."""
    found: dict[str, OperationSpec] = {}
    for klass in reversed(contract.__mro__):
        for name, member in vars(klass).items():
            access = getattr(member, ACCESS_ATTRIBUTE, None)
            if isinstance(access, Access):
                found[name] = OperationSpec(name, access, inspect.signature(member), inspect.getdoc(member) or "")
    return found


def arguments_of(frame_locals: dict[str, Any]) -> dict[str, Any]:
    """The arguments an operation was called with: its ``locals()`` at entry, less ``self``."""
    frame_locals.pop("self", None)
    return frame_locals
