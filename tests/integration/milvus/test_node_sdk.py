"""The official Milvus Node SDK (``@zilliz/milvus2-sdk-node``) runs its README quickstart against ``embedb serve --milvus-port``.

``tests/node/quickstart.mjs`` is that quickstart as users write it (MilvusClient
with an address and token; createCollection with a schema and index params,
load, insert, search with output fields and a filter, query, get, delete, count,
drop), checking each answer: the nearest hit of an inserted vector is that row,
the filter keeps only matching rows, counts drop after deletes. It runs under
``node`` against the same real server process the pymilvus tests use, with an
API token; the SDK is the pinned version of ``tests/node/package-lock.json``,
which ``make install`` installs (``npm ci --prefix tests/node``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .conftest import MilvusServer

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
SUMMARY = "node quickstart ok:"


def test_node_sdk_readme_quickstart(milvus_server: MilvusServer) -> None:
    node = shutil.which("node")
    assert node, "node (Node.js 18+) is not on PATH; the Node SDK test needs it"
    completed = subprocess.run(
        [node, str(NODE_DIR / "quickstart.mjs"), milvus_server.uri, milvus_server.tokens["admin"]],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = f"--- node stdout ---\n{completed.stdout}\n--- node stderr ---\n{completed.stderr}"
    hint = (
        ""
        if (NODE_DIR / "node_modules").is_dir()
        else "\n(tests/node/node_modules is missing: run `npm ci --prefix tests/node`)"
    )
    assert completed.returncode == 0, f"the Node quickstart exited {completed.returncode}{hint}\n{output}"
    assert SUMMARY in completed.stdout, f"the Node quickstart did not print its summary line{hint}\n{output}"
