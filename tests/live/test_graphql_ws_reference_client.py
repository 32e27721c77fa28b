"""The reference client: `graphql-ws` from npm (Node), against a real `tocsin serve`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.fixtures_server import RunningServer, node_peers
from tests.live.conftest import add_note, create_incident, ws_url


async def start_node(server: RunningServer, token: str | None, count: int, query: str,
                     variables: dict[str, Any] | None = None) -> asyncio.subprocess.Process:
    js = node_peers()
    return await asyncio.create_subprocess_exec(
        "node", "subscribe.mjs", ws_url(server), token or "-", str(count), query,
        json.dumps(variables or {}), cwd=js, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def lines(process: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    out, err = await asyncio.wait_for(process.communicate(), 40)
    assert process.returncode == 0, (out, err)
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_reference_client_receives_replayed_and_live_events(served: RunningServer):
    incident = await create_incident(served, title="seen by graphql-ws")
    await add_note(served, incident, "before subscribing")
    node = await start_node(
        served, served.admin_token, 4,
        "subscription($id: ID) { events(after: \"0\", incidentId: $id) { sequence type note } }",
        {"id": incident})
    await add_note(served, incident, "live one")
    await add_note(served, incident, "live two")
    got = [line["next"]["data"]["events"] for line in await lines(node) if "next" in line]
    assert [e["type"] for e in got] == ["incident.created", "incident.note_added",
                                        "incident.note_added", "incident.note_added"]
    assert [e["note"] for e in got[1:]] == ["before subscribing", "live one", "live two"]
    sequences = [int(e["sequence"]) for e in got]
    assert sequences == sorted(set(sequences))


async def test_reference_client_without_token_gets_the_status_page_only(served: RunningServer):
    page = await lines(await start_node(served, None, 1,
                                        "subscription { statusPage { updatedAt } }"))
    assert "updatedAt" in next(p for p in page if "next" in p)["next"]["data"]["statusPage"]
    refused = await lines(await start_node(served, None, 1,
                                           "subscription { events { sequence } }"))
    errors = next(p["error"] for p in refused if "error" in p)
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_reference_client_with_a_bad_token_is_closed_4403(served: RunningServer):
    refused = await lines(await start_node(served, "tocsin_forged", 1,
                                           "subscription { statusPage { updatedAt } }"))
    closed = next(p["error"] for p in refused if "error" in p)
    assert closed == {"code": 4403, "reason": "Forbidden: invalid token"}
