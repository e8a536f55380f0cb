"""``embedb models ...``: list, show, register, alias, history through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from embedb.cli.models import app
from embedb.errors import InvalidArgumentError, ModelNotFoundError, StorageError

TOY = "embedb.models.testing:hash_embed_16"
runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a wide terminal prints them, so no cell is cut."""
    monkeypatch.setattr("embedb.cli.models.console", Console(width=200))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    return directory


def test_register_list_show(data_dir: Path) -> None:
    registered = invoke("register", str(data_dir), "toy", TOY, "--alias", "champion", "--tag", "team=search")
    assert "models:/toy/1" in registered and "team=search" in registered
    invoke("register", str(data_dir), "toy", "embedb.models.testing:hash_embed_8", "--flavor", "callable")

    listed = invoke("list", str(data_dir))
    assert "toy" in listed and "champion→1" in listed

    shown = invoke("show", str(data_dir), "toy")
    assert "2 version(s)" in shown and "callable" in shown and "READY" in shown

    one = invoke("show", str(data_dir), "toy", "--version", "2")
    assert "models:/toy/2" in one and "dimension" in one and "8" in one


def test_register_a_file_source_detects_its_flavor(data_dir: Path, tmp_path: Path) -> None:
    import skops.io
    from sklearn.feature_extraction.text import HashingVectorizer

    path = tmp_path / "hashing.skops"
    skops.io.dump(HashingVectorizer(n_features=32), path)
    output = invoke("register", str(data_dir), "hashed", str(path))
    assert "sklearn" in output and "32" in output


def test_a_missing_source_path_is_refused(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["register", str(data_dir), "toy", str(tmp_path / "nothing-here")])
    assert result.exit_code != 0 and "cannot tell which flavor" in str(result.exception)


def test_alias_and_history(data_dir: Path) -> None:
    invoke("register", str(data_dir), "toy", TOY, "--alias", "champion")
    invoke("register", str(data_dir), "toy", TOY)
    moved = invoke("alias", str(data_dir), "toy", "champion", "2", "--reason", "better nDCG")
    assert "1 → 2" in moved
    assert "already points" in invoke("alias", str(data_dir), "toy", "champion", "2")

    history = invoke("history", str(data_dir), "toy")
    assert "2 alias change(s)" in history and "better nDCG" in history and "registered" in history
    only = invoke("history", str(data_dir), "toy", "--alias", "challenger")
    assert "0 alias change(s)" in only


def test_errors_reach_the_cli_error_handler_as_embedb_errors(data_dir: Path) -> None:
    result = runner.invoke(app, ["show", str(data_dir), "ghost"])
    assert isinstance(result.exception, StorageError)  # no catalog yet: read-only open fails
    invoke("register", str(data_dir), "toy", TOY)
    result = runner.invoke(app, ["show", str(data_dir), "ghost"])
    assert isinstance(result.exception, ModelNotFoundError)


def test_bad_tag_syntax_is_an_invalid_argument(data_dir: Path) -> None:
    result = runner.invoke(app, ["register", str(data_dir), "toy", TOY, "--tag", "no-equals-sign"])
    assert result.exit_code != 0 and "key=value" in str(result.exception)


def test_register_json_sources_as_an_analyzer_and_a_search_configuration(data_dir: Path) -> None:
    analyzer = invoke("register", str(data_dir), "words", '{"type": "english"}', "--alias", "champion")
    assert "models:/words/1" in analyzer and "analyzer" in analyzer
    config = invoke("register", str(data_dir), "docs_search", '{"anns_field": "embedding"}')
    assert "models:/docs_search/1" in config and "search_config" in config
    with pytest.raises(InvalidArgumentError, match="does not parse"):
        runner.invoke(app, ["register", str(data_dir), "words", "{type: english}"], catch_exceptions=False)
