"""The ``db`` fixture: every contract test runs embedded, over HTTP against a real server process, and on a Ray cluster.

Both backends live for the whole session (one data directory each, one
``embedb serve`` subprocess); each test gets a fresh collection name, so tests
never see each other's data. Every result of every operation either backend
returns is checked against the type the contract declares for it
(``embedb.contract.check_result``), so a result field that drifts on one side
fails whichever test called it.

The third backend is a Ray cluster on this machine (three shard actors, their
logs and snapshots in a real S3-compatible server on loopback). It runs every
contract test but ``CLUSTER_GAPS``: tests of the single node's physical layout
(one segment, one gated chunk) that a cluster's answers differ from by design.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.s3_server import S3Server, start_s3_server
from tests.support.server_process import TEST_EMBEDDERS, ServerProcess, start_server

from embedb.backends.http import HttpBackend
from embedb.backends.local import LocalBackend
from embedb.client import Client
from embedb.config import Settings
from embedb.contract import check_result
from embedb.distributed import RayBackend

BACKENDS = ["embedded", "http", "ray"]
# The name of the admin token ``start_server`` issues: over HTTP, the actor of every alias move.
SERVER_ACTOR = "test-admin"


class CheckedLocalBackend(LocalBackend):
    """The embedded backend, checking every result against the contract's declared type."""

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        result = super()._dispatch(name, arguments)
        check_result(name, result)
        return result


class CheckedHttpBackend(HttpBackend):
    """The HTTP backend, checking every result against the contract's declared type."""

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        result = super()._dispatch(name, arguments)
        check_result(name, result)
        return result


class CheckedRayBackend(RayBackend):
    """The Ray backend, checking every result against the contract's declared type."""

    def _dispatch(self, name: str, arguments: dict[str, Any]) -> Any:
        result = super()._dispatch(name, arguments)
        check_result(name, result)
        return result


# Contract tests a cluster does not pass yet, each with why (docs/distributed.md, "What a cluster does not do yet").
CLUSTER_GAPS = {
    # the single node's physical layout: one segment per collection, one chunk held by a gate
    "test_wait_returns_the_finished_job_and_lists_it": "segments_done counts every shard's segments",
    "test_without_wait_the_job_runs_in_the_background_until_its_wait_times_out": "a gate holds one chunk per shard",
    "test_a_paused_job_keeps_its_finished_work_and_resumes": "a gate holds one chunk per shard",
    "test_a_cancelled_version_can_be_added_again": "a shard without gated rows finishes before the cancel",
    "test_a_cancelled_job_retires_its_version": "a cancel is refused while the shards' parts are in different states",
    "test_quick_setup_has_an_autoindex_that_says_what_it_picked": "index build counts per shard",
    "test_a_worse_candidate_fails_the_gate": "the ANN check counts every shard's sealed segments",
}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = start_s3_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_db(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="embedb-contract")
    backend = CheckedRayBackend(
        storage=s3_server.storage("contract"),
        shards=3,
        name="contract",
        settings=Settings(allow_code_models=TEST_EMBEDDERS),
        workdir=str(tmp_path_factory.mktemp("contract-ray")),
    )
    yield backend
    backend.close()
    if ray.is_initialized():
        ray.shutdown()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the Ray backend on every contract test but ``CLUSTER_GAPS``."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        on_ray = "[ray" in item.nodeid or "-ray]" in item.nodeid or "-ray-" in item.nodeid
        test = item.nodeid.split("::")[-1].split("[")[0]
        gap = test in CLUSTER_GAPS
        (dropped if on_ray and item.nodeid.startswith("tests/contract/") and gap else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("contract-http") / "data", allow_code_models=TEST_EMBEDDERS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def embedded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    backend = CheckedLocalBackend(tmp_path_factory.mktemp("contract-embedded") / "data")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def http_db(contract_server: ServerProcess) -> Iterator[Client]:
    backend = CheckedHttpBackend(contract_server.url, token=contract_server.token)
    yield backend
    backend.close()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest) -> Client:
    """The backend under test: embedded, then HTTP, then a Ray cluster."""
    backend: Client = request.getfixturevalue(f"{request.param}_db")
    return backend


@pytest.fixture
def recorded_actor(db: Client) -> Callable[[str | None], str | None]:
    """The actor history records for a move that claims an actor: embedded the claim, over HTTP the token's name."""
    return lambda claimed: SERVER_ACTOR if isinstance(db, HttpBackend) else claimed


@pytest.fixture
def name() -> str:
    """A collection name no other test uses."""
    return f"c_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def other_name() -> str:
    return f"c_{uuid.uuid4().hex[:12]}"
