"""Code-bearing models over a real server: only callables under ``--allow-code-models`` prefixes ever run.

The attack (issue 11): a global admin token registers ``subprocess:getoutput``
with ``dimension=4`` (so no probe runs), binds a collection to it and inserts a
shell command as text; the server would run it as its own user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.server_process import ServerProcess, start_server

import embedb
from embedb.backends.http import HttpBackend
from embedb.errors import EmbedbError, PermissionDeniedError

ALLOWED = "embedb.models.testing"
HASH_8 = "embedb.models.testing:hash_embed_8"


def bound_schema(model: str) -> dict[str, Any]:
    return {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 400},
            {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": model},
        ]
    }


@pytest.fixture(scope="module")
def allowing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose operator allowed the callables of ``embedb.models.testing`` only."""
    running = start_server(tmp_path_factory.mktemp("code-models") / "data", extra_args=["--allow-code-models", ALLOWED])
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(allowing_server: ServerProcess) -> Iterator[HttpBackend]:
    backend = HttpBackend(allowing_server.url, token=allowing_server.token)
    yield backend
    backend.close()


def test_a_shell_callable_is_refused_and_nothing_runs(admin: HttpBackend, tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    steps: list[EmbedbError] = []
    for step in (
        lambda: admin.register_model("shell", "subprocess:getoutput", dimension=4),
        lambda: admin.create_collection("pwned", schema=bound_schema("shell")),
        lambda: admin.insert("pwned", [{"id": 1, "text": f"touch {marker}"}]),
    ):
        try:
            step()
        except EmbedbError as error:
            steps.append(error)
    assert not marker.exists(), "the server ran the shell command"
    assert isinstance(steps[0], PermissionDeniedError)
    assert "--allow-code-models" in steps[0].message and "subprocess:getoutput" in steps[0].message
    assert "shell" not in [m["name"] for m in admin.list_models()], "a refused registration leaves no version"


def test_a_prefix_allows_only_modules_under_it(admin: HttpBackend) -> None:
    with pytest.raises(PermissionDeniedError, match=re.escape("embedb.models.testingevil:embed")):
        admin.register_model("lookalike", "embedb.models.testingevil:embed", dimension=4)
    with pytest.raises(PermissionDeniedError):
        admin.register_model("parent", "embedb.models:distill_from", dimension=4)


def test_an_allowed_callable_registers_binds_and_embeds(admin: HttpBackend) -> None:
    version = admin.register_model("toy", HASH_8, alias="champion")
    assert version["dimension"] == 8
    admin.create_collection("allowed", schema=bound_schema("toy@champion"))
    admin.insert("allowed", [{"id": 1, "text": "red apple pie"}, {"id": 2, "text": "stock market"}])
    assert admin.search("allowed", "apple pie", limit=1)[0][0]["id"] == 1


def test_a_callable_registered_embedded_is_refused_once_served(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with embedb.connect(data) as db:
        db.register_model("toy", HASH_8, alias="champion")
        db.create_collection("docs", schema=bound_schema("toy@champion"))
        db.insert("docs", [{"id": 1, "text": "red apple pie"}])

    server = start_server(data)
    try:
        with HttpBackend(server.url, token=server.token) as remote:
            assert remote.describe_model_version("toy@champion")["version"] == 1, "reading the registry works"
            assert remote.query("docs", "id >= 0", output_fields=["text"]) == [{"id": 1, "text": "red apple pie"}]
            with pytest.raises(PermissionDeniedError, match="--allow-code-models"):
                remote.insert("docs", [{"id": 2, "text": "green apple tart"}])
            with pytest.raises(PermissionDeniedError):
                remote.search("docs", "apple", limit=1)
            with pytest.raises(PermissionDeniedError):
                remote.create_collection("more", schema=bound_schema("toy@champion"))
            assert not remote.has_collection("more")
            assert remote.get_collection_stats("docs")["row_count"] == 1, "the refused insert wrote nothing"
    finally:
        server.stop()
