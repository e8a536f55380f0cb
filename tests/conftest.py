"""Every test module's tests run on one pytest-xdist worker, and the contract suite's on one.

``make test`` runs the behaviour tests on two workers (``-n 2 --dist loadgroup``):
a module's own fixtures (a Ray instance, a model loaded once) then start once,
and the contract suite's session backends (a server process, a Ray cluster with
its S3 server) start once, on the worker that runs the whole suite.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        module = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("contract" if module.startswith("tests/contract/") else module))
