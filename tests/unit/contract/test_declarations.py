"""Each operation is declared once: every adapter, the engine, the routes and the handle are checked against it."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping

import pytest

from embedb.backends.http import HttpBackend
from embedb.backends.local import LocalBackend
from embedb.client import Client
from embedb.collection import Collection
from embedb.config import Settings
from embedb.contract import OPERATIONS, Backend, ContractViolation, Role, check_result
from embedb.contract.declare import operation
from embedb.engine import Database
from embedb.protocol import OPERATIONS as ROUTES
from embedb.protocol import Body

NAMES = list(OPERATIONS)


def _parameters(signature: inspect.Signature) -> list[tuple[str, inspect._ParameterKind, object]]:
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


@pytest.fixture(scope="module")
def memory_database() -> Iterator[Database]:
    database = Database(None, settings=Settings()).start()
    yield database
    database.stop()


def test_the_contract_declares_every_operation_once_with_a_role() -> None:
    assert len(NAMES) == len(set(NAMES)) >= 55
    for spec in OPERATIONS.values():
        assert isinstance(spec.role, Role)
        assert spec.doc, f"{spec.name} has no documentation"
        assert spec.result, f"{spec.name} declares no result type"


@pytest.mark.parametrize("name", NAMES)
def test_the_engine_implements_each_operation_with_its_exact_signature(memory_database: Database, name: str) -> None:
    implementation = memory_database.operations[name]
    assert _parameters(inspect.signature(implementation)) == _parameters(OPERATIONS[name].signature), (
        f"the engine's {name} differs from Backend.{name} (a parameter, its kind or its default)"
    )


def test_each_operation_has_one_implementation_in_the_engine(memory_database: Database) -> None:
    owners = {name: [type(part).__name__ for part in memory_database.parts if hasattr(part, name)] for name in NAMES}
    assert {name: parts for name, parts in owners.items() if len(parts) != 1} == {}


@pytest.mark.parametrize("adapter", [LocalBackend, HttpBackend])
def test_adapters_inherit_every_operation_instead_of_redeclaring_it(adapter: type[Client]) -> None:
    redeclared = [name for name in NAMES if getattr(adapter, name) is not getattr(Backend, name)]
    assert redeclared == []


def test_every_operation_has_a_json_route_whose_request_model_mirrors_its_signature() -> None:
    for name, spec in OPERATIONS.items():
        routes = [route for route in ROUTES if route.method == name and route.body is Body.JSON]
        assert len(routes) == 1, f"{name} has {len(routes)} JSON routes"
        model = routes[0].request
        fields = {(field.alias or field_name): field for field_name, field in model.model_fields.items()}
        parameters = spec.remote_parameters
        assert set(fields) == set(parameters), f"{model.__name__} fields differ from Backend.{name}"
        for parameter in parameters.values():
            field = fields[parameter.name]
            if parameter.default is inspect.Parameter.empty:
                assert field.is_required(), f"{name}.{parameter.name} is required in the contract"
            else:
                assert field.default == parameter.default, f"{name}.{parameter.name} default differs"


def test_routes_only_carry_declared_operations() -> None:
    assert {route.method for route in ROUTES} == set(NAMES)


# Parameters a Collection method leaves out on purpose, and why.
HANDLE_OMISSIONS: Mapping[str, set[str]] = {
    # the handle returns a Job; Job.wait() replaces wait= and timeout=
    "add_embedding_version": {"wait", "timeout"},
}


def test_collection_handle_methods_mirror_their_operations() -> None:
    for name, spec in OPERATIONS.items():
        method = getattr(Collection, name, None)
        if method is None:
            continue
        handle = {
            p.name: p for p in inspect.signature(method).parameters.values() if p.name != "self"
        }
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in handle.values()):
            handle = {n: p for n, p in handle.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}
            expected = {n: p for n, p in spec.parameters.items() if n in handle}
        else:
            omitted = HANDLE_OMISSIONS.get(name, set())
            expected = {n: p for n, p in spec.parameters.items() if n != "collection_name" and n not in omitted}
        assert set(handle) == set(expected), f"Collection.{name} parameters differ from Backend.{name}"
        for parameter in handle.values():
            assert parameter.default == expected[parameter.name].default, f"Collection.{name}.{parameter.name}"


def test_an_operation_body_must_dispatch_its_own_name() -> None:
    with pytest.raises(TypeError, match="_dispatch"):

        @operation(Role.READER)
        def copied(self: Backend, collection_name: str) -> None:
            self._dispatch("another", {"collection_name": collection_name})


def test_check_result_names_what_drifted() -> None:
    check_result("insert", {"insert_count": 1, "ids": [7]})
    with pytest.raises(ContractViolation, match="lacks"):
        check_result("insert", {"insert_count": 1})
    with pytest.raises(ContractViolation, match="undeclared"):
        check_result("delete", {"delete_count": 1, "deleted": True})
    with pytest.raises(ContractViolation, match=r"describe_alias\.alias"):
        check_result("describe_alias", {"alias": 3, "collection_name": "docs"})
    check_result("search", [[{"id": 1, "distance": 0.5, "entity": {}, "query_id": "q", "arm": "champion"}]])
