"""The route table: unique, versioned routes whose roles come from the contract.

That every contract operation has a route whose request model mirrors its
signature is checked with the other declaration checks (tests/unit/contract).
"""

from __future__ import annotations

import pytest

from embedb.contract import OPERATIONS as CONTRACT
from embedb.protocol import OPERATIONS, Role


def test_routes_and_ids_are_unique_and_versioned() -> None:
    assert len({op.path for op in OPERATIONS}) == len(OPERATIONS)
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)
    assert all(op.path.startswith("/v1/") for op in OPERATIONS)


def test_a_route_takes_its_access_from_the_contract() -> None:
    for route in OPERATIONS:
        assert route.role is CONTRACT[route.method].access.role
        assert route.scope_args == CONTRACT[route.method].access.scope
        assert route.local_args == CONTRACT[route.method].access.local


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
