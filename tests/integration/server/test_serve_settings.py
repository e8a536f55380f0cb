"""``embedb serve --setting NAME=VALUE`` tunes the engine the server opens; a bad one fails before serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.support.server_process import start_server
from typer.testing import CliRunner

from embedb.backends.http import HttpBackend
from embedb.cli import app
from embedb.config import Settings
from embedb.errors import InvalidArgumentError


def test_a_setting_given_to_serve_reaches_the_engine(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", extra_args=["--setting", "index_min_rows=16", "--setting", "durability=relaxed"])
    try:
        db = HttpBackend(server.url, token=server.token)
        db.create_collection("docs", dimension=8)  # quick setup declares an HNSW index
        rows = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
        db.insert("docs", {"id": np.arange(100), "vector": rows})
        db.flush("docs")
        (name,) = db.list_indexes("docs")
        described = db.wait_for_index("docs", name, timeout=60)
        # 100 rows are below the default index_min_rows (1024): only the setting gets them an index
        assert described["state"] == "Finished" and described["indexed_rows"] == 100
        db.close()
    finally:
        server.stop()


def test_setting_assignments_are_typed_by_their_defaults() -> None:
    assert Settings.parse_assignments(["index_min_rows=16", "durability=relaxed", "build_indexes=false"]) == {
        "index_min_rows": 16,
        "durability": "relaxed",
        "build_indexes": False,
    }
    for bad in ("index_min_rows", "index_min_rows=many", "no_such_setting=1", "allow_code_models=x"):
        with pytest.raises(InvalidArgumentError):
            Settings.parse_assignments([bad])


def test_serve_refuses_a_bad_setting_before_opening_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "data"), "--no-auth", "--setting", "index_min_rows=many"])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidArgumentError)
    assert "index_min_rows takes an integer" in str(result.exception)
    assert not (tmp_path / "data").exists()
