"""The metrics trend: one bucket per UTC day or per week (weeks start on Monday) across the
range, with the incidents created in each. The database sums per UTC day (the daily roll-up
for whole days, the incidents themselves for the partial days at the ends); Python adds the
days up into weeks and lays out the series of bucket starts, so buckets with no incident
appear too, with zero counts and no means. The first and last buckets may be cut short by the
range. Without `from`, the series starts at the first incident in scope; without `to`, it
ends now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from app import db
from app.errors import BadUserInput
from app.metrics import rollup, sql
from app.metrics.service import Scope

MAX_BUCKETS = 1000  # a DAY trend covers at most ~2.7 years; a WEEK trend ~19


class Interval(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"


@dataclass
class Bucket:
    start: datetime
    incident_count: int = 0
    open_count: int = 0
    mtta_seconds: float | None = None
    mttr_seconds: float | None = None
    mttd_seconds: float | None = None


def bucket_start(at: datetime, interval: Interval) -> datetime:
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    return day - timedelta(days=day.weekday()) if interval is Interval.WEEK else day


def _step(interval: Interval) -> timedelta:
    return timedelta(weeks=1) if interval is Interval.WEEK else timedelta(days=1)


async def _first_created(of: Scope) -> datetime | None:
    where = sql.incidents_created(of.service_id, None, of.end, db.is_postgres())
    rows = await db.connection().execute_query_dict(
        f"SELECT MIN(created_at) AS first FROM incidents{where.sql()}", where.params)
    first = rows[0]["first"] if rows else None
    if first is None:
        return None
    if isinstance(first, str):  # SQLite hands back the stored text
        first = datetime.fromisoformat(first)
    return first.astimezone(UTC)


def _mean(total: Any, count: Any) -> float | None:
    return float(total) / int(count) if count and total is not None else None


async def _day_rows(service_id: int | None, start: datetime, end: datetime, postgres: bool
                   ) -> list[dict[str, Any]]:
    """Rows of (bucket: the day, sums): the roll-up for the whole days of [start, end), the
    incidents themselves for the partial days at its ends."""
    parts = rollup.split(start, end)
    rows = (await rollup.days(parts.whole_days, service_id, postgres)
            if parts.whole_days else [])
    day = sql.day_bucket("created_at", postgres)
    for edge_start, edge_end in parts.edges:
        where = sql.incidents_created(service_id, edge_start, edge_end, postgres)
        rows += await db.connection().execute_query_dict(
            f"SELECT {sql.bucket_label(day, postgres)} AS bucket,"
            f" {sql.incident_sums('', postgres)} FROM incidents{where.sql()} GROUP BY {day}",
            where.params,
        )
    return rows


async def trend(of: Scope, interval: Interval, *, now: datetime) -> list[Bucket]:
    """Buckets from the one holding `from` to the one holding the last instant before `to`;
    more than MAX_BUCKETS is refused (BAD_USER_INPUT)."""
    start = of.start if of.start is not None else await _first_created(of)
    end = of.end if of.end is not None else now.astimezone(UTC)
    if start is None or end <= start:
        return []
    first = bucket_start(start, interval)
    last = bucket_start(end - timedelta(microseconds=1), interval)
    count = (last - first) // _step(interval) + 1
    if count > MAX_BUCKETS:
        raise BadUserInput(
            f"the range spans {count} {interval.value.lower()}s; at most {MAX_BUCKETS} buckets"
            " (narrow from/to or use a longer interval)", field="interval")

    postgres = db.is_postgres()
    found: dict[str, dict[str, float]] = {}
    for row in await _day_rows(of.service_id, start, end, postgres):
        day = datetime.fromisoformat(str(row["bucket"])[:10]).replace(tzinfo=UTC)
        sums = found.setdefault(bucket_start(day, interval).date().isoformat(),
                                dict.fromkeys(rollup.SUMS, 0.0))
        for name in rollup.SUMS:
            sums[name] += float(row.get(name) or 0)
    buckets = []
    for k in range(count):
        at = first + k * _step(interval)
        bucket = Bucket(start=at)
        summed = found.get(at.date().isoformat())
        if summed is not None:
            bucket.incident_count = int(summed["n"])
            bucket.open_count = int(summed["open_n"])
            bucket.mtta_seconds = _mean(summed["ack_sum"], summed["ack_n"])
            bucket.mttr_seconds = _mean(summed["res_sum"], summed["res_n"])
            bucket.mttd_seconds = _mean(summed["detect_sum"], summed["n"])
        buckets.append(bucket)
    return buckets
