"""The incident service functions against a real database (SQLite, and PostgreSQL on CI)."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.errors import BadUserInput, InvalidTransition, NotFound
from app.events.models import Event
from app.incidents import service
from app.incidents.models import Impact, Incident, IncidentStatus, Priority, Urgency

S = IncidentStatus


@pytest.fixture
async def responder(users):
    return users[Role.RESPONDER][0]


async def _new(actor, clock, **kw) -> Incident:
    data = service.NewIncident(
        title=kw.pop("title", "Checkout fails"), impact=kw.pop("impact", Impact.HIGH),
        urgency=kw.pop("urgency", Urgency.MEDIUM), **kw,
    )
    return await service.create_incident(data, actor=actor, now=clock.now())


async def test_create_numbers_incidents_in_order_and_logs_creation(responder, clock):
    first = await _new(responder, clock)
    second = await _new(responder, clock, title="Second")
    assert (first.reference, second.reference) == ("INC-1", "INC-2")
    assert first.priority == Priority.P2
    assert first.started_at == first.created_at == clock.now()
    created = await Event.filter(incident_id=first.id).values_list("type", "to_status")
    assert created == [("incident.created", "NEW")]


async def test_walk_through_the_lifecycle_sets_timestamps(responder, clock):
    incident = await _new(responder, clock)
    clock.advance(60)
    acked = await service.acknowledge(incident.id, actor=responder, now=clock.now(), note="on it")
    assert acked.status == S.ACKNOWLEDGED and acked.acknowledged_at == clock.now()
    clock.advance(60)
    await service.change_status(incident.id, S.IN_PROGRESS, actor=responder, now=clock.now())
    await service.change_status(incident.id, S.ON_HOLD, actor=responder, now=clock.now())
    await service.change_status(incident.id, S.IN_PROGRESS, actor=responder, now=clock.now())
    clock.advance(600)
    resolved = await service.resolve(incident.id, "restarted", actor=responder, now=clock.now())
    assert resolved.resolved_at == clock.now() and resolved.resolution == "restarted"
    clock.advance(60)
    reopened = await service.reopen(incident.id, actor=responder, now=clock.now(), note="again")
    assert reopened.status == S.IN_PROGRESS
    assert reopened.resolved_at is None and reopened.resolution is None
    await service.resolve(incident.id, "fixed for real", actor=responder, now=clock.now())
    closed = await service.close(incident.id, actor=responder, now=clock.now())
    assert closed.closed_at == clock.now()
    types = await Event.filter(incident_id=incident.id).order_by("id").values_list("type",
                                                                                    flat=True)
    assert types == [
        "incident.created", "incident.acknowledged", "incident.status_changed",
        "incident.status_changed", "incident.status_changed", "incident.resolved",
        "incident.reopened", "incident.resolved", "incident.closed",
    ]


async def test_first_move_to_in_progress_or_resolved_counts_as_the_response(responder, clock):
    a = await _new(responder, clock)
    b = await _new(responder, clock)
    clock.advance(30)
    moved = await service.change_status(a.id, S.IN_PROGRESS, actor=responder, now=clock.now())
    solved = await service.resolve(b.id, "false alarm", actor=responder, now=clock.now())
    assert moved.acknowledged_at == clock.now() and solved.acknowledged_at == clock.now()


async def test_cancel_from_new_does_not_set_acknowledged(responder, clock):
    incident = await _new(responder, clock)
    cancelled = await service.change_status(incident.id, S.CANCELLED, actor=responder,
                                            now=clock.now())
    assert cancelled.status == S.CANCELLED and cancelled.acknowledged_at is None


async def test_illegal_transition_is_refused_and_changes_nothing(responder, clock):
    incident = await _new(responder, clock)
    before = await Event.all().count()
    with pytest.raises(InvalidTransition):
        await service.close(incident.id, actor=responder, now=clock.now())
    with pytest.raises(InvalidTransition):
        await service.reopen(incident.id, actor=responder, now=clock.now())
    after = await Incident.get(id=incident.id)
    assert after.status == S.NEW and after.closed_at is None
    assert await Event.all().count() == before


async def test_update_recomputes_priority_and_records_changes(responder, clock):
    incident = await _new(responder, clock, impact=Impact.LOW, urgency=Urgency.LOW)
    assert incident.priority == Priority.P5
    updated = await service.update_incident(
        incident.id, {"impact": Impact.HIGH, "urgency": Urgency.HIGH, "title": "Worse"},
        actor=responder, now=clock.now(),
    )
    assert updated.priority == Priority.P1
    event = await Event.filter(incident_id=incident.id, type="incident.updated").get()
    assert event.payload["changes"]["priority"] == {"from": "P5", "to": "P1"}
    assert event.payload["changes"]["title"]["to"] == "Worse"


async def test_update_with_nothing_changed_writes_no_event(responder, clock):
    incident = await _new(responder, clock)
    await service.update_incident(incident.id, {"title": incident.title}, actor=responder,
                                  now=clock.now())
    assert await Event.filter(type="incident.updated").count() == 0


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
async def test_bad_titles_are_refused_naming_the_field(responder, clock, title):
    with pytest.raises(BadUserInput) as caught:
        await _new(responder, clock, title=title)
    assert caught.value.field == "title"
    assert await Incident.all().count() == 0


async def test_unknown_service_is_not_found_and_creates_nothing(responder, clock):
    with pytest.raises(NotFound):
        await _new(responder, clock, service_id=999)
    assert await Incident.all().count() == 0
    assert await Event.all().count() == 0


async def test_started_at_in_the_future_is_refused(responder, clock):
    with pytest.raises(BadUserInput):
        await _new(responder, clock, started_at=clock.advance(10) and clock.now().replace(
            year=2100))


async def test_notes_are_events_with_visibility(responder, clock):
    incident = await _new(responder, clock)
    public = await service.add_note(incident.id, "We are investigating", public=True,
                                    actor=responder, now=clock.now())
    internal = await service.add_note(incident.id, "db01 disk full", public=False,
                                      actor=responder, now=clock.now())
    assert (public.type, public.public) == ("incident.note_added", True)
    assert internal.public is False and int(internal.sequence) > int(public.sequence)
