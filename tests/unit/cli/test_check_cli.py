"""``embedb check`` verifies model artifacts too: a tampered artifact fails the check and is named."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import embedb
from embedb.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a wide terminal prints them, so no cell is cut."""
    monkeypatch.setattr("embedb.cli.data.console", Console(width=400))


@pytest.fixture
def data_with_models(tmp_path: Path) -> tuple[Path, str]:
    """A data directory with a collection and two model versions; returns it and version 1's artifact hash."""
    data = tmp_path / "data"
    with embedb.connect(data) as db:
        db.create_collection("docs", dimension=4)
        db.insert("docs", [{"id": i, "vector": [float(i), 1.0, 0.0, 0.0]} for i in range(5)])
        db.flush("docs")
        first = db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_8")
    assert first["artifact_hash"] is not None
    return data, first["artifact_hash"]


def test_a_clean_directory_checks_its_model_artifacts(data_with_models: tuple[Path, str]) -> None:
    data, _ = data_with_models
    result = runner.invoke(app, ["check", str(data)])
    assert result.exit_code == 0, result.output
    assert "2 model artifact(s)" in result.output and "every checksum matches" in result.output


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        (lambda d: (d / "callable.json").write_text('{"dimension": 16, "import_path": "os:system"}'), "callable.json"),
        (lambda d: (d / "extra.py").symlink_to("/etc/hostname"), "extra.py"),
        (shutil.rmtree, "embedb-manifest.sha256"),
    ],
    ids=["modified", "symlink", "missing"],
)
def test_a_tampered_artifact_fails_the_check_and_is_named(
    data_with_models: tuple[Path, str], tamper: Callable[[Path], object], named: str
) -> None:
    data, artifact_hash = data_with_models
    tamper(data / "artifacts" / artifact_hash)
    result = runner.invoke(app, ["check", str(data)])
    assert result.exit_code == 1, result.output
    assert "every checksum matches" not in result.output
    assert named in result.output and artifact_hash in result.output and "models:/toy/1" in result.output
    assert "models:/toy/2" not in result.output, "only the damaged artifact is listed"
