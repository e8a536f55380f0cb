"""The source stays in small files: none over 600 lines (STYLE.md: split before a file becomes a god file)."""

from __future__ import annotations

from pathlib import Path

import embedb

MAX_LINES = 600


def test_no_source_file_is_over_600_lines() -> None:
    root = Path(embedb.__file__).parent
    long = {
        str(path.relative_to(root)): count
        for path in sorted(root.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these files: {long}"
