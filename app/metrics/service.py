"""Incident metrics for continual improvement, computed by the database (SQL aggregates over
indexed columns; no incident is loaded into Python): counts, MTTA, MTTR, MTTD and SLA
compliance, in total and broken down by priority and by service.

Ranges are half-open, `[from, to)`, and either end may be open. Incident figures cover the
incidents created in the range; SLA compliance covers the timers that ended MET or BREACHED in
the range (grouped by their incident's current priority and service).

Every figure is a sum or a count, so groups add up: a daily roll-up kept by triggers
(`incident_day_stats`, see `rollup`) answers the whole days of the range, the incidents and
timers themselves its partial first and last day; totals and both breakdowns are sums of
these few group rows, whatever the number of incidents."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app import db
from app.errors import BadUserInput, NotFound
from app.incidents.models import Priority, Service
from app.metrics import rollup, sql
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

    def add(self, row: dict[str, Any]) -> None:
        """Add a group row: incident sums, timer sums (met, ended) or both (roll-up rows)."""
        self.n += int(row.get("n") or 0)
        self.open_n += int(row.get("open_n") or 0)
        self.ack_sum += float(row.get("ack_sum") or 0)
        self.ack_n += int(row.get("ack_n") or 0)
        self.res_sum += float(row.get("res_sum") or 0)
        self.res_n += int(row.get("res_n") or 0)
        self.detect_sum += float(row.get("detect_sum") or 0)
        self.met += int(row.get("met") or 0)
        self.ended += int(row.get("ended") or 0)

    def empty(self) -> bool:
        return not self.n and not self.ended

    def fill(self, figures: Figures) -> None:
        figures.incident_count = self.n
        figures.open_count = self.open_n
        figures.mtta_seconds = self.ack_sum / self.ack_n if self.ack_n else None
        figures.mttr_seconds = self.res_sum / self.res_n if self.res_n else None
        figures.mttd_seconds = self.detect_sum / self.n if self.n else None
        figures.sla_compliance_percent = 100.0 * self.met / self.ended if self.ended else None


async def _incident_groups(where_scope: Scope, postgres: bool) -> list[dict[str, Any]]:
    where = sql.incidents_created(where_scope.service_id, where_scope.start, where_scope.end,
                                  postgres)
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


async def _group_rows(of: Scope, postgres: bool) -> list[dict[str, Any]]:
    """Group rows (priority, service_id, sums) covering the scope: the roll-up for its whole
    days, the incidents and timers themselves for the partial days at its ends."""
    parts = rollup.split(of.start, of.end)
    reads = [rollup.groups(parts.whole_days, of.service_id, postgres)] if parts.whole_days else []
    for start, end in parts.edges:
        edge = Scope(start, end, of.service_id)
        reads += [_incident_groups(edge, postgres), _timer_groups(edge, postgres)]
    # All at once: on PostgreSQL each runs on its own pooled connection (SQLite serialises).
    return [row for rows in await asyncio.gather(*reads) for row in rows]


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
    for row in await _group_rows(of, postgres):
        for sums in (total, by_priority[Priority(row["priority"])],
                     by_service.setdefault(row["service_id"], _Sums())):
            sums.add(row)
    by_service = {k: v for k, v in by_service.items() if not v.empty()}

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
