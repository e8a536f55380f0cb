"""The notebooks in ``notebooks/`` run top to bottom with nbclient, against the embedded default, and show what they say.

Each runs in a fresh kernel of this environment, in a scratch directory. A code
cell whose first line is ``# expect: TEXT`` must show TEXT in its output (text or
HTML); one whose first line is ``# expect-image`` must draw a plot (a PNG).
Executed copies go to ``test-artifacts/notebooks`` for inspection.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from tests.support.server_process import REPOSITORY

pytestmark = [pytest.mark.slow, pytest.mark.model]

NOTEBOOKS = sorted((REPOSITORY / "notebooks").glob("*.ipynb"))
ARTIFACTS = REPOSITORY / "test-artifacts" / "notebooks"


def test_there_are_the_three_notebooks() -> None:
    assert [path.name for path in NOTEBOOKS] == ["lifecycle.ipynb", "migrating_from_milvus.ipynb", "quickstart.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_runs_and_shows_what_it_says(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline, as in Jupyter
    for name, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)  # the kernel inherits them
    notebook = nbformat.read(path, as_version=4)
    shutil.copy(path, tmp_path / path.name)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, ARTIFACTS / path.name)
    checked = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        first = cell.source.splitlines()[0] if cell.source else ""
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        shown = "\n".join(_texts(cell.outputs))
        if first.startswith("# expect: "):
            assert first.removeprefix("# expect: ") in shown, f"{path.name}: {cell.source}\n--- shown:\n{shown[:2000]}"
            checked += 1
        elif first == "# expect-image":
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), f"{path.name}: no plot from\n{cell.source}"
            checked += 1
    assert checked >= 3, "each notebook checks at least three of its outputs"
    assert not [p for p in tmp_path.iterdir() if p.name != path.name], "a notebook cleans up its data directories"


def _texts(outputs: list) -> list[str]:
    found = []
    for output in outputs:
        if output.output_type == "stream":
            found.append(output.text)
        for kind in ("text/plain", "text/html"):
            if kind in output.get("data", {}):
                found.append(output["data"][kind])
    return found
