"""Every timer transition, driven through the incident service (the one path a user's change
takes) against a real database, with time moved by a FrozenClock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from app.auth.models import Role
from app.events.models import Event
from app.incidents import service as incidents
from app.incidents.models import Impact, IncidentStatus, Priority, Urgency
from app.slas import policies
from app.slas.models import SlaKind, SlaState, SlaTimer
from tests.fixtures_slas import (
    P1_RESOLUTION,
    P2_RESOLUTION,
    P2_RESPONSE,
    new_incident,
    targets,
    timer_views,
)

S = IncidentStatus
RESP, RESO = SlaKind.RESPONSE, SlaKind.RESOLUTION


@pytest.fixture
async def responder(users):
    return users[Role.RESPONDER][0]


async def _types(incident_id: int) -> list[str]:
    return await Event.filter(incident_id=incident_id).order_by("id").values_list("type",
                                                                                  flat=True)


async def test_creation_starts_a_timer_per_target_of_the_priority(covered, responder, clock):
    start = clock.now()
    incident = await new_incident(responder, start, covered.id)
    views = await timer_views(incident.id, start)
    assert set(views) == {RESP, RESO}
    assert views[RESP].state == SlaState.RUNNING
    assert views[RESP].due_at == start + timedelta(seconds=P2_RESPONSE)
    assert views[RESO].due_at == start + timedelta(seconds=P2_RESOLUTION)
    assert (views[RESP].elapsed_seconds, views[RESP].remaining_seconds) == (0, P2_RESPONSE)
    row = await SlaTimer.get(incident_id=incident.id, kind=RESP)
    assert row.warn_at == start + timedelta(seconds=450)  # 75 % of 600

    # P3 has only a RESOLUTION target; an incident on a service without policy gets none.
    p3 = await new_incident(responder, start, covered.id, Impact.MEDIUM, Urgency.MEDIUM)
    assert set(await timer_views(p3.id, start)) == {RESO}
    bare = await incidents.create_service(name="Bare", description=None, public=True,
                                          actor=responder, now=start)
    assert await timer_views((await new_incident(responder, start, bare.id)).id, start) == {}
    assert await timer_views((await new_incident(responder, start, None)).id, start) == {}


async def test_acknowledging_in_time_meets_the_response(covered, responder, clock):
    incident = await new_incident(responder, clock.now(), covered.id)
    clock.advance(120)
    await incidents.acknowledge(incident.id, actor=responder, now=clock.now())
    clock.advance(1000)
    views = await timer_views(incident.id, clock.now())
    assert views[RESP].state == SlaState.MET
    assert views[RESP].elapsed_seconds == 120  # frozen at the response
    assert views[RESP].breached_at is None
    assert views[RESO].state == SlaState.RUNNING and views[RESO].elapsed_seconds == 1120
    assert "sla.breached" not in await _types(incident.id)


@pytest.mark.parametrize("response", [S.ACKNOWLEDGED, S.IN_PROGRESS])
async def test_a_late_response_is_breached_and_the_breach_is_emitted_once(
        covered, responder, clock, response):
    start = clock.now()
    incident = await new_incident(responder, start, covered.id)
    clock.advance(P2_RESPONSE + 60)  # no clock ran meanwhile
    await incidents.change_status(incident.id, response, actor=responder, now=clock.now())
    views = await timer_views(incident.id, clock.now())
    assert views[RESP].state == SlaState.BREACHED
    assert views[RESP].breached_at == start + timedelta(seconds=P2_RESPONSE)
    assert views[RESP].remaining_seconds == -60
    types = await _types(incident.id)
    assert types.count("sla.breached") == 1 and types.count("sla.warning") == 1
    # Emitted before the acknowledgement, in the same transaction.
    assert types.index("sla.breached") < len(types) - 1
    breach = await Event.get(incident_id=incident.id, type="sla.breached")
    assert breach.payload["kind"] == "RESPONSE"
    assert breach.payload["breachedAt"] == (start + timedelta(seconds=P2_RESPONSE)).isoformat()


async def test_resolving_from_new_ends_both_timers(covered, responder, clock):
    incident = await new_incident(responder, clock.now(), covered.id)
    clock.advance(60)
    await incidents.resolve(incident.id, "false alarm", actor=responder, now=clock.now())
    views = await timer_views(incident.id, clock.now())
    assert (views[RESP].state, views[RESO].state) == (SlaState.MET, SlaState.MET)
    assert views[RESO].elapsed_seconds == 60


async def test_on_hold_pauses_resolution_and_resuming_pushes_the_due_time_out(
        covered, responder, clock):
    start = clock.now()
    incident = await new_incident(responder, start, covered.id)
    await incidents.acknowledge(incident.id, actor=responder, now=clock.now())
    clock.advance(600)
    await incidents.change_status(incident.id, S.ON_HOLD, actor=responder, now=clock.now())
    clock.advance(5000)  # longer than the whole target: paused time does not count
    views = await timer_views(incident.id, clock.now())
    assert views[RESO].state == SlaState.PAUSED
    assert views[RESO].due_at is None
    assert views[RESO].elapsed_seconds == 600
    assert (await SlaTimer.get(incident_id=incident.id, kind=RESO)).next_at is None

    await incidents.change_status(incident.id, S.IN_PROGRESS, actor=responder, now=clock.now())
    views = await timer_views(incident.id, clock.now())
    assert views[RESO].state == SlaState.RUNNING
    assert views[RESO].due_at == start + timedelta(seconds=P2_RESOLUTION + 5000)
    assert views[RESO].remaining_seconds == P2_RESOLUTION - 600

    # Resolving straight from ON_HOLD ends it by the time consumed.
    await incidents.change_status(incident.id, S.ON_HOLD, actor=responder, now=clock.now())
    clock.advance(10_000)
    await incidents.resolve(incident.id, "vendor fixed it", actor=responder, now=clock.now())
    assert (await timer_views(incident.id, clock.now()))[RESO].state == SlaState.MET


async def test_priority_change_retargets_keeping_consumed_time(covered, responder, clock):
    incident = await new_incident(responder, clock.now(), covered.id)  # P2
    clock.advance(100)
    await incidents.update_incident(incident.id, {"urgency": Urgency.HIGH}, actor=responder,
                                    now=clock.now())  # HIGH x HIGH = P1
    views = await timer_views(incident.id, clock.now())
    assert views[RESO].target_seconds == P1_RESOLUTION
    assert views[RESO].elapsed_seconds == 100
    assert views[RESO].due_at == clock.now() + timedelta(seconds=P1_RESOLUTION - 100)
    assert views[RESP].remaining_seconds == 300 - 100

    # Down to P3, which has no RESPONSE target: that timer is cancelled, RESOLUTION re-targeted.
    await incidents.update_incident(incident.id, {"impact": Impact.MEDIUM, "urgency":
                                                  Urgency.MEDIUM}, actor=responder,
                                    now=clock.now())
    views = await timer_views(incident.id, clock.now())
    assert views[RESP].state == SlaState.CANCELLED
    assert (views[RESO].state, views[RESO].target_seconds) == (SlaState.RUNNING, 7200)


async def test_retarget_below_the_consumed_time_breaches_now(covered, responder, clock):
    incident = await new_incident(responder, clock.now(), covered.id,
                                  Impact.MEDIUM, Urgency.MEDIUM)  # P3: 7200 s
    await incidents.acknowledge(incident.id, actor=responder, now=clock.now())
    clock.advance(2000)
    await incidents.update_incident(incident.id, {"impact": Impact.HIGH, "urgency":
                                                  Urgency.HIGH}, actor=responder,
                                    now=clock.now())  # P1: 1800 s, already spent
    views = await timer_views(incident.id, clock.now())
    assert views[RESO].remaining_seconds == -200
    assert views[RESO].due_at == clock.now()
    assert views[RESO].breached_at == clock.now()


async def test_reopening_resumes_resolution(covered, responder, clock):
    incident = await new_incident(responder, clock.now(), covered.id)
    clock.advance(1000)
    await incidents.resolve(incident.id, "restarted", actor=responder, now=clock.now())
    assert (await timer_views(incident.id, clock.now()))[RESO].state == SlaState.MET
    clock.advance(500)
    await incidents.reopen(incident.id, actor=responder, now=clock.now())
    views = await timer_views(incident.id, clock.now())
    assert views[RESO].state == SlaState.RUNNING
    assert views[RESO].elapsed_seconds == 1000
    assert views[RESO].due_at == clock.now() + timedelta(seconds=P2_RESOLUTION - 1000)
    assert views[RESP].state == SlaState.BREACHED  # answered late at 1000 s; stays ended


async def test_cancelling_cancels_running_timers(covered, responder, clock):
    fresh = await new_incident(responder, clock.now(), covered.id)
    await incidents.change_status(fresh.id, S.CANCELLED, actor=responder, now=clock.now())
    views = await timer_views(fresh.id, clock.now())
    assert (views[RESP].state, views[RESO].state) == (SlaState.CANCELLED, SlaState.CANCELLED)
    assert (await SlaTimer.get(incident_id=fresh.id, kind=RESO)).next_at is None

    worked = await new_incident(responder, clock.now(), covered.id)
    await incidents.acknowledge(worked.id, actor=responder, now=clock.now())
    await incidents.change_status(worked.id, S.CANCELLED, actor=responder, now=clock.now())
    views = await timer_views(worked.id, clock.now())
    assert (views[RESP].state, views[RESO].state) == (SlaState.MET, SlaState.CANCELLED)


async def test_business_hours_policy_starts_at_the_next_opening(manager, responder, clock):
    policy = await policies.create_policy(policies.PolicyInput(
        name="Office", timezone="Europe/Berlin",
        working_hours=[policies.WorkingHours(d, "09:00", "17:00") for d in range(1, 6)],
        holidays=["2026-01-12"],
        targets=targets((Priority.P2, SlaKind.RESPONSE, 3600))),
        actor=manager, now=clock.now())
    service = await incidents.create_service(name="Office IT", description=None, public=True,
                                             actor=manager, now=clock.now(),
                                             sla_policy_id=policy.id)
    saturday = datetime(2026, 1, 10, 12, tzinfo=UTC)
    clock.set(saturday)
    incident = await new_incident(responder, clock.now(), service.id)
    views = await timer_views(incident.id, clock.now())
    # Monday is a holiday: Tuesday 09:00 CET (08:00 UTC) + 1h.
    assert views[RESP].due_at == datetime(2026, 1, 13, 9, tzinfo=UTC)
    clock.set(datetime(2026, 1, 13, 8, 30, tzinfo=UTC))
    assert (await timer_views(incident.id, clock.now()))[RESP].elapsed_seconds == 1800


def test_calendar_of_a_policy_reads_its_hours():
    from app.slas.models import SlaPolicy

    policy = SlaPolicy(timezone="UTC", working_hours=[
        {"weekday": 1, "start": "09:00", "end": "24:00"}], holidays=["2026-01-01"])
    cal = policies.calendar_of(policy)
    assert cal.hours == {1: [(time(9), None)]}
