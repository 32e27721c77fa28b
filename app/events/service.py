"""Appending to and reading from the event log.

`append` writes an event inside the caller's transaction and arranges for it to be published
once that transaction commits. On PostgreSQL it first takes a transaction-scoped advisory lock,
so event ids are handed out in commit order: a reader resuming "after sequence N" can never
miss an event that committed later with a smaller id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app import db
from app.events.models import Event
from app.logs import current_request_id

EVENT_APPEND_LOCK = 0x70C5_1E00  # arbitrary, stable key for pg_advisory_xact_lock

Publisher = Callable[[list[Event]], Awaitable[None]]
AppendHook = Callable[[Event], Awaitable[None]]

_publisher: Publisher | None = None
_append_hooks: list[AppendHook] = []


def set_publisher(publisher: Publisher | None) -> None:
    """Where committed events go (the broker); None drops them (CLI commands, tests)."""
    global _publisher
    _publisher = publisher


def add_append_hook(hook: AppendHook) -> None:
    """Run `hook(event)` inside the appending transaction (e.g. to write outbox rows)."""
    if hook not in _append_hooks:
        _append_hooks.append(hook)


async def take_append_lock() -> db.Transaction:
    """Serialise with every other appender until the current transaction ends (PostgreSQL).

    Code that will append and also updates rows other transactions may hold while appending
    (SLA timers) takes this first, so locks are always taken in the same order."""
    tx = db.current_transaction()
    if tx.connection.capabilities.dialect == "postgres" and not tx.state.get("event_lock"):
        await tx.connection.execute_query("SELECT pg_advisory_xact_lock($1)", [EVENT_APPEND_LOCK])
        tx.state["event_lock"] = True
    return tx


async def append(
    type: str,
    *,
    now: datetime,
    actor_id: int | None = None,
    incident: Any = None,
    problem: Any = None,
    service: Any = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    public: bool = False,
    payload: dict[str, Any] | None = None,
) -> Event:
    tx = await take_append_lock()
    subject = incident if incident is not None else problem
    # An incident's or problem's event records the service it is on; a service's own event
    # (service.created, service.updated) has no incident and names the service itself.
    service_id = subject.service_id if subject is not None else None
    if service is not None:
        service_id = service.id
    event = await Event.create(
        type=type,
        occurred_at=now,
        actor_id=actor_id,
        incident_id=incident.id if incident is not None else None,
        problem_id=problem.id if problem is not None else None,
        service_id=service_id,
        priority=str(incident.priority) if incident is not None else None,
        from_status=from_status,
        to_status=to_status,
        note=note,
        public=public,
        payload=payload or {},
        request_id=current_request_id(),
        using_db=tx.connection,
    )
    for hook in _append_hooks:
        await hook(event)
    pending: list[Event] | None = tx.state.get("events")
    if pending is None:
        pending = tx.state["events"] = []
        tx.after_commit(lambda: _publish(pending))
    pending.append(event)
    return event


async def _publish(events: list[Event]) -> None:
    if _publisher is not None and events:
        await _publisher(events)


@dataclass
class EventPage:
    events: list[Event]
    has_next: bool
    total: int


async def list_events(
    *, after: int | None, types: Sequence[str] | None, first: int,
    hidden_types: Collection[str] = (),
) -> EventPage:
    """A page of the log; `hidden_types` are left out (those the reader may not see)."""
    query = Event.all()
    if types:
        query = query.filter(type__in=list(types))
    if hidden_types:
        query = query.filter(type__not_in=sorted(hidden_types))
    total = await query.count()
    if after is not None:
        query = query.filter(id__gt=after)
    rows = await query.order_by("id").limit(first + 1)
    return EventPage(events=rows[:first], has_next=len(rows) > first, total=total)


@dataclass
class TimelineSlice:
    events: list[Event]
    has_next: bool
    total: int


async def timelines(
    incident_ids: Sequence[int], *, after: int | None, first: int
) -> dict[int, TimelineSlice]:
    """The first `first` events (oldest first) after `after` of each incident.

    Three queries whatever the number of incidents: totals, the ids of each incident's slice
    (a window function), and those rows.
    """
    ids = list(dict.fromkeys(incident_ids))
    if not ids:
        return {}
    conn = db.connection()
    marks = db.placeholders(conn, len(ids))
    params: list[Any] = list(ids)
    after_clause = ""
    if after is not None:
        after_clause = f" AND id > {db.placeholders(conn, 1, start=len(params) + 1)}"
        params.append(after)
    limit_mark = db.placeholders(conn, 1, start=len(params) + 1)
    params.append(first + 1)
    ranked = await conn.execute_query_dict(
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY incident_id ORDER BY id) AS rn"
        f" FROM events WHERE incident_id IN ({marks}){after_clause}) ranked"
        f" WHERE rn <= {limit_mark}",
        params,
    )
    counted = await conn.execute_query_dict(
        "SELECT incident_id, COUNT(*) AS n FROM events"
        f" WHERE incident_id IN ({marks}) GROUP BY incident_id",
        list(ids),
    )
    totals = {int(row["incident_id"]): int(row["n"]) for row in counted}
    rows = await Event.filter(id__in=[row["id"] for row in ranked]).order_by("id")
    grouped: dict[int, list[Event]] = {i: [] for i in ids}
    for event in rows:
        if event.incident_id is not None:
            grouped[event.incident_id].append(event)
    return {
        i: TimelineSlice(events=evs[:first], has_next=len(evs) > first, total=totals.get(i, 0))
        for i, evs in grouped.items()
    }
