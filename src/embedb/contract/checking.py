"""Check a value against a contract result type: the drift test for result fields.

``check_result("insert", value)`` raises ``ContractViolation`` naming the path
of the first key or type that differs from what ``Backend.insert`` declares.
The contract suite runs it on every result of every operation over every
adapter, so a field added, dropped, renamed or retyped on one side fails there.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, NotRequired, Required, Union, get_args, get_origin, is_typeddict

import numpy as np

from embedb.errors import InvalidArgumentError

if TYPE_CHECKING:
    from embedb.contract.declare import OperationSpec


class ContractViolation(AssertionError):
    """A result does not match the type its operation declares."""


def check_result(operation_name: str, value: Any) -> None:
    """Raise ``ContractViolation`` unless ``value`` is what ``Backend.<operation_name>`` declares it returns."""
    from embedb.contract.backend import Backend

    hints = typing.get_type_hints(getattr(Backend, operation_name))
    check_value(hints["return"], value, operation_name)


def check_value(expected: Any, value: Any, path: str) -> None:
    """Raise ``ContractViolation`` unless ``value`` fits the annotation ``expected``."""
    origin = get_origin(expected)
    if expected is Any:
        return
    if expected is None or expected is type(None):
        _require(value is None, path, "None", value)
    elif origin in (Union, types.UnionType):
        errors = []
        for option in get_args(expected):
            try:
                check_value(option, value, path)
                return
            except ContractViolation as error:
                errors.append(str(error))
        raise ContractViolation(f"{path}: {value!r} fits none of {expected} ({'; '.join(errors)})")
    elif is_typeddict(expected):
        _check_typeddict(expected, value, path)
    elif origin is list:
        _require(isinstance(value, list), path, "a list", value)
        (item,) = get_args(expected) or (Any,)
        for position, entry in enumerate(value):
            check_value(item, entry, f"{path}[{position}]")
    elif origin is dict:
        _require(isinstance(value, dict), path, "a dict", value)
        key_type, item = get_args(expected) or (Any, Any)
        for key, entry in value.items():
            check_value(key_type, key, f"{path} key")
            check_value(item, entry, f"{path}[{key!r}]")
    elif expected is float:
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), path, "a number", value)
    elif expected is int:
        _require(isinstance(value, int) and not isinstance(value, bool), path, "an integer", value)
    elif isinstance(expected, type):
        _require(isinstance(value, expected), path, expected.__name__, value)


def _check_typeddict(expected: Any, value: Any, path: str) -> None:
    _require(isinstance(value, dict), path, f"a {expected.__name__} dict", value)
    hints = typing.get_type_hints(expected, include_extras=True)
    required = set(expected.__required_keys__)
    missing = sorted(required - set(value))
    if missing:
        raise ContractViolation(f"{path}: {expected.__name__} lacks {missing}")
    unknown = sorted(set(value) - set(hints))
    if unknown:
        raise ContractViolation(f"{path}: {expected.__name__} has undeclared keys {unknown}")
    for key, annotation in hints.items():
        if key in value:
            check_value(_strip_required(annotation), value[key], f"{path}.{key}")


def _strip_required(annotation: Any) -> Any:
    if get_origin(annotation) in (NotRequired, Required):
        return get_args(annotation)[0]
    return annotation


def _require(condition: bool, path: str, wanted: str, value: Any) -> None:
    if not condition:
        raise ContractViolation(f"{path}: expected {wanted}, got {type(value).__name__} {value!r:.80}")


# The scalar annotations an argument is checked against before an embedded operation runs, as JSON types:
# the same values a server's request models accept (an integer is never a bool or a numeric string).
_SCALARS: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int, np.integer), "float": (int, float, np.number), "bool": (bool, np.bool_)}
_EXACT: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "true or false"}


def scalar_checks(spec: OperationSpec) -> tuple[tuple[str, str, bool], ...]:
    """(parameter, scalar type name, None allowed) for each parameter declared as a plain scalar (or one or None)."""
    checks = []
    for name, parameter in spec.parameters.items():
        annotation = str(parameter.annotation)
        nullable = annotation.endswith(" | None")
        kind = annotation.removesuffix(" | None")
        if kind in _SCALARS:
            checks.append((name, kind, nullable))
    return tuple(checks)


def check_scalar_arguments(checks: tuple[tuple[str, str, bool], ...], arguments: dict[str, Any]) -> None:
    """Raise ``InvalidArgumentError`` naming the first argument whose type is not the declared scalar."""
    for name, kind, nullable in checks:
        value = arguments.get(name)
        if value is None:
            if nullable:
                continue
        elif type(value) is _EXACT[kind]:  # the common case, one comparison (this runs on every search)
            continue
        allowed = _SCALARS[kind]
        if not isinstance(value, allowed) or (kind in ("int", "float") and isinstance(value, (bool, np.bool_))):
            raise InvalidArgumentError(f"{name} must be {_NAMES[kind]}, got {value!r:.80}", argument=name)
