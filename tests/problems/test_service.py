"""The problem service against a real database (SQLite, and PostgreSQL when configured):
the lifecycle, links (at most one problem per incident), batch resolution, and events."""

from __future__ import annotations

import itertools

import pytest

from app.errors import BadUserInput, Conflict, InvalidTransition, NotFound
from app.events.models import Event
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentStatus
from app.problems import rules, service
from app.problems.models import Problem, ProblemIncident, ProblemStatus

P = ProblemStatus
I = IncidentStatus  # noqa: E741

ALLOWED = {
    (P.NEW, P.INVESTIGATING),
    (P.INVESTIGATING, P.KNOWN_ERROR),
    (P.INVESTIGATING, P.RESOLVED),
    (P.KNOWN_ERROR, P.RESOLVED),
    (P.RESOLVED, P.CLOSED),
    (P.RESOLVED, P.INVESTIGATING),
}
# The shortest way to reach each status from NEW.
PATH = {
    P.NEW: [],
    P.INVESTIGATING: [P.INVESTIGATING],
    P.KNOWN_ERROR: [P.INVESTIGATING, P.KNOWN_ERROR],
    P.RESOLVED: [P.INVESTIGATING, P.RESOLVED],
    P.CLOSED: [P.INVESTIGATING, P.RESOLVED, P.CLOSED],
}


async def _walk(problem: Problem, statuses, manager, clock) -> Problem:
    for status in statuses:
        problem = await service.update_problem(problem.id, {"status": status}, actor=manager,
                                               now=clock.now())
    return problem


def test_the_rules_table_is_the_design():
    pairs = {(a, b) for a, b in itertools.product(P, P) if rules.can_move(a, b)}
    assert pairs == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(itertools.product(P, P)))
async def test_every_transition_allowed_or_refused(make, manager, clock, current, target):
    problem = await _walk(await make.problem(), PATH[current], manager, clock)
    before = await Event.filter(problem_id=problem.id).count()
    if current == target:
        unchanged = await service.update_problem(problem.id, {"status": target}, actor=manager,
                                                 now=clock.now())
        assert unchanged.status == current
        assert await Event.filter(problem_id=problem.id).count() == before  # nothing to say
    elif (current, target) in ALLOWED:
        clock.advance(60)
        moved = await service.update_problem(problem.id, {"status": target}, actor=manager,
                                             now=clock.now())
        assert (await Problem.get(id=problem.id)).status == target == moved.status
        event = await Event.filter(problem_id=problem.id).order_by("-id").first()
        assert event is not None
        assert (event.from_status, event.to_status) == (current.value, target.value)
        assert event.type == {P.KNOWN_ERROR: "problem.known_error",
                              P.RESOLVED: "problem.resolved"}.get(target, "problem.updated")
        if target == P.RESOLVED:
            assert moved.resolved_at == clock.now()
        if current == P.RESOLVED and target == P.INVESTIGATING:
            assert moved.resolved_at is None and moved.resolution is None
        if target == P.CLOSED:
            assert moved.closed_at == clock.now()
    else:
        with pytest.raises(InvalidTransition) as refused:
            await service.update_problem(problem.id, {"status": target, "title": "changed"},
                                         actor=manager, now=clock.now())
        assert refused.value.code == "INVALID_TRANSITION"
        stored = await Problem.get(id=problem.id)
        assert (stored.status, stored.title) == (current, problem.title)  # nothing changed
        assert await Event.filter(problem_id=problem.id).count() == before


async def test_create_numbers_problems_apart_from_incidents(make, clock):
    await make.incident()
    first, second = await make.problem(), await make.problem("Second")
    assert (first.reference, second.reference) == ("PRB-1", "PRB-2")
    assert (await make.incident()).reference == "INC-2"
    event = await Event.get(problem_id=first.id)
    assert (event.type, event.to_status, event.incident_id) == ("problem.created", "NEW", None)
    assert event.payload["reference"] == "PRB-1"


