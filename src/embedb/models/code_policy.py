"""Which code-bearing model versions a database may register and load: ``CodeModelPolicy``.

Most flavors store data (weights, vocabularies, skops files checked against an
allowlist) and load it without importing anything the model names. The
``callable`` flavor stores an import path ``package.module:attribute`` and calls
that attribute on every text it embeds, so whoever registers such a version
chooses code that the process runs. Embedded, that is the caller's own code and
every import path is allowed. A server allows only callables whose module is
under a prefix its operator named (``embedb serve --allow-code-models PREFIX``);
anything else is refused with ``PermissionDeniedError`` before it is imported.

A prefix matches on module-path boundaries: ``mypkg`` allows ``mypkg:embed`` and
``mypkg.sub:embed``, never ``mypkgevil:embed``. What the policy does not do:
it cannot tell what an allowed module's code does — an allowed callable, or a
name such a module imports (``from subprocess import getoutput``), runs with
the process's rights.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from embedb.config import module_prefixes
from embedb.errors import PermissionDeniedError

# Flavors whose stored artifact names code to run; their versions go through the policy.
CODE_FLAVORS = frozenset({"callable"})
ALLOW_FLAG = "--allow-code-models"


def under_prefix(import_path: str, prefixes: Iterable[str]) -> bool:
    """Whether the module of ``package.module:attribute`` is one of ``prefixes`` or inside one."""
    module = import_path.partition(":")[0]
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


class CodeModelPolicy:
    """The module prefixes a database's code-bearing versions may run: all of them, or only those named.

    ``restrict`` narrows the policy and never widens it, so a server can restrict
    a database that an embedded client in the same process opened first. Thread-safe.
    """

    def __init__(self, prefixes: Iterable[str] | None = None) -> None:
        self._prefixes: tuple[str, ...] | None = None if prefixes is None else module_prefixes(prefixes)
        self._lock = threading.Lock()

    @property
    def prefixes(self) -> tuple[str, ...] | None:
        """The allowed module prefixes, sorted; ``None`` when every module is allowed."""
        return self._prefixes

    def allows(self, import_path: str) -> bool:
        """Whether a callable with this import path may be registered and loaded."""
        prefixes = self._prefixes
        return prefixes is None or under_prefix(import_path, prefixes)

    def check(self, import_path: str, *, subject: str) -> None:
        """Return if ``import_path`` is allowed; raise ``PermissionDeniedError`` naming the flag otherwise."""
        prefixes = self._prefixes
        if prefixes is None or under_prefix(import_path, prefixes):
            return
        allowed = ", ".join(prefixes) if prefixes else "none"
        raise PermissionDeniedError(
            f"{subject} would run the Python callable {import_path!r}, and this database runs code-bearing "
            f"models only from modules under the allowed prefixes (allowed: {allowed}). A server's operator "
            f"allows a prefix with 'embedb serve ... {ALLOW_FLAG} PREFIX'; every module under it then runs "
            "as the server's user",
            import_path=import_path,
            allowed=list(prefixes),
        )

    def restrict(self, prefixes: Iterable[str]) -> None:
        """Allow from now on only modules under both the current prefixes and ``prefixes``.

        Raises ``InvalidArgumentError`` for a prefix that is not a dotted module path.
        """
        wanted = module_prefixes(prefixes)
        with self._lock:
            current = self._prefixes
            if current is None:
                self._prefixes = wanted
                return
            # Prefix sets intersect by keeping each prefix that lies under one of the other set.
            kept = {p for p in wanted if under_prefix(p, current)} | {p for p in current if under_prefix(p, wanted)}
            self._prefixes = tuple(sorted(kept))
