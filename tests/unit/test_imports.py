"""``import embedb`` and an HTTP client load no server, index or model library.

Each case runs in a fresh interpreter, because the test process itself has
imported everything by now. faiss may load once an embedded database opens;
the web framework only when a server is built.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY_MODULES = ("fastapi", "uvicorn", "starlette", "faiss", "torch", "sentence_transformers", "sklearn")

CASES = {
    "import embedb": "import embedb",
    "import embedb.protocol": "import embedb.protocol",
    # Building the client opens no connection: nothing listens on port 1, and nothing needs to.
    "connect over http": "import embedb\nembedb.connect('http://127.0.0.1:1').close()",
    "HttpBackend": "from embedb.backends.http import HttpBackend\nHttpBackend('http://127.0.0.1:1').close()",
}


def modules_after(code: str) -> set[str]:
    """The names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    return set(json.loads(completed.stdout.splitlines()[-1]))


@pytest.mark.parametrize("code", CASES.values(), ids=CASES.keys())
def test_loads_no_server_index_or_model_library(code: str) -> None:
    loaded = modules_after(code)
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY_MODULES)
    assert heavy == [], f"{code!r} loaded {heavy}"


@pytest.mark.parametrize("code", [CASES["connect over http"], CASES["HttpBackend"]], ids=["connect", "HttpBackend"])
def test_the_http_client_never_imports_the_server(code: str) -> None:
    loaded = modules_after(code)
    assert not any(name == "embedb.server" or name.startswith("embedb.server.") for name in loaded)
