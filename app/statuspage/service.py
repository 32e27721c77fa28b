"""The public status page as plain data: public services with their derived status, the open
public incidents with their public updates, and the feed of public updates. Nothing internal
goes in: no user names, no internal notes, no internal titles, no ids but the incident
reference.

The status rule (DESIGN.md): a public service's status follows from ALL its open incidents
(NEW, ACKNOWLEDGED, IN_PROGRESS, ON_HOLD), public or not — the most urgent one decides:
P1 → MAJOR_OUTAGE, P2 → PARTIAL_OUTAGE, P3 → DEGRADED, otherwise (P4, P5 or none)
OPERATIONAL. Only incidents marked `public` are listed, under their public title (their title
when none is set), with their public notes as updates, newest first. A public incident on a
non-public service is not listed; one without a service is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from app.events.models import Event
from app.incidents import rules
from app.incidents.models import Incident, IncidentStatus, Priority, Service, ServiceStatus


@dataclass
class PublicService:
    service_id: int
    name: str
    status: ServiceStatus

    @property
    def key(self) -> str:
        """Stable for the service's life (a rename keeps it), so a live page can tell a
        renamed service from a new one."""
        return f"service-{self.service_id}"


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
            PublicService(s.id, s.name, rules.service_status(priorities.get(s.id, [])))
            for s in services
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


SERVICE_EVENT_TYPES = ("service.created", "service.updated")


def may_alter_page(event: Event) -> bool:
    """Whether the page can look different after this event. Only a private service's own
    event that leaves it private certainly cannot: private services are not on the page and
    their incidents are not listed, whatever their name, description or SLA policy, so live
    readers are not even woken for it. Everything else may: a service made public appears, one
    made private disappears, a public one's rename shows."""
    if event.type not in SERVICE_EVENT_TYPES:
        return True
    payload = event.payload or {}
    return payload.get("public") is not False or "public" in payload.get("changes", {})


# ------------------------------------------------------------------ the feed of public updates

FEED_EVENT_TYPES = ("incident.created", "incident.note_added", "incident.resolved")


@dataclass
class FeedEntry:
    """One public update: an incident opened, a public note, or an incident resolved."""

    key: str  # stable and unique: "INC-4/update/2" (reference, kind, n-th of its kind)
    reference: str
    incident_title: str  # the public title
    kind: str  # "opened" | "update" | "resolved"
    message: str
    at: datetime


_FEED_MESSAGES = {"opened": "Investigating: we are looking into this.",
                  "resolved": "Resolved: this incident has been resolved."}


async def public_feed(*, limit: int = 50) -> list[FeedEntry]:
    """The latest public updates, newest first, of public incidents on public services (or
    on none). A resolution's own text is internal: the entry only says it was resolved."""
    rows = await (
        Event.filter(
            Q(incident__service_id=None) | Q(incident__service__public=True),
            incident__public=True,
            type__in=FEED_EVENT_TYPES,
        )
        .filter(Q(type__not="incident.note_added") | Q(public=True))
        .order_by("-id")
        .limit(limit)
        .values("id", "type", "note", "occurred_at", "incident_id")
    )
    incident_ids = {int(r["incident_id"]) for r in rows}
    incidents = {i.id: i for i in await Incident.filter(id__in=list(incident_ids))}
    ordinals = await _ordinals(incident_ids)
    entries = []
    for row in rows:
        incident = incidents[int(row["incident_id"])]
        kind = {"incident.created": "opened", "incident.note_added": "update"}.get(
            row["type"], "resolved")
        n = ordinals[int(row["id"])]
        entries.append(FeedEntry(
            key=f"{incident.reference}/{kind}/{n}",
            reference=incident.reference,
            incident_title=incident.public_title or incident.title,
            kind=kind,
            message=str(row["note"]) if kind == "update" else _FEED_MESSAGES[kind],
            at=row["occurred_at"],
        ))
    return entries


async def _ordinals(incident_ids: set[int]) -> dict[int, int]:
    """For each feed event of these incidents: its number among its incident's events of the
    same kind (1, 2, …), so feed keys stay stable as more updates arrive."""
    rows = await (
        Event.filter(incident_id__in=list(incident_ids), type__in=FEED_EVENT_TYPES)
        .filter(Q(type__not="incident.note_added") | Q(public=True))
        .order_by("id")
        .values_list("id", "incident_id", "type")
    )
    counts: dict[tuple[int, str], int] = {}
    result: dict[int, int] = {}
    for event_id, incident_id, type_ in rows:
        key = (int(incident_id), str(type_))
        counts[key] = counts.get(key, 0) + 1
        result[int(event_id)] = counts[key]
    return result
