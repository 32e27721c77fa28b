"""The SLA clock: warnings and breaches once, on time, after a restart, with two clocks on one
database, woken by commits and by re-reading the next instant."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.auth.models import Role
from app.events.models import Event
from app.incidents import service as incidents
from app.slas.clock import SlaClock
from app.slas.models import SlaKind, SlaState, SlaTimer
from app.timesource import FrozenClock
from tests.fixtures_slas import P2_RESOLUTION, P2_RESPONSE, new_incident, timer_views


@pytest.fixture
async def responder(users):
    return users[Role.RESPONDER][0]


async def _sla_events(incident_id: int | None = None) -> list[tuple[str, str]]:
    query = Event.filter(type__startswith="sla.")
    if incident_id is not None:
        query = query.filter(incident_id=incident_id)
    rows = await query.order_by("id")
    return [(e.type, e.payload["kind"]) for e in rows]


async def test_warning_then_breach_each_once(covered, responder, clock):
    start = clock.now()
    incident = await new_incident(responder, start, covered.id)
    sla = SlaClock(clock)
    assert await sla.tick() == start + timedelta(seconds=450)  # the RESPONSE warning
    clock.advance(449)
    await sla.tick()
    assert await _sla_events() == []
    clock.advance(1)
    assert await sla.tick() == start + timedelta(seconds=P2_RESPONSE)
    assert await _sla_events() == [("sla.warning", "RESPONSE")]
    await sla.tick()
    assert await _sla_events() == [("sla.warning", "RESPONSE")]
    clock.advance(150)
    await sla.tick()
    await sla.tick()
    assert await _sla_events() == [("sla.warning", "RESPONSE"), ("sla.breached", "RESPONSE")]
    breach = await Event.get(type="sla.breached")
    assert breach.incident_id == incident.id and breach.priority == "P2"
    assert breach.payload["breachedAt"] == (start + timedelta(seconds=P2_RESPONSE)).isoformat()
    views = await timer_views(incident.id, clock.now())
    assert views[SlaKind.RESPONSE].state == SlaState.RUNNING  # still waiting for a response
    assert views[SlaKind.RESPONSE].remaining_seconds == 0
    clock.advance(30)
    assert (await timer_views(incident.id, clock.now()))[SlaKind.RESPONSE].remaining_seconds \
        == -30
    # Acknowledging now ends it BREACHED without a second breach event.
    await incidents.acknowledge(incident.id, actor=responder, now=clock.now())
    assert (await timer_views(incident.id, clock.now()))[SlaKind.RESPONSE].state \
        == SlaState.BREACHED
    assert [t for t, _ in await _sla_events()].count("sla.breached") == 1
    assert sla.emitted == 2


async def test_paused_and_ended_timers_are_not_emitted(covered, responder, clock):
    incident = await new_incident(responder, clock.now(), covered.id)
    await incidents.acknowledge(incident.id, actor=responder, now=clock.now())
    await incidents.change_status(incident.id, incidents.S.ON_HOLD, actor=responder,
                                  now=clock.now())
    sla = SlaClock(clock)
    assert await sla.tick() is None  # nothing running
    clock.advance(P2_RESOLUTION * 3)
    await sla.tick()
    assert await _sla_events() == []


async def test_catch_up_after_restart_uses_the_due_time(covered, responder, clock):
    start = clock.now()
    first = await new_incident(responder, start, covered.id)
    clock.advance(60)
    second = await new_incident(responder, clock.now(), covered.id)
    # The clock was down for a day; a fresh one starts.
    clock.advance(24 * 3600)
    restarted = SlaClock(clock)
    assert await restarted.tick() is None  # everything emitted, nothing left to wait for
    events = await _sla_events()
    assert sorted(events) == sorted([("sla.warning", "RESPONSE"), ("sla.breached", "RESPONSE"),
                                     ("sla.warning", "RESOLUTION"),
                                     ("sla.breached", "RESOLUTION")] * 2)
    for incident, created in ((first, start), (second, start + timedelta(seconds=60))):
        timer = await SlaTimer.get(incident_id=incident.id, kind=SlaKind.RESOLUTION)
        assert timer.breached_at == created + timedelta(seconds=P2_RESOLUTION)
        breaches = await Event.filter(incident_id=incident.id, type="sla.breached")
        breach = next(e for e in breaches if e.payload["kind"] == "RESOLUTION")
        assert breach.payload["breachedAt"] == timer.breached_at.isoformat()
    # Warnings come before breaches for each timer.
    for incident in (first, second):
        kinds = await _sla_events(incident.id)
        assert kinds.index(("sla.warning", "RESPONSE")) < kinds.index(("sla.breached",
                                                                        "RESPONSE"))


async def test_two_clocks_on_one_database_emit_each_event_once(covered, responder, clock):
    for _ in range(40):
        await new_incident(responder, clock.now(), covered.id)
    clock.advance(P2_RESOLUTION + 1)
    one, two = SlaClock(clock, batch=7), SlaClock(clock, batch=5)
    await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    assert one.emitted + two.emitted == 160
    rows = await Event.filter(type__startswith="sla.").values_list("incident_id", "type",
                                                                   "payload")
    keys = [(i, t, p["kind"]) for i, t, p in rows]
    assert len(keys) == len(set(keys)) == 160


async def test_the_loop_is_woken_by_a_commit(covered, responder):
    clock = FrozenClock()
    first = await new_incident(responder, clock.now(), covered.id)
    sla = SlaClock(clock, max_sleep=30)  # only a wake-up can make it look again in time
    sla.start()
    try:
        await asyncio.sleep(0.1)  # first round done; now asleep
        clock.advance(P2_RESPONSE)
        await new_incident(responder, clock.now(), covered.id)  # this commit wakes it
        for _ in range(100):
            if len(await _sla_events(first.id)) == 2:
                break
            await asyncio.sleep(0.02)
        assert await _sla_events(first.id) == [("sla.warning", "RESPONSE"),
                                               ("sla.breached", "RESPONSE")]
    finally:
        await sla.stop()


async def test_the_loop_rereads_the_next_instant_for_timers_written_elsewhere(
        covered, responder):
    clock = FrozenClock()
    incident = await new_incident(responder, clock.now(), covered.id)
    sla = SlaClock(clock, max_sleep=0.2)
    sla.start()
    try:
        await asyncio.sleep(0.05)
        # Another process made this timer due: no commit hook runs in this one.
        await SlaTimer.filter(incident_id=incident.id, kind=SlaKind.RESPONSE).update(
            warned=True, next_at=clock.now(), due_at=clock.now())
        for _ in range(100):
            if await _sla_events(incident.id):
                break
            await asyncio.sleep(0.02)
        assert await _sla_events(incident.id) == [("sla.breached", "RESPONSE")]
    finally:
        await sla.stop()
