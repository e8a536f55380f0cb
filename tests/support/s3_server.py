"""A real S3-compatible server on loopback for the cluster tests: moto's server mode in a subprocess.

``start_s3_server()`` picks a free port, starts ``python -m moto.server`` and
waits until it answers; ``S3Server.storage(name)`` is an ``s3://`` URL under a
bucket of its own. Credentials are dummies moto accepts; they go into this
process's environment (and so into Ray workers started after it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import httpx

from tests.support.server_process import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    endpoint_url: str

    def storage(self, name: str) -> str:
        """A fresh ``s3://`` location (a bucket per call, so runs never see each other's objects)."""
        return f"s3://embedb-{name}-{uuid.uuid4().hex[:8]}/cluster"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def start_s3_server(timeout_s: float = 30.0) -> S3Server:
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(endpoint, timeout=1.0)
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            return S3Server(process, endpoint)
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError("moto's S3 server exited at start") from None
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"moto's S3 server did not answer on {endpoint} within {timeout_s}s")
