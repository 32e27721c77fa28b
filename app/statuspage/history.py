"""Service history for the status page: for each public service, one bar per UTC day of the
last 90 days, coloured by the worst status the service had that day, and its uptime.

Everything is computed in SQL from the event log, which already is the incident history:
every event about an incident records the incident's priority and service *at that moment*
(`events.priority`, `events.service_id`), and status changes record `to_status`. So the
incident's life is cut into segments, one per event, each lasting until the incident's next
event (or until now):

- a segment counts while the incident is open (NEW, ACKNOWLEDGED, IN_PROGRESS, ON_HOLD) — it
  ends at the resolution, the cancellation or the closing, and a reopened incident counts again
  from its reopening; the time between resolution and reopening does not count;
- a segment carries the priority in force after its event, so a **priority change** takes
  effect at the moment of the change: a P3 raised to P1 at 14:00 shows degraded until 14:00
  and major outage from then on (lowering it works the same way). The day's bar shows the
  worst status of any segment overlapping the day;
- a segment belongs to the service the incident was on at that moment (an incident moved to
  another service counts on the old one until the move);
- the first segment begins at `started_at` (when impact began; defaults to creation), so a
  back-dated incident counts from when the impact started.

That is the same rule as the live status (P1 major outage, P2 partial outage, P3 degraded,
over all open incidents, public or not), applied to the past. Uptime is the share of time
since the window began (or since the service was created, if later) during which the service
was in neither a major nor a partial outage; degraded counts as up. Overlapping outages are
merged first, so two simultaneous P1s are counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app import db
from app.incidents.models import Incident, ServiceStatus
from app.incidents.rules import OPEN_STATUSES

DAYS = 90
DAY_SECONDS = 86_400
_STATUS_BY_RANK = {
    1: ServiceStatus.MAJOR_OUTAGE,
    2: ServiceStatus.PARTIAL_OUTAGE,
    3: ServiceStatus.DEGRADED,
}


@dataclass
class DayBar:
    day: date
    status: ServiceStatus | None  # None: before the service existed (no data)
    incidents: list[str] = field(default_factory=list)  # public titles of public incidents


@dataclass
class ServiceHistory:
    days: list[DayBar]
    uptime_percent: float | None  # None when the service has no time in the window yet


def window_start(now: datetime) -> datetime:
    """Midnight UTC of the first of the DAYS days ending today (UTC)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=DAYS - 1)


def _epoch(conn_dialect: str, column: str) -> str:
    """A timestamp column as seconds since 1970 (a float) in either dialect."""
    if conn_dialect == "postgres":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"
    # SQLite stores ISO text with an offset; julianday() normalises it to UTC, in ms.
    return f"ROUND((julianday({column}) - 2440587.5) * 86400.0, 3)"


def _segments_sql(dialect: str, mark: list[str]) -> str:
    """Open segments overlapping the window: (service_id, incident_id, severity, seg_start,
    seg_end) with severity 1..3 (P1..P3). mark[0] = window start, mark[1] = now (epoch floats)."""
    at = _epoch(dialect, "e.occurred_at")
    started = _epoch(dialect, "i.started_at")
    open_list = ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATUSES))
    start, now = mark
    return f"""
    marked AS (
        SELECT e.incident_id, e.service_id, e.priority, e.type, e.to_status,
               {at} AS at, {started} AS started,
               COUNT(e.to_status) OVER (PARTITION BY e.incident_id ORDER BY e.id) AS status_group,
               LEAD({at}) OVER (PARTITION BY e.incident_id ORDER BY e.id) AS next_at
        FROM events e JOIN incidents i ON i.id = e.incident_id
        WHERE i.status IN ({open_list}) OR {_epoch(dialect, "i.updated_at")} >= {start}
    ),
    carried AS (
        SELECT incident_id, service_id, priority,
               CASE WHEN type = 'incident.created' AND started < at THEN started ELSE at END
                   AS seg_start,
               COALESCE(next_at, {now}) AS seg_end,
               MAX(to_status) OVER (PARTITION BY incident_id, status_group) AS status
        FROM marked
    ),
    segments AS (
        SELECT service_id, incident_id,
               CASE priority WHEN 'P1' THEN 1 WHEN 'P2' THEN 2 ELSE 3 END AS severity,
               CASE WHEN seg_start > {start} THEN seg_start ELSE {start} END AS seg_start,
               CASE WHEN seg_end < {now} THEN seg_end ELSE {now} END AS seg_end
        FROM carried
        WHERE status IN ({open_list}) AND priority IN ('P1', 'P2', 'P3')
          AND service_id IS NOT NULL AND seg_end > seg_start
          AND seg_end > {start} AND seg_start < {now}
    )"""


