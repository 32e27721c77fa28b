"""Scale-out, end to end: two API processes (`tocsin serve --no-worker`) and two `tocsin
worker` processes on one fresh PostgreSQL database and one Redis (a channel of their own).

- A subscriber on each API process sees a mutation made on the other (graphql-transport-ws).
- SLA breaches are emitted once per timer while both workers' SLA clocks run.
- Failed authentications spread over both API processes spend one budget (the rate limits'
  buckets are shared through Redis): the address is locked out on both.
- 1,000 webhook deliveries to a real HTTP receiver are each made exactly once by the two
  workers; in a second batch one worker is SIGKILLed with sends in flight: none is missing,
  and the only repeats are the killed worker's unrecorded claims (taken over after the lease).

The tests run in file order and share the processes; the last one kills a worker.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.fixtures_http import HttpPeer, ReceivedRequest, Reply
from tests.fixtures_server import ROOT, free_port

REDIS_URL = os.environ.get("TOCSIN_TEST_REDIS_URL")

pytestmark = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="needs TOCSIN_TEST_POSTGRES_URL and TOCSIN_TEST_REDIS_URL: several processes share "
           "one PostgreSQL database and one Redis",
)

LEASE_SECONDS = 4.0  # how long a killed worker's claims block their deliveries
CLAIM_BATCH = 50  # deliveries one worker claims at a time
DELIVERIES = 1000  # per batch: RULES rules times INCIDENTS incidents, one webhook each
RULES = 25
INCIDENTS = DELIVERIES // RULES
HOLD_AT = 400  # second batch: the receiver holds its responses from this request on
AUTH_FAILURES = 4  # failed authentications a minute per address, for the whole deployment
SECRET_KEY = "tocsin-multiprocess-test-secret-key-0123456789"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()


# ------------------------------------------------------------------ the processes


@dataclass
class Cluster:
    database_url: str
    tmp: Path
    env: dict[str, str]
    token: str
    apis: list[str] = field(default_factory=list)  # base URLs
    api_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], cwd=self.tmp, env=self.env,
            stdout=subprocess.DEVNULL, stderr=(self.tmp / f"{name}.log").open("a"))
        self.workers[name] = process
        return process

    def worker_log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text()

    async def graphql(self, api: int, query: str, variables: dict[str, Any] | None = None,
                      client: httpx.AsyncClient | None = None) -> dict[str, Any]:
        async def post(http: httpx.AsyncClient) -> dict[str, Any]:
            response = await http.post(
                self.apis[api] + "/graphql", json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            body = response.json()
            assert response.status_code == 200 and not body.get("errors"), body
            return dict(body["data"])

        if client is not None:
            return await post(client)
        async with httpx.AsyncClient() as http:
            return await post(http)

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url.replace("postgres://", "postgresql://",
                                                               1))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tocsin serve exited: {log.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"tocsin serve did not come up: {log.read_text()}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert POSTGRES_URL and REDIS_URL
    tmp = tmp_path_factory.mktemp("multiprocess")
    database_url = asyncio.run(create_postgres_database(POSTGRES_URL))
    env = {
        **os.environ, "PYTHONPATH": str(ROOT),
        "TOCSIN_DATABASE_URL": database_url,
        "TOCSIN_BROKER_URL": REDIS_URL,
        "TOCSIN_BROKER_CHANNEL": f"tocsin_mp_{uuid.uuid4().hex[:12]}",
        "TOCSIN_SECRET_KEY": SECRET_KEY,
        "TOCSIN_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TOCSIN_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        "TOCSIN_DELIVERY_BATCH_SIZE": str(CLAIM_BATCH),
        "TOCSIN_DELIVERY_CONCURRENCY": "10",
        "TOCSIN_DELIVERY_POLL_SECONDS": "0.1",
        "TOCSIN_RATE_LIMIT_PER_TOKEN": "100000",
        "TOCSIN_RATE_LIMIT_PER_ADDRESS": "100000",
        "TOCSIN_RATE_LIMIT_AUTH_FAILURES": str(AUTH_FAILURES),
        "TOCSIN_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # Migrates the database and makes the one ADMIN token (printed alone on stdout).
        made = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--name",
                               "admin", "--role", "ADMIN"], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        cluster = Cluster(database_url, tmp, env, made.stdout.strip())
        logs = []
        for n in range(2):
            port = free_port()
            log = tmp / f"api-{n}.log"
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--no-worker", "--port", str(port)],
                cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
            processes.append(process)
            cluster.api_processes.append(process)
            cluster.apis.append(f"http://127.0.0.1:{port}")
            logs.append(log)
        for name in ("worker-a", "worker-b"):
            processes.append(cluster.start_worker(name))
        for url, process, log in zip(cluster.apis, cluster.api_processes, logs, strict=True):
            _wait_healthy(url, process, log)
        yield cluster
        processes.extend(cluster.workers.values())
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        asyncio.run(drop_postgres_database(POSTGRES_URL, database_url))


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float,
                     what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")


async def gather_limited(calls: list[Callable[[], Awaitable[Any]]], limit: int = 8
                         ) -> list[Any]:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with semaphore:
            return await call()

    return await asyncio.gather(*(one(call) for call in calls))


CREATE_SERVICE = """mutation($name: String!, $policy: ID) {
  createService(input: {name: $name, slaPolicyId: $policy}) { id } }"""
CREATE_INCIDENT = """mutation($title: String!, $service: ID) {
  createIncident(input: {title: $title, impact: HIGH, urgency: HIGH, serviceId: $service})
  { id reference } }"""


# ------------------------------------------------------------------ (a) live updates


async def subscribe(api: str, token: str, title_prefix: str) -> ClientConnection:
    socket = await connect(api.replace("http://", "ws://") + "/graphql",
                           subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await socket.send(json.dumps({"type": "connection_init",
                                  "payload": {"authorization": f"Bearer {token}"}}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": 'subscription { events(types: ["incident.created"]) '
                 "{ sequence type incident { title } } }"}}))
    return socket


async def next_title(socket: ClientConnection, seconds: float = 15) -> str:
    message = json.loads(await asyncio.wait_for(socket.recv(), seconds))
    assert message["type"] == "next", message
    return str(message["payload"]["data"]["events"]["incident"]["title"])


async def sees(socket: ClientConnection, title: str, seconds: float = 15) -> bool:
    """Read until the incident `title` arrives (others made meanwhile may come first)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            if await next_title(socket, left) == title:
                return True
        except TimeoutError:
            break
    return False


