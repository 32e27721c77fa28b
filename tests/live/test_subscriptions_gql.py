"""Subscriptions through the Python `gql` client, on both WebSocket protocols, against a real
`tocsin serve`: live events, filters, resume across a disconnect, the status page without a
token, and refusal of everything else without one."""

from __future__ import annotations

import asyncio

import pytest
from gql.transport.exceptions import TransportError, TransportQueryError

from tests.fixtures_server import RunningServer
from tests.live.conftest import (
    add_note,
    collect,
    create_incident,
    logged_sequences,
    mutate,
)

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
EVENTS = """subscription($after: String, $incidentId: ID, $types: [String!]) {
  events(after: $after, incidentId: $incidentId, types: $types) {
    sequence type note incident { reference } actor { name } } }"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_live_events_reach_a_gql_subscriber(served: RunningServer, protocol: str):
    incident = await create_incident(served, title=f"live over {protocol}")
    started = asyncio.Event()
    listening = asyncio.create_task(
        collect(served, protocol, EVENTS, {"incidentId": incident}, 3, started))
    await asyncio.wait_for(started.wait(), 10)
    await mutate(served, "mutation($id: ID!) { acknowledgeIncident(id: $id) { id } }",
                 {"id": incident})
    await add_note(served, incident, "looking at the gateway")
    await mutate(served, """mutation($id: ID!) { resolveIncident(id: $id, resolution: "fixed")
                 { id } }""", {"id": incident})
    received = await asyncio.wait_for(listening, 10)
    assert [r["events"]["type"] for r in received] == [
        "incident.acknowledged", "incident.note_added", "incident.resolved"]
    assert received[1]["events"]["note"] == "looking at the gateway"
    assert {r["events"]["actor"]["name"] for r in received} == {"admin"}
    sequences = [int(r["events"]["sequence"]) for r in received]
    assert sequences == sorted(sequences)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resume_after_a_disconnect_misses_nothing_and_repeats_nothing(
        served: RunningServer, protocol: str):
    incident = await create_incident(served, title=f"resume over {protocol}")
    start = (await logged_sequences(served))[-1]
    for n in range(3):
        await add_note(served, incident, f"before {n}")
    first = await collect(served, protocol, EVENTS, {"after": start}, 3)
    last_seen = first[-1]["events"]["sequence"]
    # Disconnected: more happens meanwhile, elsewhere too.
    for n in range(4):
        await add_note(served, incident, f"while away {n}")
    await create_incident(served, title="unrelated")
    second = await collect(served, protocol, EVENTS, {"after": last_seen}, 5)
    got = [r["events"]["sequence"] for r in first + second]
    assert got == (await logged_sequences(served, start))[:8]
    assert len(set(got)) == len(got)
    assert [r["events"]["note"] for r in second[:4]] == [f"while away {n}" for n in range(4)]


async def test_no_gap_and_no_duplicate_at_the_replay_seam(served: RunningServer):
    """Events keep committing while the subscriber replays and goes live."""
    incident = await create_incident(served, title="seam")
    start = (await logged_sequences(served))[-1]
    for n in range(15):
        await add_note(served, incident, f"old {n}")

    async def keep_writing() -> None:
        for n in range(15):
            await add_note(served, incident, f"new {n}")

    writer = asyncio.create_task(keep_writing())
    received = await collect(served, "graphql-transport-ws", EVENTS,
                             {"after": start, "incidentId": incident}, 30)
    await writer
    got = [r["events"]["sequence"] for r in received]
    logged = await logged_sequences(served, start)
    assert got == logged[:30]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_without_a_token_only_the_status_page_is_served(served: RunningServer,
                                                              protocol: str):
    with pytest.raises(TransportQueryError) as refused:
        await collect(served, protocol, EVENTS, {}, 1, token=None)
    assert refused.value.errors and refused.value.errors[0]["extensions"]["code"] \
        == "UNAUTHENTICATED"
    await mutate(served, """mutation($name: String!) { createService(input: {name: $name})
                 { id } }""", {"name": f"Public API {protocol}"})
    page = await collect(served, protocol,
                         "subscription { statusPage { services { name status } } }", {}, 1,
                         token=None)
    assert {"name": f"Public API {protocol}", "status": "OPERATIONAL"} \
        in page[0]["statusPage"]["services"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_bad_token_is_refused_at_connection_init(served: RunningServer, protocol: str):
    with pytest.raises(TransportError) as refused:
        await collect(served, protocol, "subscription { statusPage { updatedAt } }", {}, 1,
                      token="tocsin_not-a-real-token")
    reasons = []
    error: BaseException | None = refused.value
    while error is not None:  # the close frame sits in the cause chain
        received = getattr(error, "rcvd", None)
        reasons.append(f"{received.code} {received.reason}" if received else str(error))
        error = error.__cause__
    assert any("4403 Forbidden: invalid token" in r or "invalid token" in r for r in reasons)


async def test_status_page_follows_public_changes(served: RunningServer):
    svc = (await mutate(served, """mutation { createService(input: {name: "Payments"})
        { id } }"""))["createService"]["id"]
    started = asyncio.Event()
    listening = asyncio.create_task(collect(
        served, "graphql-transport-ws",
        "subscription { statusPage { services { name status } incidents { title updates "
        "{ message } } } }", {}, 3, started, token=None))
    await asyncio.wait_for(started.wait(), 10)
    incident = await create_incident(served, title="internal title", public=True,
                                     service_id=svc)
    await add_note(served, incident, "internal only")  # not public: the page does not change
    await add_note(served, incident, "We are on it", public=True)
    pages = [r["statusPage"] for r in await asyncio.wait_for(listening, 10)]
    payments = [next(s for s in p["services"] if s["name"] == "Payments")["status"]
                for p in pages]
    assert payments == ["OPERATIONAL", "MAJOR_OUTAGE", "MAJOR_OUTAGE"]
    assert pages[1]["incidents"][0]["updates"] == []
    assert pages[2]["incidents"][0]["updates"] == [{"message": "We are on it"}]
    assert "internal only" not in str(pages)


async def test_incident_changed_sends_the_current_state(served: RunningServer):
    incident = await create_incident(served, title="follow me")
    started = asyncio.Event()
    listening = asyncio.create_task(collect(
        served, "graphql-ws", "subscription($id: ID!) { incidentChanged(id: $id) "
        "{ reference status priority } }", {"id": incident}, 2, started))
    await asyncio.wait_for(started.wait(), 10)
    await create_incident(served, title="someone else's")
    await mutate(served, "mutation($id: ID!) { acknowledgeIncident(id: $id) { id } }",
                 {"id": incident})
    await mutate(served, """mutation($id: ID!) { updateIncident(id: $id,
                 input: {impact: LOW, urgency: LOW}) { id } }""", {"id": incident})
    states = [r["incidentChanged"] for r in await asyncio.wait_for(listening, 10)]
    assert [(s["status"], s["priority"]) for s in states] == [
        ("ACKNOWLEDGED", "P1"), ("ACKNOWLEDGED", "P5")]


async def test_filters_by_type_and_priority(served: RunningServer):
    low = await create_incident(served, title="minor", impact="LOW", urgency="LOW")
    started = asyncio.Event()
    listening = asyncio.create_task(collect(
        served, "graphql-transport-ws",
        """subscription { events(types: ["incident.note_added"], minPriority: P2)
           { note incident { priority } } }""", {}, 2, started))
    await asyncio.wait_for(started.wait(), 10)
    high = await create_incident(served, title="major", impact="HIGH", urgency="MEDIUM")
    await add_note(served, low, "P5 note: filtered out")
    await add_note(served, high, "P2 note")
    await mutate(served, "mutation($id: ID!) { acknowledgeIncident(id: $id) { id } }",
                 {"id": high})
    await add_note(served, high, "second P2 note")
    got = [r["events"] for r in await asyncio.wait_for(listening, 10)]
    assert got == [{"note": "P2 note", "incident": {"priority": "P2"}},
                   {"note": "second P2 note", "incident": {"priority": "P2"}}]


async def test_a_viewer_may_subscribe_to_events(served: RunningServer):
    token = (await mutate(served, """mutation { createApiToken(name: "wallboard",
        role: VIEWER) { token } }"""))["createApiToken"]["token"]
    incident = await create_incident(served, title="seen by a viewer")
    await add_note(served, incident, "hello viewer")
    got = await collect(served, "graphql-transport-ws", EVENTS,
                        {"after": "0", "incidentId": incident}, 2, token=token)
    assert [r["events"]["type"] for r in got] == ["incident.created", "incident.note_added"]
