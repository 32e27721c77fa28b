"""Incident and service business rules: plain async functions, each change in one transaction
with its events appended (see DESIGN.md, "The one path every change takes")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from app import db
from app.auth.models import User
from app.errors import BadUserInput, Conflict, InvalidTransition, NotFound
from app.events import service as events
from app.events.models import Event
from app.incidents import rules
from app.incidents.models import (
    Impact,
    Incident,
    IncidentStatus,
    Service,
    ServiceStatus,
    Urgency,
)
from app.numbering import next_number
from app.slas import policies as sla_policies
from app.slas import service as sla_timers

S = IncidentStatus
TITLE_MAX = 200
TEXT_MAX = 20_000

# ------------------------------------------------------------------ validation helpers


def clean_title(value: Any, field: str = "title") -> str:
    if value is None or not str(value).strip():
        raise BadUserInput(f"{field} must not be empty", field=field)
    text = str(value).strip()
    if len(text) > TITLE_MAX:
        raise BadUserInput(f"{field} must be at most {TITLE_MAX} characters", field=field)
    return text


def clean_text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > TEXT_MAX:
        raise BadUserInput(f"{field} must be at most {TEXT_MAX} characters", field=field)
    return text or None


def _not_null(changes: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in changes and changes[name] is None:
            raise BadUserInput(f"{name} cannot be null", field=name)


async def _existing_service(service_id: int | None, field: str = "serviceId") -> Service | None:
    if service_id is None:
        return None
    service = await Service.get_or_none(id=service_id)
    if service is None:
        raise NotFound(f"no service with this id ({field})", field=field)
    return service


async def _existing_user(user_id: int | None, field: str = "assigneeId") -> User | None:
    if user_id is None:
        return None
    user = await User.get_or_none(id=user_id)
    if user is None:
        raise NotFound(f"no user with this id ({field})", field=field)
    return user


# ------------------------------------------------------------------ services


def service_snapshot(service: Service) -> dict[str, Any]:
    """What a service event's payload records about the service at that moment."""
    return {
        "name": service.name,
        "description": service.description,
        "public": service.public,
        "slaPolicyId": service.sla_policy_id,
    }


async def create_service(
    *, name: str, description: str | None, public: bool, actor: User, now: datetime,
    sla_policy_id: int | None = None,
) -> Service:
    name = clean_title(name, "name")
    description = clean_text(description, "description")
    async with db.atomic():
        if await Service.filter(name=name).exists():
            raise Conflict(f"a service named {name!r} already exists", field="name")
        await sla_policies.existing_policy(sla_policy_id)
        try:
            service = await Service.create(
                name=name, description=description, public=public, created_at=now,
                updated_at=now, sla_policy_id=sla_policy_id,
            )
        except IntegrityError as exc:
            raise Conflict(f"a service named {name!r} already exists", field="name") from exc
        await events.append(
            "service.created", now=now, actor_id=actor.id, service=service,
            payload=service_snapshot(service),
        )
        return service


SERVICE_UPDATABLE = ("name", "description", "public", "sla_policy_id")


async def update_service(
    service_id: int, changes: dict[str, Any], *, actor: User, now: datetime
) -> Service:
    """Apply the given fields (absent = unchanged, None = cleared); one service.updated event,
    none when nothing changed."""
    _not_null(changes, "name", "public")
    async with db.atomic():
        # Locked, so the event's `from` values are what this change really replaced.
        service = await Service.filter(id=service_id).select_for_update().first()
        if service is None:
            raise NotFound("no service with this id", field="id")
        before = {name: getattr(service, name) for name in SERVICE_UPDATABLE}
        if "name" in changes:
            name = clean_title(changes["name"], "name")
            if await Service.filter(name=name).exclude(id=service.id).exists():
                raise Conflict(f"a service named {name!r} already exists", field="name")
            service.name = name
        if "description" in changes:
            service.description = clean_text(changes["description"], "description")
        if "public" in changes:
            service.public = bool(changes["public"])
        if "sla_policy_id" in changes:
            await sla_policies.existing_policy(changes["sla_policy_id"])
            service.sla_policy_id = changes["sla_policy_id"]
        changed = {
            _camel(name): {"from": before[name], "to": getattr(service, name)}
            for name in SERVICE_UPDATABLE
            if before[name] != getattr(service, name)
        }
        if not changed:
            return service
        service.updated_at = now
        await service.save()
        await events.append(
            "service.updated", now=now, actor_id=actor.id, service=service,
            payload={**service_snapshot(service), "changes": changed},
        )
        return service


