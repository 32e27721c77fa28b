"""Incident metrics for continual improvement, computed by the database (SQL aggregates over
indexed columns; no incident is loaded into Python): counts, MTTA, MTTR, MTTD and SLA
compliance, in total and broken down by priority and by service.

Ranges are half-open, `[from, to)`, and either end may be open. Incident figures cover the
incidents created in the range; SLA compliance covers the timers that ended MET or BREACHED in
the range (grouped by their incident's current priority and service).

Two grouped queries answer everything: incidents grouped by (priority, service) and ended SLA
timers grouped the same way. Each group carries sums and counts rather than means, so the
totals and both breakdowns are exact sums of the (few) group rows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app import db
from app.errors import BadUserInput, NotFound
from app.incidents.models import Priority, Service
from app.metrics import sql
from app.slas.models import SlaState


@dataclass(frozen=True)
class Scope:
    """What the figures cover: incidents created in [start, end) (either end open), of one
    service or all."""

    start: datetime | None
    end: datetime | None
    service_id: int | None


@dataclass
class Figures:
    incident_count: int = 0
    open_count: int = 0  # of those incidents, how many are open now
    mtta_seconds: float | None = None
    mttr_seconds: float | None = None
    mttd_seconds: float | None = None  # createdAt - startedAt: how long impact went unnoticed
    sla_compliance_percent: float | None = None


@dataclass
class PriorityFigures(Figures):
    priority: Priority = Priority.P1


@dataclass
class ServiceFigures(Figures):
    service: Service | None = None  # None: incidents filed against no service


@dataclass
class IncidentMetrics(Figures):
    scope: Scope = Scope(None, None, None)  # what the figures cover (the trend reuses it)
    by_priority: list[PriorityFigures] = field(default_factory=list)
    by_service: list[ServiceFigures] = field(default_factory=list)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def check_scope(start: datetime | None, end: datetime | None, service_id: int | None
                      ) -> Scope:
    """Check the arguments: `to` not before `from`, and the service exists."""
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and end < start:
        raise BadUserInput("to must not be before from", field="to")
    if service_id is not None and not await Service.exists(id=service_id):
        raise NotFound("no such service", field="serviceId")
    return Scope(start=start, end=end, service_id=service_id)


@dataclass
class _Sums:
    """Summable figures of a group of incidents and of its ended SLA timers."""

    n: int = 0
    open_n: int = 0
    ack_sum: float = 0.0
    ack_n: int = 0
    res_sum: float = 0.0
    res_n: int = 0
    detect_sum: float = 0.0
    met: int = 0
    ended: int = 0

    def add_incidents(self, row: dict[str, Any]) -> None:
        self.n += int(row["n"])
        self.open_n += int(row["open_n"])
        self.ack_sum += float(row["ack_sum"] or 0)
        self.ack_n += int(row["ack_n"])
        self.res_sum += float(row["res_sum"] or 0)
        self.res_n += int(row["res_n"])
        self.detect_sum += float(row["detect_sum"] or 0)

    def add_timers(self, row: dict[str, Any]) -> None:
        self.met += int(row["met"])
        self.ended += int(row["ended"])

    def fill(self, figures: Figures) -> None:
        figures.incident_count = self.n
        figures.open_count = self.open_n
        figures.mtta_seconds = self.ack_sum / self.ack_n if self.ack_n else None
        figures.mttr_seconds = self.res_sum / self.res_n if self.res_n else None
        figures.mttd_seconds = self.detect_sum / self.n if self.n else None
        figures.sla_compliance_percent = 100.0 * self.met / self.ended if self.ended else None


async def _incident_groups(where_scope: Scope, postgres: bool) -> list[dict[str, Any]]:
    where = sql.Where(postgres)
    if where_scope.service_id is not None:
        where.add("service_id = ?", where_scope.service_id)
    if where_scope.start is not None:
        where.add("created_at >= ?", where_scope.start)
    if where_scope.end is not None:
        where.add("created_at < ?", where_scope.end)
    return await db.connection().execute_query_dict(
        f"SELECT priority, service_id, {sql.incident_sums('', postgres)}"
        f" FROM incidents{where.sql()} GROUP BY priority, service_id",
        where.params,
    )


async def _timer_groups(where_scope: Scope, postgres: bool) -> list[dict[str, Any]]:
    where = sql.Where(postgres)
    where.clauses.append(f"t.state IN ('{SlaState.MET.value}', '{SlaState.BREACHED.value}')")
    if where_scope.start is not None:
        where.add("t.stopped_at >= ?", where_scope.start)
    if where_scope.end is not None:
        where.add("t.stopped_at < ?", where_scope.end)
    if where_scope.service_id is not None:
        where.add("i.service_id = ?", where_scope.service_id)
    return await db.connection().execute_query_dict(
        "SELECT i.priority AS priority, i.service_id AS service_id,"
        f" COALESCE(SUM(CASE WHEN t.state = '{SlaState.MET.value}' THEN 1 ELSE 0 END), 0)"
        " AS met, COUNT(*) AS ended"
        f" FROM sla_timers t JOIN incidents i ON i.id = t.incident_id{where.sql()}"
        " GROUP BY i.priority, i.service_id",
        where.params,
    )


async def incident_metrics(
    *, start: datetime | None, end: datetime | None, service_id: int | None
) -> IncidentMetrics:
    """The figures over incidents created in [start, end) (of one service or all): in total,
    for each priority (all five, in order, empty ones included) and for each service with
    incidents or ended timers in range (most incidents first; incidents without a service
    form one row with no service)."""
    of = await check_scope(start, end, service_id)
    postgres = db.is_postgres()
    total = _Sums()
    by_priority = {p: _Sums() for p in Priority}
    by_service: dict[int | None, _Sums] = {}
    # Both at once: on PostgreSQL each runs on its own pooled connection (SQLite serialises).
    incident_rows, timer_rows = await asyncio.gather(
        _incident_groups(of, postgres), _timer_groups(of, postgres))
    for row in incident_rows:
        for sums in (total, by_priority[Priority(row["priority"])],
                     by_service.setdefault(row["service_id"], _Sums())):
            sums.add_incidents(row)
    for row in timer_rows:
        for sums in (total, by_priority[Priority(row["priority"])],
                     by_service.setdefault(row["service_id"], _Sums())):
            sums.add_timers(row)

    services = {s.id: s for s in await Service.filter(
        id__in=[k for k in by_service if k is not None])}
    result = IncidentMetrics(scope=of)
    total.fill(result)
    for priority, sums in by_priority.items():
        priority_row = PriorityFigures(priority=priority)
        sums.fill(priority_row)
        result.by_priority.append(priority_row)
    for service_id, sums in by_service.items():
        service_row = ServiceFigures(
            service=services.get(service_id) if service_id is not None else None)
        sums.fill(service_row)
        result.by_service.append(service_row)
    result.by_service.sort(key=lambda r: (
        -r.incident_count, r.service is None, r.service.name if r.service else ""))
    return result
