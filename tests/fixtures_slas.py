"""SLA fixtures (tests/slas, tests/metrics): a 24x7 policy with P1/P2/P3 targets, a
service using it, and helpers to create incidents and read their timers."""

from __future__ import annotations

from datetime import datetime

import pytest

from app.auth.models import Role
from app.incidents import service as incidents
from app.incidents.models import Impact, Incident, Priority, Urgency
from app.slas import policies
from app.slas import service as timers
from app.slas.models import SlaKind, SlaPolicy

P1_RESPONSE, P1_RESOLUTION = 300, 1800
P2_RESPONSE, P2_RESOLUTION = 600, 3600


def targets(*rows: tuple[Priority, SlaKind, int]) -> list[policies.Target]:
    return [policies.Target(priority=p, kind=k, seconds=s) for p, k, s in rows]


STANDARD_TARGETS = targets(
    (Priority.P1, SlaKind.RESPONSE, P1_RESPONSE), (Priority.P1, SlaKind.RESOLUTION, P1_RESOLUTION),
    (Priority.P2, SlaKind.RESPONSE, P2_RESPONSE), (Priority.P2, SlaKind.RESOLUTION, P2_RESOLUTION),
    (Priority.P3, SlaKind.RESOLUTION, 7200),
)


@pytest.fixture
async def manager(users):
    return users[Role.MANAGER][0]


@pytest.fixture
async def policy(manager, clock) -> SlaPolicy:
    return await policies.create_policy(
        policies.PolicyInput(name="Standard", timezone="UTC", targets=STANDARD_TARGETS),
        actor=manager, now=clock.now())


@pytest.fixture
async def covered(manager, clock, policy):
    """A service whose incidents run under the Standard policy."""
    return await incidents.create_service(name="Checkout", description=None, public=True,
                                          actor=manager, now=clock.now(),
                                          sla_policy_id=policy.id)


async def new_incident(actor, now: datetime, service_id: int | None,
                       impact: Impact = Impact.HIGH, urgency: Urgency = Urgency.MEDIUM
                       ) -> Incident:
    """HIGH x MEDIUM = P2 unless told otherwise."""
    return await incidents.create_incident(incidents.NewIncident(
        title="Card payments fail", impact=impact, urgency=urgency, service_id=service_id),
        actor=actor, now=now)


async def timer_views(incident_id: int, now: datetime) -> dict[SlaKind, timers.TimerView]:
    rows = (await timers.load_timers([incident_id]))[incident_id]
    return {SlaKind(t.kind): timers.view(t, cal, now) for t, cal in rows}