async def test_subscribers_on_each_api_process_see_mutations_made_on_the_other(cluster):
    sockets = [await subscribe(api, cluster.token, "live") for api in cluster.apis]
    try:
        # A change made on a socket's own process proves the subscription is live there.
        for n, socket in enumerate(sockets):
            for attempt in range(50):
                title = f"probe {n}.{attempt}"
                await cluster.graphql(n, CREATE_INCIDENT, {"title": title})
                if await sees(socket, title, 0.5):
                    break
            else:
                raise AssertionError(f"the subscription on API {n} never went live")
        # Now each process's subscriber must see the other process's change.
        await cluster.graphql(1, CREATE_INCIDENT, {"title": "made on API 1"})
        assert await sees(sockets[0], "made on API 1")
        await cluster.graphql(0, CREATE_INCIDENT, {"title": "made on API 0"})
        assert await sees(sockets[1], "made on API 0")

        async with httpx.AsyncClient() as http:
            for api in cluster.apis:
                ready = await http.get(api + "/readyz")
                assert ready.status_code == 200
                assert ready.json() == {"status": "ok", "database": "up", "broker": "up"}
                metrics = (await http.get(api + "/metrics")).text
                assert "tocsin_subscriptions 1.0" in metrics.splitlines()
    finally:
        for socket in sockets:
            await socket.close()


# ------------------------------------------------------------------ (d) rate limits


async def test_failed_authentications_on_both_processes_spend_one_budget(cluster):
    # Guesses from an address of their own (the other tests speak from 127.0.0.1), alternating
    # between the processes: counted per process, each would have half its budget left.
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.9")
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        async def attempt(api: int, token: str) -> httpx.Response:
            return await http.post(cluster.apis[api] + "/graphql",
                                   json={"query": "{ viewer { name } }"},
                                   headers={"Authorization": f"Bearer {token}"})

        guesses = [await attempt(n % 2, f"tocsin_guess{n}") for n in range(AUTH_FAILURES)]
        assert [r.status_code for r in guesses] == [401] * AUTH_FAILURES
        for api in (0, 1):  # locked out on both, even with the right token
            refused = await attempt(api, cluster.token)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            extensions = refused.json()["errors"][0]["extensions"]
            assert (extensions["code"], extensions["limit"]) == (
                "RATE_LIMITED", "rateLimitAuthFailures")
    # Another address is not affected.
    assert (await cluster.graphql(1, "{ viewer { name } }"))["viewer"]["name"] == "admin"


