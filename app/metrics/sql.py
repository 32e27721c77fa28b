"""The SQL the metrics share, per dialect: parameter markers, seconds between two timestamps,
and the UTC day a timestamp falls in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.incidents import rules


class Where:
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


def incidents_created(service_id: int | None, start: datetime | None, end: datetime | None,
                      postgres: bool) -> Where:
    """WHERE for the incidents of one service (or all) created in [start, end), either end
    open."""
    where = Where(postgres)
    if service_id is not None:
        where.add("service_id = ?", service_id)
    if start is not None:
        where.add("created_at >= ?", start)
    if end is not None:
        where.add("created_at < ?", end)
    return where


def seconds(later: str, earlier: str, postgres: bool) -> str:
    """Seconds from `earlier` to `later`, NULL when either is NULL."""
    if postgres:  # date_part gives a float8; EXTRACT computes in (much slower) numeric
        return f"date_part('epoch', {later} - {earlier})"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def open_status_list() -> str:
    return ", ".join(f"'{s.value}'" for s in sorted(rules.OPEN_STATUSES))


def incident_sums(alias: str, postgres: bool) -> str:
    """The summable figures of a group of incidents: means are computed as sum / count, so
    groups can be added up (totals from the per-priority-and-service groups)."""
    p = f"{alias}." if alias else ""
    ack = seconds(f"{p}acknowledged_at", f"{p}created_at", postgres)
    res = seconds(f"{p}resolved_at", f"{p}created_at", postgres)
    detect = seconds(f"{p}created_at", f"{p}started_at", postgres)
    return (
        "COUNT(*) AS n,"
        f" COALESCE(SUM(CASE WHEN {p}status IN ({open_status_list()}) THEN 1 ELSE 0 END), 0)"
        " AS open_n,"
        f" SUM({ack}) AS ack_sum, COUNT({p}acknowledged_at) AS ack_n,"
        f" SUM({res}) AS res_sum, COUNT({p}resolved_at) AS res_n,"
        f" SUM({detect}) AS detect_sum"
    )


def day_bucket(column: str, postgres: bool) -> str:
    """The UTC day `column` falls in (group on this; `bucket_label` turns it into text)."""
    if postgres:
        return f"date_trunc('day', {column} AT TIME ZONE 'UTC')"
    return f"date({column})"


def bucket_label(bucket: str, postgres: bool) -> str:
    """'YYYY-MM-DD' of a bucket. On PostgreSQL the grouping stays on the timestamp, whose
    groups the planner hashes; grouping on the text form made it sort every row."""
    return f"to_char({bucket}, 'YYYY-MM-DD')" if postgres else bucket
