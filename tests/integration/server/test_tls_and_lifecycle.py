"""TLS, refusing unsafe options, graceful shutdown, and kill -9 during writes (every acknowledged write survives)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.support.server_process import ServerProcess, free_port, start_server

import embedb
from embedb.backends.http import HttpBackend
from embedb.cli import main
from embedb.errors import EmbedbError, UnavailableError


def _self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make a certificate")
def test_tls_serves_https_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed_certificate(tmp_path)
    server = start_server(
        tmp_path / "data", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)], scheme="https", verify=str(cert)
    )
    try:
        secure = HttpBackend(server.url, token=server.token, verify=str(cert))
        secure.create_collection("tls", dimension=2)
        assert secure.list_collections() == ["tls"]
        secure.close()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        with embedb.connect(server.url, token=server.token) as db:  # trusts the CA from SSL_CERT_FILE
            assert db.has_collection("tls")
        untrusted = HttpBackend(server.url, token=server.token)
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(UnavailableError):
            HttpBackend(server.url, token=server.token).list_collections()
        untrusted.close()
        with pytest.raises(UnavailableError):
            HttpBackend(server.url.replace("https://", "http://"), token=server.token).list_collections()
    finally:
        server.stop()


def _serve_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run ``embedb serve ...`` in this process (it must fail before listening); returns (exit status, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(["serve", *args, "--port", str(free_port())])
    return int(exited.value.code or 0), capsys.readouterr().err


def test_refuses_a_public_address_without_auth_and_half_a_tls_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = _serve_in_process(capsys, str(tmp_path / "data"), "--host", "0.0.0.0", "--no-auth")
    assert status == 2 and "refusing to serve on 0.0.0.0 without auth" in err
    status, err = _serve_in_process(capsys, str(tmp_path / "data"), "--tls-cert", str(tmp_path / "c.pem"))
    assert status == 2 and "both --tls-cert and --tls-key" in err
    assert not (tmp_path / "data").exists()  # refused before touching the directory


def test_no_auth_on_loopback_and_a_locked_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = start_server(tmp_path / "data", auth=False)
    try:
        with embedb.connect(server.url) as db:
            db.create_collection("open", dimension=2)
            assert db.list_collections() == ["open"]
        status, err = _serve_in_process(capsys, str(tmp_path / "data"), "--no-auth")
        assert status == 2 and "directory_locked" in err  # an error, never a gate's 1
    finally:
        assert server.stop() == 0


def _write_until_stopped(
    url: str, token: str | None, name: str, acknowledged: list[int], start: int, stop: threading.Event
) -> None:
    """Insert batches of 5 rows; record the keys of every batch the server acknowledged."""
    client = HttpBackend(url, token=token, timeout=10)
    key = start
    rng = np.random.default_rng(start)
    try:
        while not stop.is_set():
            keys = list(range(key, key + 5))
            try:
                client.insert(name, {"id": keys, "vector": rng.random((5, 4), dtype=np.float32) + 0.01})
            except (EmbedbError, OSError):
                return  # the server went away: this batch was not acknowledged
            acknowledged.extend(keys)
            key += 5
    finally:
        client.close()


def _run_writers(
    server: ServerProcess, name: str, at_least: int
) -> tuple[list[int], list[threading.Thread], threading.Event]:
    """Start 4 writer threads and return once they have ``at_least`` acknowledged keys (still writing)."""
    acknowledged: list[int] = []
    stop = threading.Event()
    writers = [
        threading.Thread(
            target=_write_until_stopped, args=(server.url, server.token, name, acknowledged, n * 1_000_000, stop)
        )
        for n in range(4)
    ]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)
    return acknowledged, writers, stop


def _present(server: ServerProcess, name: str, keys: list[int]) -> set[int]:
    with HttpBackend(server.url, token=server.token) as db:
        found: set[int] = set()
        for start in range(0, len(keys), 2000):
            found.update(row["id"] for row in db.get(name, keys[start : start + 2000], output_fields=["id"]))
    return found


def test_kill_9_during_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    with HttpBackend(server.url, token=server.token) as db:
        db.create_collection("crash", dimension=4)
    acknowledged, writers, stop = _run_writers(server, "crash", at_least=250)
    server.kill()
    stop.set()
    for writer in writers:
        writer.join(timeout=30)
    assert len(acknowledged) >= 250, "the writers did not get going"
    restarted = start_server(data)
    try:
        present = _present(restarted, "crash", acknowledged)
        assert not set(acknowledged) - present
    finally:
        restarted.stop()


def test_graceful_shutdown_finishes_writes_and_closes_the_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    with HttpBackend(server.url, token=server.token) as db:
        db.create_collection("calm", dimension=4)
    acknowledged, writers, stop = _run_writers(server, "calm", at_least=150)
    assert server.stop(signal.SIGTERM) == 0
    stop.set()
    for writer in writers:
        writer.join(timeout=30)
    assert "Traceback" not in server.log()
    with embedb.connect(str(data), read_only=True) as reopened:  # the writer lock was released
        keys = {row["id"] for row in reopened.query("calm", "", output_fields=["id"])}
    assert set(acknowledged) <= keys
