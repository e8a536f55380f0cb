"""The operation table covers the whole ``Backend`` contract, and its request models mirror the signatures."""

from __future__ import annotations

import inspect

import pytest

from embedb.backends import Backend
from embedb.backends.http import HttpBackend
from embedb.protocol import OPERATIONS, Body, Operation, Role

CONTRACT_METHODS = sorted(name for name in Backend.__abstractmethods__ if name != "close")


def _json_operation(method: str) -> Operation:
    matches = [op for op in OPERATIONS if op.method == method and op.body is Body.JSON]
    assert matches, f"Backend.{method} has no JSON route in embedb.protocol.OPERATIONS"
    return matches[0]


@pytest.mark.parametrize("method", CONTRACT_METHODS)
def test_every_backend_method_has_a_route(method: str) -> None:
    _json_operation(method)


def test_the_http_backend_implements_the_whole_contract() -> None:
    assert not HttpBackend.__abstractmethods__


@pytest.mark.parametrize("method", CONTRACT_METHODS)
def test_request_models_mirror_backend_signatures(method: str) -> None:
    """A parameter added to ``Backend.<method>`` must be added to its request model, with the same default."""
    operation = _json_operation(method)
    parameters = {
        name: parameter
        for name, parameter in inspect.signature(getattr(Backend, method)).parameters.items()
        if name != "self"
        and name not in operation.local_args
        and parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    }
    fields = {(field.alias or name): field for name, field in operation.request.model_fields.items()}
    assert set(fields) == set(parameters), f"{operation.request.__name__} fields differ from Backend.{method}"
    for name, parameter in parameters.items():
        if parameter.default is inspect.Parameter.empty:
            assert fields[name].is_required(), f"{method}.{name} is required in the signature"
        else:
            assert fields[name].default == parameter.default, f"{method}.{name} default differs"


def test_routes_and_ids_are_unique_and_versioned() -> None:
    assert len({op.path for op in OPERATIONS}) == len(OPERATIONS)
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)
    assert all(op.path.startswith("/v1/") for op in OPERATIONS)


def test_roles_follow_what_an_operation_changes() -> None:
    by_id = {op.operation_id: op for op in OPERATIONS}
    assert {by_id[name].role for name in ("search", "query", "get", "describe_collection", "list_collections")} == {
        Role.READER
    }
    assert {by_id[name].role for name in ("insert", "upsert", "delete", "insert_arrow", "flush")} == {Role.WRITER}
    assert {
        by_id[name].role for name in ("create_collection", "drop_collection", "rename_collection", "alter_alias")
    } == {Role.ADMIN}


def test_role_parsing() -> None:
    assert Role.parse("Writer") is Role.WRITER
    assert Role.ADMIN > Role.WRITER > Role.READER
    with pytest.raises(ValueError, match="reader"):
        Role.parse("root")