async def test_create_with_incidents_links_them_and_checks_input(make, manager, clock):
    svc = await make.service()
    one, two = await make.incident(service_id=svc.id), await make.incident(service_id=svc.id)
    problem = await make.problem(service_id=svc.id, incident_ids=[two.id, one.id, one.id])
    linked = await ProblemIncident.filter(problem_id=problem.id).values_list("incident_id",
                                                                            flat=True)
    assert sorted(linked) == sorted([one.id, two.id])
    events = await Event.filter(problem_id=problem.id).order_by("id").values_list(
        "type", "incident_id", "service_id")
    assert events == [("problem.created", None, svc.id),
                      ("problem.incident_linked", one.id, svc.id),
                      ("problem.incident_linked", two.id, svc.id)]
    with pytest.raises(BadUserInput):
        await make.problem(title="  ")
    with pytest.raises(NotFound) as missing:
        await make.problem(service_id=svc.id + 99)
    assert missing.value.field == "serviceId"
    with pytest.raises(NotFound):
        await make.problem(incident_ids=[one.id + 99])
    assert await Problem.all().count() == 1  # the refused creations left nothing behind


async def test_an_incident_belongs_to_at_most_one_problem(make, manager, clock):
    a, b, c = await make.incident(), await make.incident(), await make.incident()
    first = await make.problem(incident_ids=[a.id])
    second = await make.problem("Other")
    events_before = await Event.all().count()
    with pytest.raises(Conflict) as refused:
        await service.link_incidents(second.id, [b.id, a.id], actor=manager, now=clock.now())
    assert refused.value.code == "CONFLICT"
    assert "INC-1 (PRB-1)" in refused.value.message
    # Nothing changed: b was not linked either, no event was written.
    assert await ProblemIncident.filter(problem_id=second.id).count() == 0
    assert await ProblemIncident.get(incident_id=a.id) is not None
    assert await Event.all().count() == events_before
    # Linking to the same problem again is a no-op; c joins.
    await service.link_incidents(first.id, [a.id, c.id], actor=manager, now=clock.now())
    assert await ProblemIncident.filter(problem_id=first.id).count() == 2
    assert await Event.filter(type="problem.incident_linked").count() == 2
    # Unlinked, an incident may join another problem.
    await service.unlink_incident(a.id, actor=manager, now=clock.now())
    unlinked = await Event.filter(incident_id=a.id).order_by("-id").first()
    assert unlinked is not None
    assert (unlinked.type, unlinked.problem_id) == ("problem.updated", first.id)
    assert unlinked.payload["unlinkedIncident"] == "INC-1"
    await service.link_incidents(second.id, [a.id], actor=manager, now=clock.now())
    assert (await ProblemIncident.get(incident_id=a.id)).problem_id == second.id
    with pytest.raises(BadUserInput):
        await service.unlink_incident(b.id, actor=manager, now=clock.now())


async def test_the_unique_link_is_enforced_by_the_database(make):
    from tortoise.exceptions import IntegrityError

    from app import db

    incident = await make.incident()
    one, two = await make.problem(), await make.problem("two")
    async with db.atomic():
        await ProblemIncident.create(problem_id=one.id, incident_id=incident.id,
                                     linked_at=one.created_at)
    with pytest.raises(IntegrityError):
        async with db.atomic():
            await ProblemIncident.create(problem_id=two.id, incident_id=incident.id,
                                         linked_at=one.created_at)


async def test_closed_problems_take_no_incidents(make, manager, clock):
    problem = await _walk(await make.problem(), PATH[P.CLOSED], manager, clock)
    incident = await make.incident()
    with pytest.raises(Conflict):
        await service.link_incidents(problem.id, [incident.id], actor=manager, now=clock.now())


