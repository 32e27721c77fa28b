"""Problem candidates (recurring unlinked incidents) and suggested problems, on crafted data."""

from __future__ import annotations

import pytest

from app.errors import BadUserInput
from app.incidents import service as incidents
from app.incidents.models import IncidentStatus
from app.problems import recurrence, service
from app.problems.models import ProblemStatus
from app.problems.similarity import jaccard, words

P = ProblemStatus
DAY = 86_400


def test_titles_are_normalised_to_meaningful_words():
    assert words("DB-01 timeouts on node 7!") == {"db", "timeout", "node"}
    assert words("Disk full on host 10.0.3.7 (id 4f2a)") == {"disk", "full", "host", "id"}
    assert words("Status: 502s from the API gateway") == {"status", "api", "gateway"}
    assert words("1234 ---") == frozenset()
    assert jaccard(words("Checkout timeouts on eu-1"), words("checkout timeout eu-2")) == 1.0


async def test_candidates_group_recent_unlinked_incidents_by_service_and_title(
    make, manager, responder, clock
):
    shop, mail = await make.service("Shop"), await make.service("Mail")
    old = await make.incident("Checkout timeouts on node 1", service_id=shop.id)
    clock.advance(40 * DAY)  # `old` is now outside the 30-day window
    for n in (2, 3, 4):
        await make.incident(f"Checkout timeout on node {n}", service_id=shop.id)
        clock.advance(3600)
    await make.incident("CHECKOUT TIMEOUTS!!", service_id=shop.id)
    linked = await make.incident("Checkout timeouts node 9", service_id=shop.id)
    cancelled = await make.incident("Checkout timeouts node 8", service_id=shop.id)
    await incidents.change_status(cancelled.id, IncidentStatus.CANCELLED, actor=responder,
                                  now=clock.now())
    await make.problem("Known checkout issue", incident_ids=[linked.id])
    # The same words on another service are another group; too few there.
    await make.incident("Checkout timeouts", service_id=mail.id)
    await make.incident("Checkout timeouts", service_id=mail.id)
    # Different words on the same service: their own group.
    for _ in range(3):
        await make.incident("Bounce emails rejected by relay", service_id=mail.id)
    await make.incident("Search slow", service_id=shop.id)

    found = await recurrence.problem_candidates(days=30, min_incidents=3, now=clock.now())
    summary = [(c.service_id, c.title, [i.reference for i in c.incidents]) for c in found]
    assert summary == [
        (shop.id, "Checkout timeout on node 2", ["INC-2", "INC-3", "INC-4", "INC-5"]),
        (mail.id, "Bounce emails rejected by relay", ["INC-10", "INC-11", "INC-12"]),
    ]
    assert old.reference not in summary[0][2]
    relaxed = await recurrence.problem_candidates(days=60, min_incidents=2, now=clock.now())
    by_title = {(c.service_id, c.title): len(c.incidents) for c in relaxed}
    # INC-1 is back in range; its title has the group's most frequent wording, and is oldest.
    assert by_title[(shop.id, "Checkout timeouts on node 1")] == 5
    assert by_title[(mail.id, "Checkout timeouts")] == 2


async def test_candidate_arguments_are_checked(database, clock):
    with pytest.raises(BadUserInput) as days:
        await recurrence.problem_candidates(days=0, min_incidents=3, now=clock.now())
    assert days.value.field == "days"
    with pytest.raises(BadUserInput) as minimum:
        await recurrence.problem_candidates(days=30, min_incidents=1, now=clock.now())
    assert minimum.value.field == "minIncidents"


async def test_suggestions_rank_open_problems_of_the_same_service(make, manager, clock):
    shop, mail = await make.service("Shop"), await make.service("Mail")
    exact = await make.problem("Payment gateway timeouts", service_id=shop.id)
    by_workaround = await make.problem("Slow third party", service_id=shop.id,
                                       description="card payment provider answers late")
    unrelated = await make.problem("Search index stale", service_id=shop.id)
    other_service = await make.problem("Payment gateway timeouts", service_id=mail.id)
    closed = await make.problem("Payment gateway timeouts again", service_id=shop.id)
    for status in (P.INVESTIGATING, P.RESOLVED, P.CLOSED):
        await service.update_problem(closed.id, {"status": status}, actor=manager,
                                     now=clock.now())
    incident = await make.incident("Payment gateway timeout", service_id=shop.id,
                                   description="card payments hang")
    ranked = await recurrence.suggested_problems([incident])
    assert [p.reference for p in ranked[incident.id]] == [exact.reference,
                                                          by_workaround.reference]
    assert unrelated.id not in {p.id for p in ranked[incident.id]}
    assert other_service.id not in {p.id for p in ranked[incident.id]}

    # On a tie, the known error (it has a workaround) comes first.
    twin = await make.problem("Payment gateway timeouts", service_id=shop.id)
    for status in (P.INVESTIGATING, P.KNOWN_ERROR):
        await service.update_problem(twin.id, {"status": status, "workaround": "Use PayPal"},
                                     actor=manager, now=clock.now())
    ranked = await recurrence.suggested_problems([incident])
    assert [p.reference for p in ranked[incident.id]][:2] == [twin.reference, exact.reference]

    # Once linked, its own problem is no longer suggested.
    await service.link_incidents(twin.id, [incident.id], actor=manager, now=clock.now())
    ranked = await recurrence.suggested_problems([incident])
    assert twin.id not in {p.id for p in ranked[incident.id]}


async def test_incidents_without_a_service_see_problems_without_one(make):
    loose = await make.problem("VPN drops")
    svc = await make.service()
    await make.problem("VPN drops", service_id=svc.id)
    incident = await make.incident("VPN drops every hour")
    ranked = await recurrence.suggested_problems([incident])
    assert [p.id for p in ranked[incident.id]] == [loose.id]
