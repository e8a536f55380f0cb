"""Property-based API fuzzing: schemathesis generates requests from ``/openapi.json``; no response may be a 5xx.

It runs against its own server on a throwaway data directory (generated calls
drop and rename whatever they find), with a bounded number of examples per
operation, in both positive (schema-valid) and negative (schema-violating) modes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from tests.support.server_process import ServerProcess, start_server

from embedb.backends.http import HttpBackend
from embedb.protocol import wire
from embedb.server import create_app

EXAMPLES_PER_OPERATION = 20


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("fuzz") / "data", extra_args=["--max-body-mb", "1"])
    with HttpBackend(server.url, token=server.token) as db:
        # Something for generated calls to find: schemathesis favours the schema examples ("docs").
        db.create_collection("docs", dimension=4)
        db.insert("docs", [{"id": i, "vector": [1.0, float(i), 0.5, 0.25], "tag": f"t{i}"} for i in range(20)])
        db.create_alias("docs", "docs_live")
    yield server
    server.stop()
    assert "Traceback" not in server.log(), server.log()[-4000:]


def _document() -> dict[str, object]:
    """The OpenAPI document the server serves (built in-process; the calls go to the real server)."""
    app = create_app(":memory:", auth=None)
    try:
        return app.openapi()
    finally:
        app.state.backend.close()


# Arrow IPC bodies are fuzzed as arbitrary bytes (the server must answer data_error, not fail).
schemathesis.serializer.alias(wire.ARROW_STREAM, "application/octet-stream")
schema = schemathesis.openapi.from_dict(_document())
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture(scope="module")
def session(fuzz_target: ServerProcess) -> Iterator[requests.Session]:
    """One keep-alive connection for every generated call."""
    with requests.Session() as kept_alive:
        kept_alive.headers["Authorization"] = f"Bearer {fuzz_target.token}"
        yield kept_alive


@schema.parametrize()
# derandomize: the same examples every run, so a green CI stays green until the code changes.
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error(case: Case, fuzz_target: ServerProcess, session: requests.Session) -> None:
    case.call_and_validate(
        base_url=fuzz_target.url,
        session=session,
        checks=[not_a_server_error],
        timeout=30,
    )


def test_the_fuzzed_directory_still_opens(fuzz_target: ServerProcess, tmp_path: Path) -> None:
    with HttpBackend(fuzz_target.url, token=fuzz_target.token) as db:
        names = db.list_collections()
        for name in names:
            db.describe_collection(name)
            db.query(name, "", output_fields=["count(*)"])
