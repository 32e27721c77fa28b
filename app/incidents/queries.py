"""Reading incidents: the filtered, ordered, keyset-paginated list behind `incidents`.

The list is read as plain rows (app.db.plain_rows), not models, and counted only when the
total is asked for: a page then costs the same at a thousand or a million stored incidents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app import db
from app.incidents import rules
from app.incidents.models import Incident, IncidentStatus, Priority
from app.pagination import Page, decode_cursor, encode_cursor


class IncidentOrder(StrEnum):
    CREATED_AT_DESC = "CREATED_AT_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    PRIORITY = "PRIORITY"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


@dataclass
class IncidentFilter:
    status: list[IncidentStatus] | None = None
    priority: list[Priority] | None = None
    service_id: int | None = None
    assignee_id: int | None = None
    open: bool | None = None
    search: str | None = None


# order -> (sort column, descending?); the id breaks ties in the same direction.
_ORDER: dict[IncidentOrder, tuple[str, bool]] = {
    IncidentOrder.CREATED_AT_DESC: ("created_at", True),
    IncidentOrder.CREATED_AT_ASC: ("created_at", False),
    IncidentOrder.PRIORITY: ("priority", False),
    IncidentOrder.UPDATED_AT_DESC: ("updated_at", True),
}


def _filtered(flt: IncidentFilter | None) -> QuerySet[Incident]:
    query = Incident.all()
    if flt is None:
        return query
    if flt.status:
        query = query.filter(status__in=list(flt.status))
    if flt.priority:
        query = query.filter(priority__in=list(flt.priority))
    if flt.service_id is not None:
        query = query.filter(service_id=flt.service_id)
    if flt.assignee_id is not None:
        query = query.filter(assignee_id=flt.assignee_id)
    if flt.open is True:
        query = query.filter(status__in=list(rules.OPEN_STATUSES))
    elif flt.open is False:
        query = query.exclude(status__in=list(rules.OPEN_STATUSES))
    if flt.search and flt.search.strip():
        text = flt.search.strip()
        query = query.filter(Q(title__icontains=text) | Q(description__icontains=text))
    return query


def _key(incident: Incident, column: str) -> Any:
    value = getattr(incident, column)
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _parse_key(value: Any, column: str) -> Any:
    if column.endswith("_at"):
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            from app.errors import BadUserInput

            raise BadUserInput("after is not a valid cursor", field="after") from None
    return str(value)


async def list_incidents(
    flt: IncidentFilter | None, order: IncidentOrder, *, first: int, after: str | None
) -> Page[Incident]:
    """A page of incidents (plain rows with the model's attributes and `reference`); the
    page's `total` is a function counting them all, called only when asked for."""
    column, descending = _ORDER[IncidentOrder(order)]
    base = _filtered(flt)
    query = base
    if after:
        raw_key, raw_id = decode_cursor(after, 2)
        key, last_id = _parse_key(raw_key, column), int(raw_id)
        op = "lt" if descending else "gt"
        id_op = "lt" if descending or column == "priority" else "gt"
        query = query.filter(
            Q(**{f"{column}__{op}": key}) | Q(**{column: key, f"id__{id_op}": last_id})
        )
    sign = "-" if descending else ""
    id_sign = "-" if descending or column == "priority" else ""
    rows: list[Any] = await db.plain_rows(
        query.order_by(f"{sign}{column}", f"{id_sign}id").limit(first + 1))
    items = rows[:first]
    reference = Incident.__dict__["reference"].fget  # the model's own rule, on plain rows
    for item in items:
        item.reference = reference(item)
    return Page(
        items=items,
        cursors=[encode_cursor([_key(i, column), i.id]) for i in items],
        has_next=len(rows) > first,
        has_previous=after is not None,
        total=_filtered(flt).count,
    )


async def get_by_reference(reference: str) -> Incident | None:
    text = reference.strip().upper()
    if not text.startswith("INC-") or not text[4:].isdigit():
        return None
    return await Incident.get_or_none(number=int(text[4:]))
