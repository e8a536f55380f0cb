"""The engine's implementation of every operation of the contract, by name.

``Database`` builds the parts once — collections, data, search, indexes,
models, lifecycle, experiments, evaluation — and ``operation_table(parts)``
returns each contract operation's implementation by name. Every part method
has its operation's exact name and signature (``tests/unit/contract`` checks
it), so the embedded adapter calls ``table[name](**arguments)`` and nothing
re-declares an operation. A contract operation without an implementation is a
``TypeError`` when the table is built, not when a user first calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from embedb.contract import OPERATIONS

OperationTable = dict[str, Callable[..., Any]]


def operation_table(parts: tuple[object, ...]) -> OperationTable:
    """Each contract operation's implementation among ``parts``, by name; ``TypeError`` if one is missing or doubled."""
    table: OperationTable = {}
    for part in parts:
        for name in OPERATIONS:
            method = getattr(part, name, None)
            if method is not None:
                if name in table:
                    raise TypeError(f"operation {name!r} is implemented twice (again by {type(part).__name__})")
                table[name] = method
    missing = [name for name in OPERATIONS if name not in table]
    if missing:
        raise TypeError(f"the engine implements no {missing}")
    return table
