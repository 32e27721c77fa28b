"""The lifecycle table and priority matrix of DESIGN.md, checked cell by cell."""

from __future__ import annotations

import itertools

import pytest

from app.incidents import rules
from app.incidents.models import Impact, IncidentStatus, Priority, ServiceStatus, Urgency

S = IncidentStatus

# Written out again from DESIGN.md on purpose: the test is the table, not the code's copy.
ALLOWED = {
    (S.NEW, S.ACKNOWLEDGED), (S.NEW, S.IN_PROGRESS), (S.NEW, S.RESOLVED), (S.NEW, S.CANCELLED),
    (S.ACKNOWLEDGED, S.IN_PROGRESS), (S.ACKNOWLEDGED, S.ON_HOLD), (S.ACKNOWLEDGED, S.RESOLVED),
    (S.ACKNOWLEDGED, S.CANCELLED),
    (S.IN_PROGRESS, S.ON_HOLD), (S.IN_PROGRESS, S.RESOLVED), (S.IN_PROGRESS, S.CANCELLED),
    (S.ON_HOLD, S.IN_PROGRESS), (S.ON_HOLD, S.RESOLVED),
    (S.RESOLVED, S.IN_PROGRESS), (S.RESOLVED, S.CLOSED),
}


@pytest.mark.parametrize("current,target", list(itertools.product(S, S)))
def test_lifecycle_allows_exactly_the_design_table(current: S, target: S) -> None:
    assert rules.can_move(current, target) == ((current, target) in ALLOWED)


MATRIX = {
    Impact.HIGH: [Priority.P1, Priority.P2, Priority.P3],
    Impact.MEDIUM: [Priority.P2, Priority.P3, Priority.P4],
    Impact.LOW: [Priority.P3, Priority.P4, Priority.P5],
}


@pytest.mark.parametrize("impact", list(Impact))
@pytest.mark.parametrize("column,urgency", list(enumerate([Urgency.HIGH, Urgency.MEDIUM,
                                                            Urgency.LOW])))
def test_priority_matrix(impact: Impact, column: int, urgency: Urgency) -> None:
    assert rules.priority_for(impact, urgency) == MATRIX[impact][column]


@pytest.mark.parametrize(
    "priorities,expected",
    [
        ([], ServiceStatus.OPERATIONAL),
        (["P4", "P5"], ServiceStatus.OPERATIONAL),
        (["P3", "P5"], ServiceStatus.DEGRADED),
        (["P2", "P3"], ServiceStatus.PARTIAL_OUTAGE),
        (["P4", "P1", "P2"], ServiceStatus.MAJOR_OUTAGE),
    ],
)
def test_service_status_follows_the_most_urgent_open_incident(priorities, expected) -> None:
    assert rules.service_status(priorities) == expected
