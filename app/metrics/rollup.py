"""Reading the daily roll-up (`incident_day_stats`, kept by triggers; see migration 0010).

A range [from, to) splits into whole UTC days, answered from the roll-up (a few rows per
day), and at most two partial days at its ends, answered from the incidents and timers
themselves. Both give the same summable group rows, so callers add them up alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app import db
from app.metrics import sql

SUMS = ("n", "open_n", "ack_sum", "ack_n", "res_sum", "res_n", "detect_sum", "met", "ended")


@dataclass(frozen=True)
class Split:
    """Whole days [first_day, end_day) (None: open on that side) from the roll-up, if any,
    and the instants outside them, [start, end) pairs, read from the source rows."""

    whole_days: tuple[date | None, date | None] | None
    edges: list[tuple[datetime | None, datetime | None]]


def _floor(at: datetime) -> datetime:
    return datetime(at.year, at.month, at.day, tzinfo=UTC)


def _ceil(at: datetime) -> datetime:
    day = _floor(at)
    return day if day == at else day + timedelta(days=1)


def split(start: datetime | None, end: datetime | None) -> Split:
    """Split [start, end) (UTC; either end open) into whole days and partial edges."""
    first = _ceil(start) if start is not None else None
    last = _floor(end) if end is not None else None
    if first is not None and last is not None and first >= last:
        return Split(None, [(start, end)])  # no whole day inside: all of it is an edge
    edges: list[tuple[datetime | None, datetime | None]] = []
    if start is not None and first is not None and start < first:
        edges.append((start, first))
    if end is not None and last is not None and last < end:
        edges.append((last, end))
    return Split((first.date() if first else None, last.date() if last else None), edges)


def _day_where(days: tuple[date | None, date | None], service_id: int | None,
               postgres: bool) -> sql.Where:
    where = sql.Where(postgres)
    if service_id is not None:
        where.add("service_key = ?", service_id)
    first, end = days
    if first is not None:
        where.add("day >= ?", first if postgres else first.isoformat())
    if end is not None:
        where.add("day < ?", end if postgres else end.isoformat())
    return where


_SUMMED = ", ".join(f"SUM({c}) AS {c}" for c in SUMS)


async def groups(days: tuple[date | None, date | None], service_id: int | None,
                 postgres: bool) -> list[dict[str, Any]]:
    """Roll-up rows of the whole days, summed per (priority, service_id); service_id is None
    for incidents without a service."""
    where = _day_where(days, service_id, postgres)
    return await db.connection().execute_query_dict(
        "SELECT priority, NULLIF(service_key, 0) AS service_id,"
        f" {_SUMMED} FROM incident_day_stats{where.sql()} GROUP BY priority, service_key",
        where.params,
    )


async def days(whole_days: tuple[date | None, date | None], service_id: int | None,
               postgres: bool) -> list[dict[str, Any]]:
    """Roll-up rows of the whole days summed per day (in key order, nothing to sort);
    `bucket` is the day as 'YYYY-MM-DD'."""
    where = _day_where(whole_days, service_id, postgres)
    label = "to_char(day, 'YYYY-MM-DD')" if postgres else "day"
    return await db.connection().execute_query_dict(
        f"SELECT {label} AS bucket, {_SUMMED} FROM incident_day_stats{where.sql()}"
        " GROUP BY day",
        where.params,
    )
