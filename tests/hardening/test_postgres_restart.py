"""PostgreSQL dies under load and comes back: during the outage every request fails cleanly
(a coded SERVICE_UNAVAILABLE, never a 500 or a masked internal error), and once the database
is back the server's pool recovers without a restart. Runs against a PRIVATE PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from tests.fixtures_postgres import PrivatePostgres
from tests.fixtures_server import start_server, stop_server

READ = {"query": "{ incidents(first: 5) { totalCount edges { node { reference status } } } }"}
CREATE = {"query": 'mutation { createIncident(input: {title: "db blip", impact: LOW, '
                   'urgency: LOW}) { reference } }'}


def outcome(response: httpx.Response) -> str:
    """"ok", or the error code a client sees; a 5xx other than 503 is a failure."""
    body = response.json()
    if response.status_code == 200 and not body.get("errors"):
        return "ok"
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert len(codes) == 1, body
    code = codes.pop()
    if response.status_code >= 500:
        assert response.status_code == 503 and response.headers.get("retry-after"), body
    return code


async def test_requests_fail_cleanly_during_an_outage_and_recover(private_postgres:
                                                                  PrivatePostgres, tmp_path):
    server = start_server(tmp_path, private_postgres.url, extra_env={
        "TOCSIN_RATE_LIMIT_PER_TOKEN": "0", "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0"})
    seen: dict[str, Counter[str]] = {"before": Counter(), "outage": Counter(),
                                     "after": Counter()}
    phase = "before"
    try:
        headers = {"authorization": f"Bearer {server.admin_token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as c:

            async def client_loop(n: int) -> None:
                while phase != "done":
                    current = phase
                    r = await c.post("/graphql", json=CREATE if n % 2 else READ)
                    if phase == current:  # a request straddling two phases counts in neither
                        seen[current][outcome(r)] += 1
                    await asyncio.sleep(0.01)

            async def until_ok(current: str, count: int) -> None:
                """At least `count` successes in the phase (however loaded the machine)."""
                for _ in range(600):  # 30 s at most
                    if seen[current]["ok"] > count:
                        return
                    await asyncio.sleep(0.05)

            workers = [asyncio.create_task(client_loop(n)) for n in range(4)]
            await until_ok("before", 10)
            phase = "stopping"  # requests racing the shutdown count in no phase
            seen["stopping"] = Counter()
            await asyncio.to_thread(private_postgres.stop, "immediate")
            phase = "outage"
            await asyncio.sleep(2.0)
            await asyncio.to_thread(private_postgres.start)
            phase = "recovering"
            seen["recovering"] = Counter()
            # Recovered: 20 requests in a row succeed (each connection the outage broke
            # fails once more, at most, before the pool replaces it).
            deadline, in_a_row = time.monotonic() + 30, 0
            while time.monotonic() < deadline and in_a_row < 20:
                ok = outcome(await c.post("/graphql", json=READ)) == "ok"
                in_a_row = in_a_row + 1 if ok else 0
                await asyncio.sleep(0.05 if ok else 0.2)
            assert in_a_row >= 20, seen
            phase = "after"
            await until_ok("after", 10)
            phase = "done"
            await asyncio.gather(*workers)
            health = (await c.get("/readyz")).json()
    finally:
        stop_server(server)
    assert seen["before"]["ok"] > 10, seen
    assert set(seen["before"]) == {"ok"}, seen
    assert seen["outage"] and set(seen["outage"]) <= {"SERVICE_UNAVAILABLE", "ok"}, seen
    assert seen["outage"]["SERVICE_UNAVAILABLE"] > 0, seen
    assert set(seen["after"]) == {"ok"} and seen["after"]["ok"] > 10, seen
    assert set(seen["recovering"]) <= {"ok", "SERVICE_UNAVAILABLE"}, seen
    assert health == {"status": "ok", "database": "up", "broker": "up"}  # in-process broker
    assert server.process.returncode in (0, -15), "the server crashed"
