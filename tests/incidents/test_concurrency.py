"""Two transitions of one incident from the same state, at the same time: exactly one wins.
On PostgreSQL the row lock serialises them across connections; SQLite serialises writers."""

from __future__ import annotations

import asyncio

import pytest

from app.auth.models import Role
from app.errors import InvalidTransition
from app.events.models import Event
from app.incidents import service
from app.incidents.models import Impact, IncidentStatus, Urgency


async def _attempt(coro):
    try:
        return await coro
    except InvalidTransition as exc:
        return exc


@pytest.mark.parametrize("rounds", [5])
async def test_concurrent_transitions_from_one_state_do_not_both_succeed(users, clock, rounds):
    actor = users[Role.RESPONDER][0]
    for _ in range(rounds):
        incident = await service.create_incident(
            service.NewIncident(title="race", impact=Impact.LOW, urgency=Urgency.LOW),
            actor=actor, now=clock.now())
        results = await asyncio.gather(
            _attempt(service.acknowledge(incident.id, actor=actor, now=clock.now())),
            _attempt(service.change_status(incident.id, IncidentStatus.CANCELLED, actor=actor,
                                           now=clock.now())),
            _attempt(service.resolve(incident.id, "dup", actor=actor, now=clock.now())),
        )
        winners = [r for r in results if not isinstance(r, Exception)]
        # ACKNOWLEDGED -> RESOLVED is legal, so a later resolve may also win; what must never
        # happen is two moves that both start from NEW.
        from_new = await Event.filter(incident_id=incident.id, from_status="NEW").count()
        assert from_new == 1
        assert winners


async def test_concurrent_creates_get_distinct_numbers(users, clock):
    actor = users[Role.RESPONDER][0]
    made = await asyncio.gather(*[
        service.create_incident(
            service.NewIncident(title=f"n{i}", impact=Impact.LOW, urgency=Urgency.LOW),
            actor=actor, now=clock.now())
        for i in range(20)
    ])
    assert sorted(i.number for i in made) == list(range(1, 21))


async def test_event_sequences_increase_in_commit_order(users, clock):
    actor = users[Role.RESPONDER][0]
    await asyncio.gather(*[
        service.create_incident(
            service.NewIncident(title=f"n{i}", impact=Impact.LOW, urgency=Urgency.LOW),
            actor=actor, now=clock.now())
        for i in range(10)
    ])
    ids = await Event.all().order_by("id").values_list("id", flat=True)
    assert ids == sorted(ids) and len(set(ids)) == 10