# ------------------------------------------------------------------ (c) SLA clocks


async def test_sla_breaches_are_emitted_once_with_two_clocks_running(cluster):
    policy = (await cluster.graphql(0, """mutation {
      createSlaPolicy(input: {name: "fast", timezone: "UTC", warnAtPercent: 50, targets: [
        {priority: P1, kind: RESPONSE, seconds: 2}, {priority: P1, kind: RESOLUTION, seconds: 3}
      ]}) { id } }"""))["createSlaPolicy"]["id"]
    service = (await cluster.graphql(0, CREATE_SERVICE, {"name": "sla", "policy": policy}
                                     ))["createService"]["id"]
    made = await gather_limited([
        (lambda n=n: cluster.graphql(n % 2, CREATE_INCIDENT, {"title": f"sla {n}",
                                                              "service": service}))
        for n in range(20)])
    assert len({m["createIncident"]["id"] for m in made}) == 20
    timers = 2 * len(made)

    async def all_breached() -> bool:
        rows = await cluster.sql(
            f"SELECT count(*) AS n FROM events e {OF_SERVICE} AND e.type = 'sla.breached'",
            "sla")
        return int(rows[0]["n"]) >= timers

    await eventually(all_breached, 30, "every timer to breach")
    await asyncio.sleep(2.5)  # both clocks re-read the timers at least twice more
    assert all(p.poll() is None for p in cluster.workers.values()), "a worker died"
    rows = await cluster.sql(
        f"SELECT e.incident_id, e.type, e.payload FROM events e {OF_SERVICE} "
        "AND e.type LIKE 'sla.%'", "sla")
    per_timer = collections.Counter(
        (row["incident_id"], row["type"], _json(row["payload"])["kind"]) for row in rows)
    breached = {k: n for k, n in per_timer.items() if k[1] == "sla.breached"}
    warned = {k: n for k, n in per_timer.items() if k[1] == "sla.warning"}
    assert len(breached) == timers and set(breached.values()) == {1}, breached
    assert len(warned) == timers and set(warned.values()) == {1}, warned


OF_SERVICE = ("JOIN incidents i ON i.id = e.incident_id JOIN services s "
              "ON s.id = i.service_id WHERE s.name = $1")


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


# ------------------------------------------------------------------ (b) deliveries


class Receiver:
    """A real HTTP endpoint counting the webhook-id of every request that reaches it; from
    `hold_at` requests on a path it holds its responses until released."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.hold_path: str | None = None
        self.hold_at = 0
        self.held = 0
        self.release = threading.Event()
        self.peer = HttpPeer(self.respond)
        self.peer.server.socket.listen(256)  # 20 senders at once: more than the default 5

    def respond(self, request: ReceivedRequest) -> Reply:
        with self.lock:
            ids = self.ids[request.path]
            ids.append(request.headers["webhook-id"])
            hold = request.path == self.hold_path and len(ids) >= self.hold_at
            if hold:
                self.held += 1
        if hold:
            self.release.wait(30)
        return Reply(204)

    def received(self, path: str) -> list[str]:
        with self.lock:
            return list(self.ids[path])


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.release.set()
    receiver.peer.close()


async def make_batch(cluster: Cluster, receiver: Receiver, name: str) -> str:
    """A webhook channel posting to /<name>, RULES rules for a service named <name> and
    INCIDENTS incidents on it: DELIVERIES deliveries. Returns the receiver's path."""
    path = f"/{name}"
    channel = (await cluster.graphql(0, """mutation($name: String!, $config: JSON!) {
      createNotificationChannel(input: {name: $name, plugin: "webhook", config: $config})
      { id } }""", {"name": name, "config": {"url": receiver.peer.url(path),
                                            "secret": WEBHOOK_SECRET}}))
    channel_id = channel["createNotificationChannel"]["id"]
    service = (await cluster.graphql(1, CREATE_SERVICE, {"name": name}))["createService"]["id"]
    async with httpx.AsyncClient() as http:
        await gather_limited([
            (lambda n=n: cluster.graphql(n % 2, """mutation($name: String!, $channel: ID!,
              $service: ID!) { createNotificationRule(input: {name: $name, channelId: $channel,
              eventTypes: ["incident.created"], recipients: [], serviceIds: [$service]}) { id }
            }""", {"name": f"{name}-{n}", "channel": channel_id, "service": service}, http))
            for n in range(RULES)])
        await gather_limited([
            (lambda n=n: cluster.graphql(n % 2, CREATE_INCIDENT, {
                "title": f"{name} {n}", "service": service}, http))
            for n in range(INCIDENTS)])
    return path


