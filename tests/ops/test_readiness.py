"""/readyz names the event broker: a real `tocsin serve` on a private redis-server that the
test stops and starts again. The subscriptions gauge is read from the same process."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.exceptions import RedisError
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.fixtures_server import free_port, start_server, stop_server


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def ready(url: str) -> httpx.Response:
    return httpx.get(url + "/readyz", timeout=10)


def eventually_ready(url: str, status: int, seconds: float = 15) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = ready(url)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def gauge(url: str, name: str) -> float | None:
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_readyz_answers_503_naming_the_broker_while_redis_is_down(tmp_path, private_redis):
    server = start_server(tmp_path, extra_env={"TOCSIN_BROKER_URL": private_redis.url,
                                               "TOCSIN_BROKER_CHANNEL": "tocsin_readyz"})
    try:
        up = eventually_ready(server.url, 200)
        assert up.json() == {"status": "ok", "database": "up", "broker": "up"}
        assert gauge(server.url, "tocsin_subscriptions") == 0

        with connect(server.url.replace("http://", "ws://") + "/graphql",
                     subprotocols=[Subprotocol("graphql-transport-ws")]) as websocket:
            websocket.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(websocket.recv(timeout=5))["type"] == "connection_ack"
            websocket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { statusPage { updatedAt } }"}}))
            assert json.loads(websocket.recv(timeout=10))["type"] == "next"  # a snapshot
            assert gauge(server.url, "tocsin_subscriptions") == 1

            private_redis.stop()
            down = eventually_ready(server.url, 503)
            assert down.status_code == 503
            assert down.json() == {"status": "unavailable", "database": "up", "broker": "down"}
            assert httpx.get(server.url + "/healthz").status_code == 200  # alive all the same

            private_redis.start()  # the same port: the broker reconnects on its own
            again = eventually_ready(server.url, 200)
            assert again.json() == {"status": "ok", "database": "up", "broker": "up"}
        deadline = time.monotonic() + 5
        while gauge(server.url, "tocsin_subscriptions") != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gauge(server.url, "tocsin_subscriptions") == 0
    finally:
        stop_server(server)
    assert "Traceback" not in server.log_path.read_text()


async def test_each_broker_adapter_pings_its_server_and_raises_when_it_is_gone(private_redis):
    from app.broker import create_broker
    from tests.conftest import POSTGRES_URL

    closed = free_port()  # nothing listens here
    urls = [("memory://", None), (private_redis.url, f"redis://127.0.0.1:{closed}/0")]
    if POSTGRES_URL:
        urls.append((POSTGRES_URL, f"postgres://postgres@127.0.0.1:{closed}/nowhere"))
    for up_url, down_url in urls:
        up = create_broker(up_url, channel="tocsin_ping_test")
        await up.start()
        try:
            await asyncio.wait_for(up.ping(), 5)
        finally:
            await up.close()
        if down_url is None:
            continue
        down = create_broker(down_url, channel="tocsin_ping_test")
        await down.start()
        try:
            with pytest.raises((OSError, ConnectionError, RedisError)):
                await asyncio.wait_for(down.ping(), 5)
        finally:
            await down.close()
