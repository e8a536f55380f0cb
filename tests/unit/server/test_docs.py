"""docs/server.md documents every route, every ``embedb serve`` option and every metric."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from embedb.cli.serve import serve
from embedb.protocol import OPERATIONS, Operation

DOC = Path(__file__).resolve().parents[3] / "docs" / "server.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.operation_id for op in OPERATIONS])
def test_every_route_is_in_the_endpoint_table(operation: Operation, text: str) -> None:
    row = f"| `{operation.path}` | `{operation.operation_id}` | {operation.role.name.lower()} |"
    assert row in text, f"docs/server.md needs the row: {row} <scope> |"


def test_every_serve_option_is_documented(text: str) -> None:
    for name in inspect.signature(serve).parameters:
        if name != "path":
            flag = "--" + name.replace("_", "-")
            assert f"`{flag}" in text, f"docs/server.md does not mention {flag}"


def test_every_metric_is_documented(text: str) -> None:
    source = (Path(__file__).resolve().parents[3] / "src" / "embedb" / "server" / "metrics.py").read_text()
    for name in re.findall(r'"(embedb_[a-z_]+)"', source):
        documented = name if name != "embedb_http_requests" else "embedb_http_requests_total"
        assert f"`{documented}`" in text, f"docs/server.md does not list the metric {documented}"