async def test_resolve_resolves_open_linked_incidents_only(make, manager, responder, clock):
    new, acked, held = await make.incident(), await make.incident(), await make.incident()
    resolved, closed, cancelled = (await make.incident(), await make.incident(),
                                   await make.incident())
    await incidents.acknowledge(acked.id, actor=responder, now=clock.now())
    await incidents.acknowledge(held.id, actor=responder, now=clock.now())
    await incidents.change_status(held.id, I.ON_HOLD, actor=responder, now=clock.now())
    await incidents.resolve(resolved.id, "by hand", actor=responder, now=clock.now())
    await incidents.resolve(closed.id, "by hand", actor=responder, now=clock.now())
    await incidents.close(closed.id, actor=responder, now=clock.now())
    await incidents.change_status(cancelled.id, I.CANCELLED, actor=responder, now=clock.now())
    everyone = [new, acked, held, resolved, closed, cancelled]
    unlinked = await make.incident()
    problem = await make.problem(incident_ids=[i.id for i in everyone])
    await _walk(problem, [P.INVESTIGATING, P.KNOWN_ERROR], manager, clock)

    clock.advance(3600)
    done = await service.resolve_problem(problem.id, "Replaced the load balancer",
                                         resolve_linked_incidents=True, actor=manager,
                                         now=clock.now())
    assert (done.status, done.resolution, done.resolved_at) == (
        P.RESOLVED, "Replaced the load balancer", clock.now())
    after = {i.id: i for i in await Incident.all()}
    for incident in (new, acked, held):
        assert after[incident.id].status == I.RESOLVED
        assert after[incident.id].resolved_at == clock.now()
        assert after[incident.id].resolution == (
            "Resolved with problem PRB-1: Replaced the load balancer")
        event = await Event.filter(incident_id=incident.id).order_by("-id").first()
        assert event is not None and event.type == "incident.resolved"
    assert after[new.id].acknowledged_at == clock.now()  # the response rule applied
    assert (after[resolved.id].status, after[resolved.id].resolution) == (I.RESOLVED, "by hand")
    assert after[closed.id].status == I.CLOSED
    assert after[cancelled.id].status == I.CANCELLED
    assert after[unlinked.id].status == I.NEW
    resolved_event = await Event.get(type="problem.resolved", problem_id=problem.id)
    assert resolved_event.payload["resolvedIncidents"] == ["INC-1", "INC-2", "INC-3"]
    assert (resolved_event.from_status, resolved_event.to_status) == ("KNOWN_ERROR", "RESOLVED")


async def test_resolve_without_incidents_leaves_them_open(make, manager, clock):
    incident = await make.incident()
    problem = await _walk(await make.problem(incident_ids=[incident.id]), [P.INVESTIGATING],
                          manager, clock)
    await service.resolve_problem(problem.id, "fixed", resolve_linked_incidents=False,
                                  actor=manager, now=clock.now())
    assert (await Incident.get(id=incident.id)).status == I.NEW


async def test_a_failing_incident_resolution_undoes_everything(make, manager, clock):
    """The batch is one transaction: when the second incident's resolution fails (here an
    append hook, as an outbox writer could, raises), the problem and the first incident stay
    as they were and no event is kept."""
    from app.events import service as events

    first, second = await make.incident(), await make.incident()
    problem = await _walk(await make.problem(incident_ids=[first.id, second.id]),
                          [P.INVESTIGATING], manager, clock)
    events_before = await Event.all().count()

    async def refuse_second(event: Event) -> None:
        if event.type == "incident.resolved" and event.incident_id == second.id:
            raise RuntimeError("outbox unavailable")

    events.add_append_hook(refuse_second)
    try:
        with pytest.raises(RuntimeError):
            await service.resolve_problem(problem.id, "fixed", resolve_linked_incidents=True,
                                          actor=manager, now=clock.now())
    finally:
        events._append_hooks.remove(refuse_second)
    assert (await Problem.get(id=problem.id)).status == P.INVESTIGATING
    assert [i.status for i in await Incident.all().order_by("id")] == [I.NEW, I.NEW]
    assert await Event.all().count() == events_before


async def test_resolve_is_refused_from_new_and_needs_a_resolution(make, manager, clock):
    problem = await make.problem()
    with pytest.raises(InvalidTransition):
        await service.resolve_problem(problem.id, "fixed", resolve_linked_incidents=True,
                                      actor=manager, now=clock.now())
    await _walk(problem, [P.INVESTIGATING], manager, clock)
    with pytest.raises(BadUserInput) as empty:
        await service.resolve_problem(problem.id, "  ", resolve_linked_incidents=True,
                                      actor=manager, now=clock.now())
    assert empty.value.field == "resolution"
    assert (await Problem.get(id=problem.id)).status == P.INVESTIGATING


async def test_update_fields_records_changes(make, manager, clock):
    problem = await make.problem(description="drops")
    updated = await service.update_problem(
        problem.id, {"root_cause": "LB idle timeout 30s", "workaround": "Retry the payment",
                     "description": None}, actor=manager, now=clock.now())
    assert (updated.root_cause, updated.workaround, updated.description) == (
        "LB idle timeout 30s", "Retry the payment", None)
    event = await Event.filter(problem_id=problem.id).order_by("-id").first()
    assert event is not None and event.type == "problem.updated"
    assert event.payload["changes"]["rootCause"] == {"from": None, "to": "LB idle timeout 30s"}
    with pytest.raises(BadUserInput):
        await service.update_problem(problem.id, {"title": None}, actor=manager, now=clock.now())
    with pytest.raises(NotFound):
        await service.update_problem(problem.id + 99, {"title": "x"}, actor=manager,
                                     now=clock.now())