async def service_statuses(service_ids: list[int]) -> dict[int, ServiceStatus]:
    """Each service's status from the priorities of all its open incidents (one query)."""
    rows = await (
        Incident.filter(service_id__in=service_ids, status__in=list(rules.OPEN_STATUSES))
        .values_list("service_id", "priority")
    )
    by_service: dict[int, list[str]] = {}
    for service_id, priority in rows:
        by_service.setdefault(service_id, []).append(priority)
    return {sid: rules.service_status(by_service.get(sid, [])) for sid in service_ids}


# ------------------------------------------------------------------ incidents


@dataclass
class NewIncident:
    title: str
    impact: Impact
    urgency: Urgency
    description: str | None = None
    service_id: int | None = None
    assignee_id: int | None = None
    public: bool = False
    public_title: str | None = None
    started_at: datetime | None = None


def snapshot(incident: Incident) -> dict[str, Any]:
    """What an event payload records about the incident at that moment."""
    return {
        "reference": incident.reference,
        "title": incident.title,
        "status": str(incident.status),
        "priority": str(incident.priority),
        "serviceId": incident.service_id,
    }


async def create_incident(data: NewIncident, *, actor: User, now: datetime) -> Incident:
    title = clean_title(data.title)
    description = clean_text(data.description, "description")
    public_title = clean_title(data.public_title, "publicTitle") if data.public_title else None
    started_at = data.started_at or now
    if started_at > now:
        raise BadUserInput("startedAt must not be in the future", field="startedAt")
    async with db.atomic():
        await _existing_service(data.service_id)
        await _existing_user(data.assignee_id)
        incident = await Incident.create(
            number=await next_number("incident"),
            title=title,
            description=description,
            impact=data.impact,
            urgency=data.urgency,
            priority=rules.priority_for(data.impact, data.urgency),
            service_id=data.service_id,
            assignee_id=data.assignee_id,
            public=data.public,
            public_title=public_title,
            started_at=started_at,
            created_at=now,
            updated_at=now,
        )
        await sla_timers.start_timers(incident, now=now)
        await events.append(
            "incident.created",
            now=now,
            actor_id=actor.id,
            incident=incident,
            to_status=S.NEW.value,
            payload=snapshot(incident),
        )
        return incident


async def _locked(incident_id: int) -> Incident:
    incident = await Incident.filter(id=incident_id).select_for_update().first()
    if incident is None:
        raise NotFound("no incident with this id", field="id")
    return incident


UPDATABLE = ("title", "description", "impact", "urgency", "assignee_id", "service_id", "public",
             "public_title")


async def update_incident(
    incident_id: int, changes: dict[str, Any], *, actor: User, now: datetime
) -> Incident:
    """Apply the given fields (absent = unchanged, None = cleared); one incident.updated event."""
    _not_null(changes, "title", "impact", "urgency", "public")
    async with db.atomic():
        incident = await _locked(incident_id)
        before = {name: getattr(incident, name) for name in UPDATABLE}
        if "title" in changes:
            incident.title = clean_title(changes["title"])
        if "description" in changes:
            incident.description = clean_text(changes["description"], "description")
        if "public_title" in changes:
            value = changes["public_title"]
            incident.public_title = clean_title(value, "publicTitle") if value else None
        if "public" in changes:
            incident.public = bool(changes["public"])
        if "impact" in changes:
            incident.impact = Impact(changes["impact"])
        if "urgency" in changes:
            incident.urgency = Urgency(changes["urgency"])
        if "service_id" in changes:
            await _existing_service(changes["service_id"])
            incident.service_id = changes["service_id"]
        if "assignee_id" in changes:
            await _existing_user(changes["assignee_id"])
            incident.assignee_id = changes["assignee_id"]
        old_priority = incident.priority
        incident.priority = rules.priority_for(incident.impact, incident.urgency)
        changed = {
            _camel(name): {"from": _plain(before[name]), "to": _plain(getattr(incident, name))}
            for name in UPDATABLE
            if before[name] != getattr(incident, name)
        }
        if not changed:
            return incident
        if incident.priority != old_priority:
            changed["priority"] = {"from": str(old_priority), "to": str(incident.priority)}
        incident.updated_at = now
        await incident.save()
        if incident.priority != old_priority:
            await sla_timers.retarget(incident, now=now)
        await events.append(
            "incident.updated",
            now=now,
            actor_id=actor.id,
            incident=incident,
            payload={**snapshot(incident), "changes": changed},
        )
        return incident


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _plain(value: Any) -> Any:
    return str(value) if hasattr(value, "value") else value


