"""Settings of an EmbeDB data directory, as small typed values."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from embedb.errors import InvalidArgumentError

_MODULE_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Durability(enum.StrEnum):
    """When an acknowledged write is safe."""

    # fsync before acknowledging: survives kill -9 and an OS crash.
    FSYNC = "fsync"
    # written to the OS before acknowledging: survives kill -9, not a power cut.
    RELAXED = "relaxed"


@dataclass(frozen=True)
class Settings:
    """Tunables of the embedded engine; every field has a sound default.

    ``segment_max_rows`` / ``segment_max_bytes`` seal the growing segment when
    either is reached; ``wal_max_bytes`` forces a flush when the log of
    un-sealed changes (deletes included) grows past it. ``compaction_*`` decide
    which sealed segments the background compactor merges. ``build_indexes``
    turns background index builds on; a sealed segment with fewer than
    ``index_min_rows`` rows gets no index (exact search is as fast there).
    ``allow_code_models`` names the module prefixes whose Python callables
    code-bearing model versions may run (``embedb.models.code_policy``): ``None``,
    the embedded default, allows any; ``embedb serve`` passes what
    ``--allow-code-models`` gave (none unless the operator named some).
    """

    durability: Durability = Durability.FSYNC
    segment_max_rows: int = 1_000_000
    segment_max_bytes: int = 256 * 1024 * 1024
    wal_max_bytes: int = 512 * 1024 * 1024
    compaction_min_segment_rows: int = 20_000
    compaction_deleted_ratio: float = 0.2
    background_compaction: bool = True
    background_interval_s: float = 2.0
    verify_checksums: bool = True
    # CPU threads a backfill's model may use (0: all); the rest stay free for searches.
    backfill_threads: int = 1
    # Rows a backfill embeds and commits at a time: a crash loses at most this much of its work.
    backfill_chunk_rows: int = 4096
    build_indexes: bool = True
    index_min_rows: int = 1024
    allow_code_models: tuple[str, ...] | None = None

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the given fields replaced; raise on unknown names or bad values."""
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise InvalidArgumentError(
                f"unknown settings {sorted(unknown)}; known: {sorted(self.__dataclass_fields__)}"
            )
        if "durability" in overrides:
            try:
                overrides["durability"] = Durability(overrides["durability"])
            except ValueError:
                raise InvalidArgumentError(
                    f"durability must be one of {[d.value for d in Durability]}, got {overrides['durability']!r}"
                ) from None
        if overrides.get("allow_code_models") is not None:
            overrides["allow_code_models"] = module_prefixes(overrides["allow_code_models"])
        updated = replace(self, **overrides)
        updated.check()
        return updated

    @classmethod
    def parse_assignments(cls, assignments: Sequence[str]) -> dict[str, Any]:
        """``["index_min_rows=16", "durability=relaxed"]`` as typed overrides for ``with_overrides``.

        Each value is read as the type of the setting's default (an integer, a number,
        ``true``/``false``, a durability name). Raises ``InvalidArgumentError`` naming
        the assignment that is malformed, unknown or of the wrong type.
        """
        defaults = cls()
        parsed: dict[str, Any] = {}
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            name = name.strip()
            if not sep or not name:
                raise InvalidArgumentError(f"a setting is NAME=VALUE, got {assignment!r}")
            if name not in cls.__dataclass_fields__ or name == "allow_code_models":
                known = sorted(set(cls.__dataclass_fields__) - {"allow_code_models"})
                raise InvalidArgumentError(f"unknown setting {name!r}; known: {known}")
            default = getattr(defaults, name)
            text = text.strip()
            try:
                if isinstance(default, bool):
                    if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(text)
                    parsed[name] = text.lower() in ("true", "1", "yes")
                elif isinstance(default, int):
                    parsed[name] = int(text)
                elif isinstance(default, float):
                    parsed[name] = float(text)
                else:
                    parsed[name] = text
            except ValueError:
                kinds = {bool: "true or false", int: "an integer", float: "a number"}
                raise InvalidArgumentError(
                    f"setting {name} takes {kinds.get(type(default), 'a string')}, got {text!r}"
                ) from None
        return parsed

    def check(self) -> None:
        for name in (
            "segment_max_rows",
            "segment_max_bytes",
            "wal_max_bytes",
            "compaction_min_segment_rows",
            "index_min_rows",
            "backfill_chunk_rows",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"setting {name} must be a positive integer, got {value!r}")
        if not 0.0 < self.compaction_deleted_ratio <= 1.0:
            raise InvalidArgumentError("setting compaction_deleted_ratio must be in (0, 1]")
        if self.background_interval_s <= 0:
            raise InvalidArgumentError("setting background_interval_s must be positive")
        if (
            not isinstance(self.backfill_threads, int)
            or isinstance(self.backfill_threads, bool)
            or self.backfill_threads < 0
        ):
            raise InvalidArgumentError(
                f"setting backfill_threads must be 0 (all) or a positive integer, got {self.backfill_threads!r}"
            )
        if self.allow_code_models is not None:
            module_prefixes(self.allow_code_models)


def module_prefixes(prefixes: Iterable[str]) -> tuple[str, ...]:
    """Return dotted module prefixes (``mypkg``, ``mypkg.embedders``) sorted and deduplicated.

    Raises ``InvalidArgumentError`` for a string given where a list belongs, or a
    prefix that is not a dotted module path (an empty one would allow every module).
    """
    if isinstance(prefixes, str) or not isinstance(prefixes, Iterable):
        raise InvalidArgumentError(f"module prefixes must be a list of module paths, got {prefixes!r}")
    checked = set()
    for prefix in prefixes:
        if not isinstance(prefix, str) or not _MODULE_PREFIX.fullmatch(prefix):
            raise InvalidArgumentError(
                f"{prefix!r} is not a module prefix: give a dotted module path such as 'mypkg' or 'mypkg.embedders'"
            )
        checked.add(prefix)
    return tuple(sorted(checked))
