"""Problem business rules: plain async functions, each change in one transaction with its
events appended. Resolving a problem may resolve its linked open incidents, through the
incident service, so their own rules and events apply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from app import db
from app.auth.models import User
from app.errors import BadUserInput, Conflict, InvalidTransition, NotFound
from app.events import service as events
from app.incidents import rules as incident_rules
from app.incidents import service as incidents
from app.incidents.models import Incident, IncidentStatus, Service
from app.numbering import next_number
from app.problems import rules
from app.problems.models import Problem, ProblemIncident, ProblemStatus

P = ProblemStatus
MAX_LINKS_PER_CALL = 500


def snapshot(problem: Problem) -> dict[str, Any]:
    """What an event payload records about the problem at that moment."""
    return {
        "reference": problem.reference,
        "title": problem.title,
        "status": str(problem.status),
        "serviceId": problem.service_id,
    }


async def _locked(problem_id: int) -> Problem:
    problem = await Problem.filter(id=problem_id).select_for_update().first()
    if problem is None:
        raise NotFound("no problem with this id", field="id")
    return problem


@dataclass
class NewProblem:
    title: str
    description: str | None = None
    service_id: int | None = None
    incident_ids: list[int] = field(default_factory=list)


async def create_problem(data: NewProblem, *, actor: User, now: datetime) -> Problem:
    title = incidents.clean_title(data.title)
    description = incidents.clean_text(data.description, "description")
    async with db.atomic():
        if data.service_id is not None and not await Service.exists(id=data.service_id):
            raise NotFound("no service with this id (serviceId)", field="serviceId")
        if data.incident_ids:  # lock order: incidents by id, then the event log
            await Incident.filter(id__in=list(data.incident_ids)).order_by(
                "id").select_for_update()
        problem = await Problem.create(
            number=await next_number("problem"),
            title=title,
            description=description,
            service_id=data.service_id,
            created_at=now,
            updated_at=now,
        )
        await events.append(
            "problem.created", now=now, actor_id=actor.id, problem=problem,
            to_status=P.NEW.value, payload=snapshot(problem),
        )
        if data.incident_ids:
            await _link(problem, data.incident_ids, actor=actor, now=now, field="incidentIds")
        return problem


UPDATABLE = ("title", "description", "root_cause", "workaround", "status")


async def update_problem(
    problem_id: int, changes: dict[str, Any], *, actor: User, now: datetime
) -> Problem:
    """Apply the given fields (absent = unchanged, None = cleared) and, when `status` is given,
    move along the lifecycle. One event: problem.known_error / problem.resolved when the
    status enters those, problem.updated otherwise; none when nothing changed."""
    for name in ("title", "status"):
        if name in changes and changes[name] is None:
            raise BadUserInput(f"{name} cannot be null", field=name)
    async with db.atomic():
        problem = await _locked(problem_id)
        before = {name: getattr(problem, name) for name in UPDATABLE}
        if "title" in changes:
            problem.title = incidents.clean_title(changes["title"])
        for name, field_name in (("description", "description"), ("root_cause", "rootCause"),
                                 ("workaround", "workaround")):
            if name in changes:
                setattr(problem, name, incidents.clean_text(changes[name], field_name))
        current = ProblemStatus(problem.status)
        target = ProblemStatus(changes["status"]) if "status" in changes else current
        if target != current:
            _move(problem, current, target, now)
        changed = {
            _camel(name): {"from": _plain(before[name]),
                                     "to": _plain(getattr(problem, name))}
            for name in UPDATABLE
            if before[name] != getattr(problem, name)
        }
        if not changed:
            return problem
        problem.updated_at = now
        await problem.save()
        moved = target != current
        await events.append(
            rules.event_type_for(target if moved else None),
            now=now, actor_id=actor.id, problem=problem,
            from_status=current.value if moved else None,
            to_status=target.value if moved else None,
            payload={**snapshot(problem), "changes": changed},
        )
        return problem


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain(value: Any) -> Any:
    return str(value) if hasattr(value, "value") else value


def _move(problem: Problem, current: ProblemStatus, target: ProblemStatus, now: datetime
          ) -> None:
    """Check the lifecycle and set the timestamps a move implies (not saved here)."""
    if not rules.can_move(current, target):
        raise InvalidTransition(
            f"{problem.reference} cannot move from {current.value} to {target.value}",
            field="status",
        )
    if target == P.RESOLVED:
        problem.resolved_at = now
    elif current == P.RESOLVED and target == P.INVESTIGATING:  # reopened
        problem.resolved_at = None
        problem.resolution = None
    if target == P.CLOSED:
        problem.closed_at = now
    problem.status = target


async def resolve_problem(
    problem_id: int,
    resolution: str,
    *,
    resolve_linked_incidents: bool,
    actor: User,
    now: datetime,
) -> Problem:
    """Resolve the problem; optionally resolve each linked open incident with a resolution
    naming the problem. Resolved, closed and cancelled incidents are left as they are."""
    text = incidents.clean_text(resolution, "resolution")
    if not text:
        raise BadUserInput("resolution must not be empty", field="resolution")
    async with db.atomic():
        problem = await _locked(problem_id)
        current = ProblemStatus(problem.status)
        _move(problem, current, P.RESOLVED, now)
        problem.resolution = text
        problem.updated_at = now
        await problem.save()
        to_resolve: list[Incident] = []
        if resolve_linked_incidents:
            # Locked before the event log (lock order: problem, incidents by id, event log),
            # as an incident's own transition locks its row before appending.
            linked = await ProblemIncident.filter(problem_id=problem.id).values_list(
                "incident_id", flat=True)
            locked = await Incident.filter(
                id__in=list(linked), status__in=list(incident_rules.OPEN_STATUSES),
            ).order_by("id").select_for_update()
            to_resolve = sorted(locked, key=lambda i: i.number)
        await events.append(
            "problem.resolved", now=now, actor_id=actor.id, problem=problem,
            from_status=current.value, to_status=P.RESOLVED.value, note=text,
            payload={**snapshot(problem),
                     "resolvedIncidents": [i.reference for i in to_resolve]},
        )
        incident_resolution = f"Resolved with problem {problem.reference}: {text}"
        for incident in to_resolve:
            await incidents.change_status(
                incident.id, IncidentStatus.RESOLVED, actor=actor, now=now,
                resolution=incident_resolution[: incidents.TEXT_MAX],
            )
        return problem


async def link_incidents(
    problem_id: int, incident_ids: Sequence[int], *, actor: User, now: datetime
) -> Problem:
    """Link incidents to the problem. One already linked here is left as it is; one linked
    to another problem refuses the whole call with CONFLICT (nothing changes)."""
    async with db.atomic():
        problem = await _locked(problem_id)
        await _link(problem, incident_ids, actor=actor, now=now, field="incidentIds")
        return problem


async def _link(
    problem: Problem, incident_ids: Sequence[int], *, actor: User, now: datetime, field: str
) -> None:
    ids = list(dict.fromkeys(incident_ids))
    if not ids:
        raise BadUserInput("incidentIds must not be empty", field=field)
    if len(ids) > MAX_LINKS_PER_CALL:
        raise BadUserInput(f"at most {MAX_LINKS_PER_CALL} incidents at once", field=field)
    if problem.status == P.CLOSED:
        raise Conflict(f"{problem.reference} is closed; it takes no more incidents",
                       field="problemId")
    # Locked in id order, so two calls linking overlapping sets cannot deadlock.
    found = await Incident.filter(id__in=ids).order_by("id").select_for_update()
    if len(found) != len(ids):
        raise NotFound("no incident with one of these ids", field=field)
    links = await ProblemIncident.filter(incident_id__in=ids).prefetch_related("problem")
    elsewhere = [link for link in links if link.problem_id != problem.id]
    if elsewhere:
        by_id = {i.id: i for i in found}
        taken = ", ".join(
            f"{by_id[link.incident_id].reference} ({link.problem.reference})" for link in elsewhere
        )
        raise Conflict(f"already linked to another problem: {taken}", field=field)
    already = {link.incident_id for link in links}
    new = [i for i in sorted(found, key=lambda i: i.number) if i.id not in already]
    for incident in new:
        try:
            await ProblemIncident.create(problem_id=problem.id, incident_id=incident.id,
                                         linked_at=now)
        except IntegrityError as exc:  # a concurrent link won the race
            raise Conflict(f"{incident.reference} is already linked to another problem",
                           field=field) from exc
        await events.append(
            "problem.incident_linked", now=now, actor_id=actor.id, incident=incident,
            problem=problem, payload={**snapshot(problem), "incident": incident.reference},
        )
    if new:
        problem.updated_at = now
        await problem.save(update_fields=["updated_at"])


async def unlink_incident(incident_id: int, *, actor: User, now: datetime) -> Incident:
    """Detach the incident from its problem (a problem.updated event names it)."""
    async with db.atomic():
        # Lock order: the problem, then the incident (as linking and resolving take them).
        seen = await ProblemIncident.get_or_none(incident_id=incident_id)
        problem = await _locked(seen.problem_id) if seen is not None else None
        incident = await Incident.filter(id=incident_id).select_for_update().first()
        if incident is None:
            raise NotFound("no incident with this id", field="incidentId")
        link = await ProblemIncident.get_or_none(incident_id=incident.id)
        if link is None:
            raise BadUserInput(f"{incident.reference} is not linked to a problem",
                               field="incidentId")
        if problem is None or link.problem_id != problem.id:  # re-linked between the reads
            raise Conflict(f"{incident.reference} changed problem meanwhile; try again",
                           field="incidentId")
        await link.delete()
        problem.updated_at = now
        await problem.save(update_fields=["updated_at"])
        await events.append(
            "problem.updated", now=now, actor_id=actor.id, incident=incident, problem=problem,
            payload={**snapshot(problem), "unlinkedIncident": incident.reference},
        )
        return incident
