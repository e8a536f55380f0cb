"""``embedb tune-index``: a progress bar, the Pareto front as a table and an SVG chart, exit 1 when no recipe fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import embedb
from embedb.cli import app

runner = CliRunner()


def test_tune_index_prints_the_front_writes_a_plot_and_applies(tmp_path: Path) -> None:
    path = tmp_path / "data"
    rng = np.random.default_rng(5)
    vectors = (rng.normal(size=(20, 16))[rng.integers(0, 20, 3_000)] + 0.3 * rng.normal(size=(3_000, 16))).astype(
        np.float32
    )
    with embedb.connect(path) as db:
        db.create_collection("docs", dimension=16)
        db.insert("docs", [{"id": i, "vector": vectors[i].tolist()} for i in range(len(vectors))])
    args = ["tune-index", str(path), "docs", "vector", "--trials", "4", "--index-type", "IVF_FLAT", "--recall", "0.9"]
    plot = tmp_path / "front.svg"
    shown = runner.invoke(app, [*args, "--plot", str(plot), "--apply"])
    assert shown.exit_code == 0, shown.output
    assert "Pareto front" in shown.stdout and "applied" in shown.stdout
    svg = plot.read_text()
    assert svg.startswith("<svg") and svg.count("<circle") > 5 and "<polyline" in svg
    with embedb.connect(path) as db:
        assert db.describe_index("docs", "vector")["index_type"] == "IVF_FLAT"
    impossible = runner.invoke(app, [*args, "--max-memory-mb", "0.001", "--json"])
    assert impossible.exit_code == 1 and json.loads(impossible.stdout)["best"] is None