async def service_histories(
    services: list[tuple[int, datetime]], *, now: datetime
) -> dict[int, ServiceHistory]:
    """History of each (service id, created_at); two queries however many services."""
    if not services:
        return {}
    conn = db.connection()
    dialect = conn.capabilities.dialect
    first_day = window_start(now)
    start_s, now_s = first_day.timestamp(), now.timestamp()
    # Numbered parameters, usable several times: $1 on PostgreSQL, ?1 on SQLite.
    sign = "$" if dialect == "postgres" else "?"
    mark = [f"CAST({sign}1 AS DOUBLE PRECISION)", f"CAST({sign}2 AS DOUBLE PRECISION)"]
    with_segments = "WITH RECURSIVE " + _segments_sql(dialect, mark)
    day_rows = await _query(
        conn, f"""{with_segments},
        days(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM days WHERE n < {DAYS - 1})
        SELECT s.service_id, d.n AS day, s.incident_id, MIN(s.severity) AS severity
        FROM segments s JOIN days d
          ON s.seg_start < {mark[0]} + (d.n + 1) * {DAY_SECONDS}
         AND s.seg_end > {mark[0]} + d.n * {DAY_SECONDS}
        GROUP BY s.service_id, d.n, s.incident_id""", start_s, now_s)
    # Uptime: merge overlapping outage segments (gaps and islands), then sum the islands.
    down_rows = await _query(
        conn, f"""{with_segments},
        outages AS (SELECT service_id, seg_start, seg_end FROM segments WHERE severity <= 2),
        reach AS (
            SELECT service_id, seg_start, seg_end,
                   MAX(seg_end) OVER (PARTITION BY service_id ORDER BY seg_start, seg_end
                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach_before
            FROM outages
        ),
        flagged AS (
            SELECT service_id, seg_start, seg_end,
                   CASE WHEN reach_before IS NULL OR seg_start > reach_before THEN 1 ELSE 0 END
                       AS opens_island
            FROM reach
        ),
        numbered AS (
            SELECT service_id, seg_start, seg_end,
                   SUM(opens_island) OVER (PARTITION BY service_id ORDER BY seg_start, seg_end
                       ROWS UNBOUNDED PRECEDING) AS island
            FROM flagged
        ),
        islands AS (
            SELECT service_id, MIN(seg_start) AS island_start, MAX(seg_end) AS island_end
            FROM numbered GROUP BY service_id, island
        )
        SELECT service_id, SUM(island_end - island_start) AS down_seconds
        FROM islands GROUP BY service_id""", start_s, now_s)

    names = await _public_titles({int(r["incident_id"]) for r in day_rows})
    worst: dict[tuple[int, int], int] = {}
    titles: dict[tuple[int, int], list[str]] = {}
    for row in sorted(day_rows, key=lambda r: (int(r["severity"]), int(r["incident_id"]))):
        key = (int(row["service_id"]), int(row["day"]))
        worst[key] = min(worst.get(key, 9), int(row["severity"]))
        title = names.get(int(row["incident_id"]))
        if title and title not in titles.setdefault(key, []):
            titles[key].append(title)
    down = {int(r["service_id"]): float(r["down_seconds"] or 0) for r in down_rows}

    result: dict[int, ServiceHistory] = {}
    for service_id, created_at in services:
        created_day = created_at.astimezone(UTC).date()
        bars = []
        for n in range(DAYS):
            day = (first_day + timedelta(days=n)).date()
            if day < created_day:
                bars.append(DayBar(day, None))
                continue
            rank = worst.get((service_id, n))
            status = _STATUS_BY_RANK.get(rank or 9, ServiceStatus.OPERATIONAL)
            bars.append(DayBar(day, status, titles.get((service_id, n), [])))
        observed = now_s - max(start_s, created_at.timestamp())
        uptime = None
        if observed > 0:
            uptime = max(0.0, 100.0 * (1 - down.get(service_id, 0.0) / observed))
        result[service_id] = ServiceHistory(bars, uptime)
    return result


async def _query(conn: Any, sql: str, start: float, now: float) -> list[dict[str, Any]]:
    return list(await conn.execute_query_dict(sql, [start, now]))


async def _public_titles(incident_ids: set[int]) -> dict[int, str]:
    """Names that may be shown: the public title of public incidents, nothing for others."""
    if not incident_ids:
        return {}
    rows = await Incident.filter(id__in=list(incident_ids), public=True).values(
        "id", "title", "public_title"
    )
    return {int(r["id"]): str(r["public_title"] or r["title"]) for r in rows}
