"""The public status page as plain data: public services with their derived status, and the
open public incidents with their public updates. Nothing internal goes in: no user names,
no internal notes, no ids but the incident reference."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.events.models import Event
from app.incidents import rules
from app.incidents.models import Incident, IncidentStatus, Priority, Service, ServiceStatus


@dataclass
class PublicService:
    name: str
    status: ServiceStatus


@dataclass
class PublicUpdate:
    at: datetime
    message: str


@dataclass
class PublicIncident:
    reference: str
    title: str
    status: IncidentStatus
    priority: Priority
    created_at: datetime
    updates: list[PublicUpdate]


@dataclass
class StatusPage:
    services: list[PublicService]
    incidents: list[PublicIncident]
    updated_at: datetime


async def build_status_page(*, now: datetime) -> StatusPage:
    services = await Service.filter(public=True).order_by("name")
    open_rows = await Incident.filter(status__in=list(rules.OPEN_STATUSES)).order_by("-created_at")
    priorities: dict[int, list[str]] = {}
    for incident in open_rows:
        if incident.service_id is not None:
            priorities.setdefault(incident.service_id, []).append(incident.priority)
    public_incidents = [
        i for i in open_rows if i.public and (i.service_id is None or _is_public(i, services))
    ]
    notes = await Event.filter(
        incident_id__in=[i.id for i in public_incidents],
        type="incident.note_added",
        public=True,
    ).order_by("-id")
    updates: dict[int, list[PublicUpdate]] = {}
    for note in notes:
        if note.incident_id is not None and note.note:
            updates.setdefault(note.incident_id, []).append(
                PublicUpdate(at=note.occurred_at, message=note.note)
            )
    last_change = await Event.all().order_by("-id").first()
    return StatusPage(
        services=[
            PublicService(s.name, rules.service_status(priorities.get(s.id, []))) for s in services
        ],
        incidents=[
            PublicIncident(
                reference=i.reference,
                title=i.public_title or i.title,
                status=IncidentStatus(i.status),
                priority=Priority(i.priority),
                created_at=i.created_at,
                updates=updates.get(i.id, []),
            )
            for i in public_incidents
        ],
        updated_at=last_change.occurred_at if last_change else now,
    )


def _is_public(incident: Incident, public_services: list[Service]) -> bool:
    return any(s.id == incident.service_id for s in public_services)
