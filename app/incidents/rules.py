"""The incident rules of DESIGN.md as plain data: the lifecycle, the priority matrix, and how a
service's status follows from the priorities of its open incidents."""

from __future__ import annotations

from collections.abc import Iterable

from app.incidents.models import Impact, IncidentStatus, Priority, ServiceStatus, Urgency

S = IncidentStatus

TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.RESOLVED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.IN_PROGRESS, S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.RESOLVED, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.RESOLVED}),
    S.RESOLVED: frozenset({S.IN_PROGRESS, S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}

OPEN_STATUSES = frozenset({S.NEW, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ON_HOLD})

# Moving out of NEW to one of these is the response: it sets acknowledgedAt.
RESPONSE_STATUSES = frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.RESOLVED})

_LEVEL = {Impact.HIGH: 0, Impact.MEDIUM: 1, Impact.LOW: 2}
_URGENCY_LEVEL = {Urgency.HIGH: 0, Urgency.MEDIUM: 1, Urgency.LOW: 2}
_PRIORITIES = [Priority.P1, Priority.P2, Priority.P3, Priority.P4, Priority.P5]


def can_move(current: IncidentStatus, target: IncidentStatus) -> bool:
    return target in TRANSITIONS[current]


def priority_for(impact: Impact, urgency: Urgency) -> Priority:
    """Impact x urgency: HIGH row P1 P2 P3, MEDIUM row P2 P3 P4, LOW row P3 P4 P5."""
    return _PRIORITIES[_LEVEL[Impact(impact)] + _URGENCY_LEVEL[Urgency(urgency)]]


def priority_rank(priority: Priority | str) -> int:
    """1 for P1 (most urgent) … 5 for P5."""
    return int(str(priority)[1])


def service_status(open_priorities: Iterable[Priority | str]) -> ServiceStatus:
    """P1 → major outage, P2 → partial outage, P3 → degraded, anything else operational."""
    best = min((priority_rank(p) for p in open_priorities), default=9)
    if best == 1:
        return ServiceStatus.MAJOR_OUTAGE
    if best == 2:
        return ServiceStatus.PARTIAL_OUTAGE
    if best == 3:
        return ServiceStatus.DEGRADED
    return ServiceStatus.OPERATIONAL


def event_type_for(current: IncidentStatus, target: IncidentStatus) -> str:
    if current == S.RESOLVED and target == S.IN_PROGRESS:
        return "incident.reopened"
    return {
        S.ACKNOWLEDGED: "incident.acknowledged",
        S.RESOLVED: "incident.resolved",
        S.CLOSED: "incident.closed",
    }.get(target, "incident.status_changed")