async def change_status(
    incident_id: int,
    target: IncidentStatus,
    *,
    actor: User,
    now: datetime,
    note: str | None = None,
    resolution: str | None = None,
) -> Incident:
    """Move an incident along the lifecycle; anything DESIGN.md does not allow is refused."""
    target = IncidentStatus(target)
    note = clean_text(note, "note")
    async with db.atomic():
        incident = await _locked(incident_id)
        current = IncidentStatus(incident.status)
        if not rules.can_move(current, target):
            raise InvalidTransition(
                f"{incident.reference} cannot move from {current.value} to {target.value}",
                field="status",
            )
        if current == S.NEW and target in rules.RESPONSE_STATUSES:
            incident.acknowledged_at = now
        if target == S.RESOLVED:
            incident.resolved_at = now
            incident.resolution = clean_text(resolution, "resolution") or note
        elif current == S.RESOLVED and target == S.IN_PROGRESS:
            incident.resolved_at = None
            incident.resolution = None
        if target == S.CLOSED:
            incident.closed_at = now
        incident.status = target
        incident.updated_at = now
        await incident.save()
        await sla_timers.follow_status(incident, current, target, now=now)
        await events.append(
            rules.event_type_for(current, target),
            now=now,
            actor_id=actor.id,
            incident=incident,
            from_status=current.value,
            to_status=target.value,
            note=note if target != S.RESOLVED else (note or incident.resolution),
            payload=snapshot(incident),
        )
        return incident


async def acknowledge(incident_id: int, *, actor: User, now: datetime, note: str | None = None
                      ) -> Incident:
    return await change_status(incident_id, S.ACKNOWLEDGED, actor=actor, now=now, note=note)


async def resolve(incident_id: int, resolution: str, *, actor: User, now: datetime) -> Incident:
    if not resolution or not resolution.strip():
        raise BadUserInput("resolution must not be empty", field="resolution")
    return await change_status(
        incident_id, S.RESOLVED, actor=actor, now=now, resolution=resolution
    )


async def close(incident_id: int, *, actor: User, now: datetime) -> Incident:
    return await change_status(incident_id, S.CLOSED, actor=actor, now=now)


async def reopen(incident_id: int, *, actor: User, now: datetime, note: str | None = None
                 ) -> Incident:
    async with db.atomic():
        incident = await _locked(incident_id)
        if incident.status != S.RESOLVED:
            raise InvalidTransition(
                f"{incident.reference} is {incident.status}; only RESOLVED incidents reopen",
                field="id",
            )
        return await change_status(incident_id, S.IN_PROGRESS, actor=actor, now=now, note=note)


async def add_note(
    incident_id: int, note: str, *, public: bool, actor: User, now: datetime
) -> Event:
    text = clean_text(note, "note")
    if not text:
        raise BadUserInput("note must not be empty", field="note")
    async with db.atomic():
        incident = await _locked(incident_id)
        incident.updated_at = now
        await incident.save(update_fields=["updated_at"])
        return await events.append(
            "incident.note_added",
            now=now,
            actor_id=actor.id,
            incident=incident,
            note=text,
            public=public,
            payload=snapshot(incident),
        )
