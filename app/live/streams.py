"""What each subscription streams, as plain data: event filters, the replay of the event log
after a sequence, the incident behind `incidentChanged` and status page snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.events.models import Event
from app.incidents.models import Incident, Priority
from app.statuspage import service as statuspage

PRIORITY_RANK = {p.value: n for n, p in enumerate(Priority)}  # P1 → 0: most urgent first
REPLAY_PAGE = 200


@dataclass(frozen=True)
class EventFilter:
    types: frozenset[str] | None = None
    service_id: int | None = None
    incident_id: int | None = None
    min_priority: Priority | None = None
    hidden_types: frozenset[str] = frozenset()  # what the subscriber's role may not see

    def matches(self, event: Event) -> bool:
        if self.types is not None and event.type not in self.types:
            return False
        if event.type in self.hidden_types:
            return False
        if self.service_id is not None and event.service_id != self.service_id:
            return False
        if self.incident_id is not None and event.incident_id != self.incident_id:
            return False
        if self.min_priority is not None:
            rank = PRIORITY_RANK.get(event.priority or "")
            if rank is None or rank > PRIORITY_RANK[self.min_priority.value]:
                return False
        return True


async def replay_page(flt: EventFilter, after: int) -> tuple[list[Event], int]:
    """The next events after `after` that pass the filter, and the last sequence read."""
    query = Event.filter(id__gt=after)
    if flt.types is not None:
        query = query.filter(type__in=sorted(flt.types))
    if flt.incident_id is not None:
        query = query.filter(incident_id=flt.incident_id)
    if flt.service_id is not None:
        query = query.filter(service_id=flt.service_id)
    rows = await query.order_by("id").limit(REPLAY_PAGE)
    last = rows[-1].id if rows else after
    return [e for e in rows if flt.matches(e)], last


async def incident_exists(incident_id: int) -> bool:
    return await Incident.filter(id=incident_id).exists()


async def incidents_by_id(ids: list[int]) -> dict[int, Incident]:
    return {i.id: i for i in await Incident.filter(id__in=ids)}


async def status_page(now: datetime) -> statuspage.StatusPage:
    return await statuspage.build_status_page(now=now)


def status_page_may_change(events: list[Event]) -> bool:
    return any(statuspage.may_alter_page(event) for event in events)


def page_content(page: statuspage.StatusPage) -> tuple[object, object]:
    """What a reader sees, `updatedAt` aside: two snapshots that differ here differ for them."""
    return (page.services, page.incidents)