async def batch_rows(cluster: Cluster, service: str) -> list[asyncpg.Record]:
    return await cluster.sql(
        "SELECT d.id, d.status, d.attempts FROM deliveries d JOIN events e ON e.id = d.event_id "
        + OF_SERVICE, service)


async def all_delivered(cluster: Cluster, service: str) -> bool:
    rows = await batch_rows(cluster, service)
    return len(rows) == DELIVERIES and all(r["status"] == "DELIVERED" for r in rows)


def connections_to(pid: int, port: int) -> int:
    """Open TCP connections of process `pid` to 127.0.0.1:`port` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            parts = line.split()
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            if remote_port == port and parts[9] in inodes and parts[3] == "01":  # ESTABLISHED
                count += 1
    return count


class SenderWatch:
    """Samples which processes hold connections to the receiver (every 20 ms, from /proc)."""

    def __init__(self, pids: list[int], port: int) -> None:
        self.pids, self.port = pids, port
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for pid in self.pids:
                try:
                    if connections_to(pid, self.port):
                        self.seen.add(pid)
                except OSError:
                    pass  # the process just exited

    def __enter__(self) -> SenderWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def test_both_workers_make_each_of_1000_deliveries_exactly_once(cluster, receiver):
    service = "batch1"
    pids = [p.pid for p in cluster.workers.values()]
    with SenderWatch(pids, receiver.peer.port) as watch:
        path = await make_batch(cluster, receiver, service)
        await eventually(lambda: all_delivered(cluster, service), 90, "1,000 deliveries")
    assert watch.seen == set(pids), "both workers should have sent some"
    await asyncio.sleep(0.5)  # nothing more may arrive
    rows = await batch_rows(cluster, service)
    sent = collections.Counter(receiver.received(path))
    assert set(sent) == {str(r["id"]) for r in rows}  # none missing, none foreign
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1]  # none twice
    # No claim ran out while its worker was still sending (the one way to send twice).
    assert not any("lease lost" in cluster.worker_log(name) for name in cluster.workers)
    assert all(p.poll() is None for p in cluster.workers.values())
    retried = sum(1 for r in rows if r["attempts"] > 1)  # a send that failed before arriving
    print(f"\nfirst batch: {len(sent)} deliveries, each received once; {retried} needed a "
          "second attempt")


async def test_a_worker_killed_mid_batch_loses_no_delivery(cluster, receiver):
    victim, survivor = cluster.workers["worker-a"], cluster.workers["worker-b"]
    receiver.hold_path, receiver.hold_at = "/batch2", HOLD_AT
    service = "batch2"
    path = await make_batch(cluster, receiver, service)

    # Both workers are mid-batch, their sends held by the receiver: kill one of them.
    async def victim_is_sending() -> bool:
        return receiver.held > 0 and connections_to(victim.pid, receiver.peer.port) > 0

    await eventually(victim_is_sending, 60, "the victim to have sends in flight")
    await asyncio.sleep(0.3)  # let the held sends of both workers pile up
    in_flight = connections_to(victim.pid, receiver.peer.port)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    receiver.release.set()

    await eventually(lambda: all_delivered(cluster, service), 90,
                     "every delivery after the kill (lease takeover)")
    await asyncio.sleep(0.5)
    rows = await batch_rows(cluster, service)
    sent = collections.Counter(receiver.received(path))
    ids = {str(r["id"]) for r in rows}
    assert ids <= set(sent), f"missing: {sorted(ids - set(sent))}"
    assert set(sent) == ids
    duplicates = {k for k, n in sent.items() if n > 1}
    taken_over = {str(r["id"]) for r in rows if r["attempts"] > 1}
    # Only the killed worker's unrecorded claims were sent again: each of those was claimed
    # twice (the lease ran out), at most one batch of them, and none more than twice.
    assert duplicates <= taken_over
    assert len(taken_over) <= CLAIM_BATCH
    assert max(sent.values()) <= 2
    assert "lease lost" not in cluster.worker_log("worker-b")  # the survivor never lost one
    assert survivor.poll() is None
    print(f"\nkilled worker: {len(taken_over)} unrecorded claims taken over after the lease "
          f"({in_flight} sends awaiting their response at the kill); {len(duplicates)} "
          f"deliveries made twice, all among those; {len(ids)} of {DELIVERIES} delivered")
