"""``embedb models ...``, ``info``, ``collections`` and ``query`` go through the contract: a directory or a server.

Each command runs against a real ``embedb serve`` process on loopback (by URL and
token) and against a data directory, and must say the same thing about the same data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from tests.support.server_process import TEST_EMBEDDERS, ServerProcess, start_server
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.errors import InvalidArgumentError, ModelNotFoundError, UnauthenticatedError

TOY = "embedb.models.testing:hash_embed_16"
runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a wide terminal prints them, so no cell is cut."""
    for module in ("embedb.cli.models", "embedb.cli.data"):
        monkeypatch.setattr(f"{module}.console", Console(width=200))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(tmp_path_factory.mktemp("cli-server") / "data", allow_code_models=TEST_EMBEDDERS)
    yield running
    running.stop()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_models_commands_against_a_server(server: ServerProcess) -> None:
    assert server.token is not None
    target, token = server.url, ["--token", server.token]
    registered = run("models", "register", target, "toy", TOY, "--alias", "champion", "--tag", "team=search", *token)
    assert "models:/toy/1" in registered and "team=search" in registered
    run("models", "register", target, "toy", "embedb.models.testing:hash_embed_8", *token)

    listed = run("models", "list", target, *token)
    assert "toy" in listed and "champion→1" in listed
    shown = run("models", "show", target, "toy", *token)
    assert "2 version(s)" in shown and "callable" in shown and "READY" in shown
    one = run("models", "show", target, "toy", "--version", "2", *token)
    assert "models:/toy/2" in one and "dimension" in one

    moved = run("models", "alias", target, "toy", "champion", "2", "--reason", "smaller is enough", *token)
    assert "1 → 2" in moved
    history = run("models", "history", target, "toy", *token)
    assert "2 alias change(s)" in history and "smaller is enough" in history

    with embedb.connect(server.url, token=server.token) as db:  # what the CLI did is what the server holds
        assert db.describe_model("toy")["aliases"] == {"champion": 2}

    missing = runner.invoke(app, ["models", "show", target, "ghost", *token])
    assert isinstance(missing.exception, ModelNotFoundError)
    refused = runner.invoke(app, ["models", "list", target])
    assert isinstance(refused.exception, UnauthenticatedError), "a server needs the token"


def test_token_from_the_environment(server: ServerProcess) -> None:
    assert server.token is not None
    result = runner.invoke(app, ["models", "list", server.url], env={"EMBEDB_TOKEN": server.token})
    assert result.exit_code == 0, result.output


def test_info_collections_and_query_say_the_same_on_a_directory_and_a_server(
    server: ServerProcess, tmp_path: Path
) -> None:
    assert server.token is not None
    directory = tmp_path / "data"
    with embedb.connect(directory) as local, embedb.connect(server.url, token=server.token) as remote:
        for db in (local, remote):
            db.create_collection("docs_cli", dimension=4)
            db.insert("docs_cli", [{"id": i, "vector": [1.0, 0.0, 0.0, float(i)], "tag": f"t{i}"} for i in range(12)])
            db.flush("docs_cli")
            db.register_model("cli_toy", TOY)
    token = ["--token", server.token]

    local_info, remote_info = run("info", str(directory)), run("info", server.url, *token)
    for output in (local_info, remote_info):
        assert "collections" in output and "sealed segments" in output and "models" in output
    assert "disk bytes" in local_info and str(directory.resolve()) in local_info
    assert server.url in remote_info and "disk bytes" not in remote_info
    assert re.search(r"rows\s+12\s", local_info) and re.search(r"models\s+1\s", local_info)

    assert "docs_cli" in run("collections", server.url, *token) and "docs_cli" in run("collections", str(directory))
    local_rows = run("query", str(directory), "docs_cli", "--filter", "id < 3", "-o", "tag", "--json")
    remote_rows = run("query", server.url, "docs_cli", "--filter", "id < 3", "-o", "tag", "--json", *token)
    assert local_rows == remote_rows and '"t2"' in local_rows


def test_a_target_that_is_neither_a_directory_nor_a_url_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "list", str(tmp_path / "nowhere")])
    assert isinstance(result.exception, InvalidArgumentError)
    assert "neither a data directory nor an http(s):// URL" in str(result.exception)

