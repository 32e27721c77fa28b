"""Load on PostgreSQL: N concurrent clients (each with its own RESPONDER token) create
incidents and race each other through lifecycle moves on shared incidents while reading
lists, incidents and timelines, against a real `tocsin serve`. Afterwards: no unexpected
error, no duplicate incident number, every acknowledged create is stored (and nothing else),
every incident's status is the toStatus of its last status event, and every successful
mutation left exactly one OK audit record.

`make test`: 10 clients for 10 s. `make soak`: TOCSIN_SOAK_CLIENTS=50, TOCSIN_SOAK_SECONDS=60.
Uses TOCSIN_TEST_POSTGRES_URL (a database made for the run) or else a private PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.fixtures_server import start_server, stop_server

SECONDS = float(os.environ.get("TOCSIN_SOAK_SECONDS", "10"))
CLIENTS = int(os.environ.get("TOCSIN_SOAK_CLIENTS", "10"))
# Races between clients on one incident are expected to be refused, nothing else.
EXPECTED_REFUSALS = {"INVALID_TRANSITION"}

CREATE = """mutation($t: String!, $i: Impact!, $u: Urgency!) {
  createIncident(input: {title: $t, impact: $i, urgency: $u}) { id reference status } }"""
MOVES = {
    "acknowledge": "mutation($id: ID!) { acknowledgeIncident(id: $id, note: \"on it\") "
                   "{ status } }",
    "progress": "mutation($id: ID!) { changeIncidentStatus(id: $id, status: IN_PROGRESS) "
                "{ status } }",
    "hold": "mutation($id: ID!) { changeIncidentStatus(id: $id, status: ON_HOLD) { status } }",
    "resolve": "mutation($id: ID!) { resolveIncident(id: $id, resolution: \"fixed\") { status } }",
    "reopen": "mutation($id: ID!) { reopenIncident(id: $id) { status } }",
    "close": "mutation($id: ID!) { closeIncident(id: $id) { status } }",
    "cancel": "mutation($id: ID!) { changeIncidentStatus(id: $id, status: CANCELLED) "
              "{ status } }",
    "note": "mutation($id: ID!) { addIncidentNote(id: $id, note: \"update\") { sequence } }",
}
READS = [
    "{ incidents(first: 20) { totalCount edges { node { reference status priority } } } }",
    "{ incidents(filter: {open: true}, orderBy: PRIORITY, first: 10) { edges { node { id } } } }",
    "{ events(first: 50) { edges { node { sequence type toStatus } } } }",
]
TIMELINE = """query($r: String!) { incident(reference: $r) { status
  timeline(first: 50) { totalCount edges { node { type toStatus } } } } }"""


@pytest.fixture
def load_database(request: pytest.FixtureRequest) -> Iterator[str]:
    if POSTGRES_URL:
        url = asyncio.run(create_postgres_database(POSTGRES_URL))
        yield url
        asyncio.run(drop_postgres_database(POSTGRES_URL, url))
    else:
        yield request.getfixturevalue("private_postgres").url


def test_concurrent_clients_lose_and_reorder_nothing(load_database, tmp_path):
    # Per-address limiting is off: every client here is 127.0.0.1. Per-token stays default.
    server = start_server(tmp_path, load_database,
                          extra_env={"TOCSIN_RATE_LIMIT_PER_ADDRESS": "0"})
    try:
        stats = asyncio.run(_drive(server.url, server.admin_token))
        alive = server.process.poll() is None
    finally:
        stop_server(server)
    assert alive, "the server died under load"
    assert stats["unexpected"] == [], stats["unexpected"][:5]
    assert stats["ok"] > CLIENTS * SECONDS, stats["ok"]  # it did real work
    assert stats["moves_ok"] > 0 and stats["reads_ok"] > 0
    asyncio.run(_check_database(load_database, stats))


async def _drive(url: str, admin_token: str) -> dict:
    stats: dict = {"ok": 0, "moves_ok": 0, "reads_ok": 0, "refused": Counter(),
                   "unexpected": [], "created": set(), "mutations_ok": 0}
    async with httpx.AsyncClient(base_url=url, timeout=60) as admin:
        tokens = []
        for n in range(CLIENTS):
            r = await admin.post("/graphql", headers={"authorization": f"Bearer {admin_token}"},
                                 json={"query": "mutation($n: String!) { createApiToken(name: "
                                                "$n, role: RESPONDER) { token } }",
                                       "variables": {"n": f"load-{n}"}})
            tokens.append(r.json()["data"]["createApiToken"]["token"])
        stats["mutations_ok"] += CLIENTS
    incidents: list[tuple[str, str]] = []  # (id, reference), shared by every client
    deadline = time.monotonic() + SECONDS

    async def call(client: httpx.AsyncClient, query: str, variables: dict) -> dict | None:
        r = await client.post("/graphql", json={"query": query, "variables": variables})
        body = r.json()
        if r.status_code != 200 or body.get("errors"):
            codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
            if r.status_code == 200 and codes <= EXPECTED_REFUSALS:
                stats["refused"].update(codes)
            else:
                stats["unexpected"].append((r.status_code, query[:60], body))
            return None
        stats["ok"] += 1
        return body["data"]

    async def client_loop(n: int) -> None:
        rng = random.Random(n)
        headers = {"authorization": f"Bearer {tokens[n]}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            while time.monotonic() < deadline:
                roll = rng.random()
                if roll < 0.15 or not incidents:
                    data = await call(client, CREATE, {
                        "t": f"load {n}", "i": rng.choice(["HIGH", "MEDIUM", "LOW"]),
                        "u": rng.choice(["HIGH", "MEDIUM", "LOW"])})
                    if data:
                        made = data["createIncident"]
                        incidents.append((made["id"], made["reference"]))
                        stats["created"].add(made["reference"])
                        stats["mutations_ok"] += 1
                elif roll < 0.65:
                    # recent incidents are where the races are
                    target = rng.choice(incidents[-10:])
                    if await call(client, MOVES[rng.choice(list(MOVES))], {"id": target[0]}):
                        stats["moves_ok"] += 1
                        stats["mutations_ok"] += 1
                elif roll < 0.8:
                    if await call(client, TIMELINE, {"r": rng.choice(incidents)[1]}):
                        stats["reads_ok"] += 1
                elif await call(client, rng.choice(READS), {}):
                    stats["reads_ok"] += 1

    await asyncio.gather(*(client_loop(n) for n in range(CLIENTS)))
    return stats


async def _check_database(url: str, stats: dict) -> None:
    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        numbers = [r["number"] for r in await conn.fetch("SELECT number FROM incidents")]
        assert len(numbers) == len(set(numbers)), "duplicate incident numbers"
        assert {f"INC-{n}" for n in numbers} == stats["created"]
        mismatched = await conn.fetch("""
            SELECT i.number, i.status, last.to_status FROM incidents i
            JOIN LATERAL (SELECT e.to_status FROM events e
                          WHERE e.incident_id = i.id AND e.to_status IS NOT NULL
                          ORDER BY e.id DESC LIMIT 1) last ON true
            WHERE last.to_status <> i.status""")
        assert mismatched == [], mismatched[:5]
        without_events = await conn.fetchval("""SELECT count(*) FROM incidents i WHERE NOT EXISTS
            (SELECT 1 FROM events e WHERE e.incident_id = i.id AND e.to_status IS NOT NULL)""")
        assert without_events == 0
        audited = await conn.fetchval("SELECT count(*) FROM audit_entries WHERE outcome = 'OK'")
        assert audited == stats["mutations_ok"]
        refused = await conn.fetchval("SELECT count(*) FROM audit_entries WHERE outcome <> 'OK'")
        assert refused == sum(stats["refused"].values())
    finally:
        await conn.close()
