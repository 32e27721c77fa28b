"""A real `tocsin serve` process on a free port of 127.0.0.1, for tests that must talk to the
server the way users do (a real socket, real uvicorn)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    admin_token: str
    process: subprocess.Popen
    log_path: Path

    @property
    def graphql(self) -> str:
        return self.url + "/graphql"


def start_server(tmp: Path, database_url: str | None = None, extra_env: dict | None = None,
                 args: list[str] | None = None) -> RunningServer:
    port = free_port()
    # A PostgreSQL run refuses to start without a secret key (channel secrets): tests bring one.
    env = {"TOCSIN_SECRET_KEY": "tocsin-test-server-secret-key-0123456789",
           **os.environ, "TOCSIN_DATABASE_URL": database_url or f"sqlite://{tmp / 'tocsin.db'}",
           "TOCSIN_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **(extra_env or {})}
    log_path = tmp / f"server-{port}.log"
    stdout_path = tmp / f"server-{port}.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *(args or [])],
        cwd=tmp, env=env, stdout=stdout_path.open("w"), stderr=log_path.open("w"),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tocsin serve exited: {log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"tocsin serve did not come up: {log_path.read_text()}")
    token = stdout_path.read_text().strip()
    return RunningServer(f"http://127.0.0.1:{port}", token, process, log_path)


def stop_server(server: RunningServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("served"))
    yield server
    stop_server(server)


def node_peers() -> Path:
    """tests/js with its npm packages installed, or a skip saying why not."""
    js = ROOT / "tests" / "js"
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the JavaScript reference clients cannot run")
    if not (js / "node_modules").is_dir():
        pytest.skip("tests/js/node_modules is missing: run `make install` (npm ci)")
    return js
