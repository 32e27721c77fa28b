"""Incident metrics for continual improvement, computed by the database (SQL aggregates over
indexed columns; no incident is loaded into Python): counts, MTTA, MTTR and SLA compliance.

Ranges are half-open, `[from, to)`, and either end may be open. Incident figures cover the
incidents created in the range; SLA compliance covers the timers that ended MET or BREACHED in
the range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app import db
from app.incidents import rules
from app.slas.models import SlaState


@dataclass
class IncidentMetrics:
    incident_count: int
    open_count: int  # of those incidents, how many are open now
    mtta_seconds: float | None
    mttr_seconds: float | None
    sla_compliance_percent: float | None


class _Where:
    """Builds a WHERE clause with the dialect's parameter markers."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, sql: str, value: Any) -> None:
        if isinstance(value, datetime) and not self.postgres:
            value = str(value.astimezone(UTC))  # tortoise stores SQLite datetimes this way
        self.params.append(value)
        mark = f"${len(self.params)}" if self.postgres else "?"
        self.clauses.append(sql.replace("?", mark))

    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.clauses) if self.clauses else ""


def _seconds(later: str, earlier: str, postgres: bool) -> str:
    if postgres:
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


async def incident_metrics(
    *, start: datetime | None, end: datetime | None, service_id: int | None
) -> IncidentMetrics:
    conn = db.connection()
    postgres = db.is_postgres()
    open_list = ", ".join(f"'{s.value}'" for s in sorted(rules.OPEN_STATUSES))

    where = _Where(postgres)
    if start is not None:
        where.add("created_at >= ?", start)
    if end is not None:
        where.add("created_at < ?", end)
    if service_id is not None:
        where.add("service_id = ?", service_id)
    incidents = (await conn.execute_query_dict(
        "SELECT COUNT(*) AS n,"
        f" COALESCE(SUM(CASE WHEN status IN ({open_list}) THEN 1 ELSE 0 END), 0) AS open_n,"
        f" AVG({_seconds('acknowledged_at', 'created_at', postgres)}) AS mtta,"
        f" AVG({_seconds('resolved_at', 'created_at', postgres)}) AS mttr"
        f" FROM incidents{where.sql()}",
        where.params,
    ))[0]

    timers = _Where(postgres)
    timers.clauses.append(f"t.state IN ('{SlaState.MET.value}', '{SlaState.BREACHED.value}')")
    if start is not None:
        timers.add("t.stopped_at >= ?", start)
    if end is not None:
        timers.add("t.stopped_at < ?", end)
    join = ""
    if service_id is not None:
        join = " JOIN incidents i ON i.id = t.incident_id"
        timers.add("i.service_id = ?", service_id)
    ended = (await conn.execute_query_dict(
        f"SELECT COALESCE(SUM(CASE WHEN t.state = '{SlaState.MET.value}' THEN 1 ELSE 0 END), 0)"
        " AS met, COUNT(*) AS ended"
        f" FROM sla_timers t{join}{timers.sql()}",
        timers.params,
    ))[0]

    def mean(value: Any) -> float | None:
        return None if value is None else float(value)

    met, total = int(ended["met"]), int(ended["ended"])
    return IncidentMetrics(
        incident_count=int(incidents["n"]),
        open_count=int(incidents["open_n"]),
        mtta_seconds=mean(incidents["mtta"]),
        mttr_seconds=mean(incidents["mttr"]),
        sla_compliance_percent=100.0 * met / total if total else None,
    )
