"""The planner tests search the same generated 32-d data as the index tests."""

from __future__ import annotations

from tests.unit.index.conftest import data_32d

__all__ = ["data_32d"]
