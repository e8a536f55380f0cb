"""docs/server.md documents every route, every ``embedb serve`` option and every metric."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from embedb.cli.serve import serve
from embedb.protocol import OPERATIONS, Operation, wire
from embedb.query import MAX_FILTER_DEPTH
from embedb.schema import MAX_JSON_DEPTH

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


def test_input_limits_are_documented_with_their_values(text: str) -> None:
    for name, value in (
        ("embedb.protocol.wire.MAX_JSON_DEPTH", wire.MAX_JSON_DEPTH),
        ("embedb.schema.MAX_JSON_DEPTH", MAX_JSON_DEPTH),
        ("embedb.query.MAX_FILTER_DEPTH", MAX_FILTER_DEPTH),
    ):
        assert f"**{value}** levels" in text and f"`{name}`" in text, f"docs/server.md: the limit {name} = {value}"
    assert wire.MAX_PACKED_AXIS == 2**31 - 1 and "each at most 2**31 - 1" in text
