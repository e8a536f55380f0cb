"""A real ``embedb serve`` process on a free loopback port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from embedb.server.auth import TokenStore

SERVE = "from embedb.cli import main; main()"
# The modules of the test embedders that suites register over a server (--allow-code-models).
TEST_EMBEDDERS = ("embedb.models.testing", "tests.support")
REPOSITORY = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def issue_token(data_path: Path, role: str = "admin", collections: Sequence[str] | None = None) -> str:
    """Create a token in the data directory's catalog (works while a server runs there)."""
    store = TokenStore.open(data_path)
    try:
        token, _ = store.create(role=role, collections=collections, name=f"test-{role}")
    finally:
        store.close()
    return token


@dataclass
class ServerProcess:
    """A started server: its URL, an admin token (None without auth) and the process."""

    url: str
    token: str | None
    data_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_server(
    data_path: Path,
    *,
    auth: bool = True,
    extra_args: Sequence[str] = (),
    scheme: str = "http",
    verify: bool | str = True,
    wait_s: float = 60.0,
    port: int | None = None,
    settings: Mapping[str, Any] | None = None,
    allow_code_models: Sequence[str] = (),
) -> ServerProcess:
    """Start ``embedb serve data_path`` and wait until ``/healthz`` answers; raises ``RuntimeError`` if it dies.

    ``settings`` (engine settings such as ``segment_max_rows``) run it through
    ``tests.support.configured_serve``, which opens the directory with them first.
    ``allow_code_models`` become ``--allow-code-models`` flags (``TEST_EMBEDDERS``
    for suites that register the test embedders).
    """
    token = issue_token(data_path) if auth else None
    port = port or free_port()
    args = [
        "serve",
        str(data_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--auth" if auth else "--no-auth",
        *(arg for prefix in allow_code_models for arg in ("--allow-code-models", prefix)),
        *extra_args,
    ]
    log_path = data_path.parent / f"server-{port}.log"
    if settings is None:
        command = [sys.executable, "-c", SERVE, *args]
    else:
        command = [sys.executable, "-m", "tests.support.configured_serve", json.dumps(dict(settings)), *args]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY if settings is not None else None
        )
    server = ServerProcess(f"{scheme}://127.0.0.1:{port}", token, data_path, process, log_path, args)
    try:
        tls: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"embedb serve exited with {process.returncode}:\n{server.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/healthz", timeout=1.0, verify=tls).status_code == 200:
                    return server
            time.sleep(0.1)
        raise RuntimeError(f"embedb serve did not answer within {wait_s}s:\n{server.log()}")
    except BaseException:
        server.kill()  # never leave a server behind when the caller gets no handle on it
        raise
