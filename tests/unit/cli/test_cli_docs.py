"""Every ``embedb`` command is documented in docs/cli.md (a new command without docs fails here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.main import get_command

from embedb.cli import app

DOCS = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def command_paths(command: Any, prefix: tuple[str, ...] = ("embedb",)) -> list[str]:
    if hasattr(command, "commands"):
        return [path for name, sub in sorted(command.commands.items()) for path in command_paths(sub, (*prefix, name))]
    return [" ".join(prefix)]


def test_every_command_is_in_docs_cli_md() -> None:
    text = DOCS.read_text()
    paths = command_paths(get_command(app))
    assert len(paths) > 20
    undocumented = [path for path in paths if f"`{path}" not in text]
    assert undocumented == [], f"document these commands in docs/cli.md: {undocumented}"


def test_every_command_has_help() -> None:
    def walk(command: Any) -> list[Any]:
        if hasattr(command, "commands"):
            return [leaf for sub in command.commands.values() for leaf in walk(sub)]
        return [command]

    assert [c.name for c in walk(get_command(app)) if not (c.help or "").strip()] == []
