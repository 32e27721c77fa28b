"""Rule matching (DESIGN.md): type listed, priority at least as urgent as minPriority, service
listed or none listed."""

from __future__ import annotations

import pytest

from app.notifications.models import NotificationRule
from app.notifications.outbox import rule_matches


def rule(**fields) -> NotificationRule:
    base = {"event_types": ["incident.created"], "min_priority": None, "service_ids": []}
    return NotificationRule(**{**base, **fields})


@pytest.mark.parametrize(("priority", "fires"), [
    ("P1", True), ("P2", True), ("P3", False), ("P5", False), (None, False)])
def test_a_p2_rule_fires_for_p1_and_p2(priority, fires):
    assert rule_matches(rule(min_priority="P2"), "incident.created", priority, 1) is fires


def test_no_min_priority_matches_every_priority_and_none():
    for priority in ("P1", "P5", None):
        assert rule_matches(rule(), "incident.created", priority, None)


def test_type_must_be_listed():
    assert not rule_matches(rule(), "incident.resolved", "P1", None)
    assert rule_matches(rule(event_types=["incident.resolved", "incident.created"]),
                        "incident.resolved", "P1", None)


def test_services_listed_or_none_listed():
    assert rule_matches(rule(service_ids=[]), "incident.created", "P3", 7)
    assert rule_matches(rule(service_ids=[3, 7]), "incident.created", "P3", 7)
    assert not rule_matches(rule(service_ids=[3]), "incident.created", "P3", 7)
    assert not rule_matches(rule(service_ids=[3]), "incident.created", "P3", None)
