"""Two calls linking one incident to two problems at the same time: exactly one wins, the
other gets CONFLICT (the incident row lock serialises them on PostgreSQL; the unique link is
the last guard)."""

from __future__ import annotations

import asyncio

from app.errors import Conflict
from app.problems import service
from app.problems.models import ProblemIncident


async def _attempt(coro):
    try:
        return await coro
    except Conflict as exc:
        return exc


async def test_concurrent_links_of_one_incident_to_two_problems(make, manager, clock):
    for _ in range(5):
        incident = await make.incident()
        one, two = await make.problem("one"), await make.problem("two")
        results = await asyncio.gather(
            _attempt(service.link_incidents(one.id, [incident.id], actor=manager,
                                            now=clock.now())),
            _attempt(service.link_incidents(two.id, [incident.id], actor=manager,
                                            now=clock.now())),
        )
        assert sorted(isinstance(r, Conflict) for r in results) == [False, True]
        assert await ProblemIncident.filter(incident_id=incident.id).count() == 1
