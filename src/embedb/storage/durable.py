"""The two durability primitives every on-disk writer of EmbeDB uses."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by path (a folder's fsync makes the names in it durable)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def make_dirs_durable(folder: Path) -> None:
    """``mkdir -p folder``, fsyncing the parent of each folder created.

    A new folder's name lives in its parent: without this, an OS crash can take
    away a just-created folder together with the acknowledged data in it.
    """
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir(exist_ok=True)
        fsync_path(created.parent)
