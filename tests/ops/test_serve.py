"""`tocsin serve` as a process: graceful shutdown on SIGTERM, WebSockets closed with 1001,
JSON logs with request ids, and the checks before several processes start."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import POSTGRES_URL
from tests.fixtures_server import ROOT, RunningServer, start_server

BODY = json.dumps({"query": "{ __typename }"}).encode()


def tocsin(*args: str, cwd: Path, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60, env=full_env)


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def start_request(port: int, request_id: str) -> socket.socket:
    """A POST whose headers and first body bytes are sent: in flight until the rest comes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sock.sendall(
        b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"X-Request-ID: {request_id}\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()
        + BODY[:5]
    )
    return sock


def read_response(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def alive(pid: str) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except OSError:
        return False


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_sigterm_lets_an_in_flight_request_finish_and_refuses_new_ones(tmp_path: Path):
    server = start_server(tmp_path, extra_env={"TOCSIN_LOG_LEVEL": "INFO"})
    port = port_of(server)
    try:
        sock = start_request(port, "in-flight-1")
        time.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not refused(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert refused(port), "still accepting connections after SIGTERM"
        assert server.process.poll() is None, "exited with a request still in flight"
        sock.sendall(BODY[5:])
        response = read_response(sock)
        assert response.startswith(b"HTTP/1.1 200 ")
        assert b"x-request-id: in-flight-1" in response.lower()
        assert response.endswith(b'{"data":{"__typename":"Query"}}')
        server.process.wait(timeout=15)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Cancel" not in log
    assert "delivery worker started" in log  # without --no-worker, serve runs one


def test_requests_that_outlast_the_grace_period_are_cut_off(tmp_path: Path):
    server = start_server(tmp_path, extra_env={"TOCSIN_SHUTDOWN_GRACE_SECONDS": "1",
                                               "TOCSIN_LOG_LEVEL": "INFO"})
    try:
        sock = start_request(port_of(server), "stuck-1")  # never completed
        time.sleep(0.3)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        assert time.monotonic() - started < 8
        sock.close()
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert "timeout graceful shutdown exceeded" in server.log_path.read_text()


def test_sigterm_closes_websockets_with_1001(tmp_path: Path):
    """A status-page subscriber on a real `tocsin serve` sees 1001 when the server stops."""
    server = start_server(tmp_path, extra_env={"TOCSIN_LOG_LEVEL": "INFO"})
    try:
        url = server.url.replace("http://", "ws://") + "/graphql"
        with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as websocket:
            websocket.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(websocket.recv(timeout=5))["type"] == "connection_ack"
            websocket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { statusPage { updatedAt } }"}}))
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:  # a first snapshot may arrive before the close
                    websocket.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert closed.value.rcvd.reason == "server shutting down"
        server.process.wait(timeout=15)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert "Traceback" not in server.log_path.read_text()


def test_production_logs_are_json_lines_carrying_the_request_id(tmp_path: Path):
    server = start_server(tmp_path, extra_env={"TOCSIN_ENV": "production",
                                               "TOCSIN_LOG_LEVEL": "INFO"})
    try:
        response = httpx.post(server.graphql, json={"query": "{ __typename }"},
                              headers={"X-Request-ID": "trace-me-7"})
        assert response.headers["x-request-id"] == "trace-me-7"
    finally:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()
             if line.strip()]
    assert lines, "nothing was logged"
    assert all({"at", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line.get("requestId") == "trace-me-7"]
    assert len(access) == 1
    assert access[0]["path"] == "/graphql" and access[0]["status"] == 200
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's too


def test_log_level_comes_from_the_setting(tmp_path: Path):
    server = start_server(tmp_path, extra_env={"TOCSIN_ENV": "production",
                                               "TOCSIN_LOG_LEVEL": "WARNING"})
    try:
        httpx.post(server.graphql, json={"query": "{ __typename }"})
    finally:
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
    levels = {json.loads(line)["level"] for line in server.log_path.read_text().splitlines()
              if line.strip()}
    assert levels <= {"WARNING", "ERROR", "CRITICAL"}


def test_an_unknown_log_level_is_refused_by_name(tmp_path: Path):
    result = tocsin("migrate", "--database-url", f"sqlite://{tmp_path / 'x.db'}", cwd=tmp_path,
                    env={"TOCSIN_LOG_LEVEL": "LOUD"})
    assert result.returncode == 2 and "TOCSIN_LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_processes_refuse_sqlite(tmp_path: Path):
    result = tocsin("serve", "--workers", "2", "--database-url",
                    f"sqlite://{tmp_path / 'x.db'}", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert "SQLite" in result.stderr and "TOCSIN_DATABASE_URL" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_several_processes_refuse_the_in_process_broker(tmp_path: Path):
    # Refused before anything connects: the database need not exist.
    result = tocsin("serve", "--workers", "3", "--database-url",
                    "postgres://tocsin@127.0.0.1:9/nowhere", cwd=tmp_path,
                    env={"TOCSIN_BROKER_URL": "memory://"})
    assert result.returncode == 2 and result.stdout == ""
    assert "TOCSIN_BROKER_URL" in result.stderr and "memory://" in result.stderr


def test_one_process_may_use_sqlite_and_the_in_process_broker_without_a_worker(
        tmp_path: Path):
    server = start_server(tmp_path, args=["--workers", "1", "--no-worker"],
                          extra_env={"TOCSIN_LOG_LEVEL": "INFO"})
    try:
        assert httpx.get(server.url + "/readyz").status_code == 200
    finally:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) is not None
    log = server.log_path.read_text()
    assert "Application startup complete" in log
    assert "delivery worker started" not in log  # left to `tocsin worker` processes


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TOCSIN_TEST_POSTGRES_URL")
def test_several_processes_serve_on_postgresql_and_stop_together(tmp_path: Path):
    from tests.conftest import create_postgres_database, drop_postgres_database

    assert POSTGRES_URL
    url = asyncio.run(create_postgres_database(POSTGRES_URL))
    try:
        redis_url = os.environ.get("TOCSIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        server = start_server(tmp_path, database_url=url, args=["--workers", "2"],
                              extra_env={"TOCSIN_BROKER_URL": redis_url,
                                         "TOCSIN_LOG_LEVEL": "INFO"})
        try:
            for _ in range(20):
                assert httpx.get(server.url + "/readyz").json()["database"] == "up"
            pids = subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", "spawn_main"],
                                  capture_output=True, text=True).stdout.split()
            assert len(pids) == 2  # the supervisor's two API processes
        finally:
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=20)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids)
        log = server.log_path.read_text()
        assert log.count("draining: /readyz answers 503") == 2  # each process drained
        assert log.count("Application shutdown complete") == 2
    finally:
        asyncio.run(drop_postgres_database(POSTGRES_URL, url))
