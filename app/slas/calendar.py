"""Business time: which instants count towards an SLA under a policy's calendar (IANA timezone,
working hours per weekday, holidays), and the two sums the timers need —
`add_business_seconds` (when is the due time?) and `business_seconds_between` (how much has been
consumed?). Working hours are local wall-clock times, so a day with a DST change simply has a
longer or shorter real span; business seconds are real (UTC) seconds inside opening hours.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A calendar with no opening at all within this many days is refused instead of looping.
MAX_DAYS_AHEAD = 366 * 20

Range = tuple[time, time | None]  # end None = midnight at the end of the day ("24:00")


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "UTC"
    # ISO weekday (1 = Monday … 7 = Sunday) -> opening ranges that day; empty mapping = 24x7.
    hours: Mapping[int, Sequence[Range]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.hours and not self.holidays

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_clock_time(text: str) -> time | None:
    """"09:00" -> 09:00; "24:00" -> None (the end of the day). ValueError when malformed."""
    if text == "24:00":
        return None
    hour, minute = text.split(":")
    if len(hour) != 2 or len(minute) != 2:
        raise ValueError(text)
    return time(int(hour), int(minute))


def _open_intervals(day: date, cal: BusinessCalendar, zone: ZoneInfo
                    ) -> list[tuple[datetime, datetime]]:
    """The day's opening hours as UTC intervals, in order."""
    if day in cal.holidays:
        return []
    ranges: Sequence[Range] = (
        cal.hours.get(day.isoweekday(), ()) if cal.hours else ((time(0), None),)
    )
    intervals = []
    for start, end in ranges:
        a = datetime.combine(day, start, tzinfo=zone).astimezone(UTC)
        if end is None:
            b = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        else:
            b = datetime.combine(day, end, tzinfo=zone).astimezone(UTC)
        if b > a:
            intervals.append((a, b))
    return intervals


def _intervals(first_day: date, cal: BusinessCalendar) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals from the local day `first_day` on, in time order and never overlapping
    (a local time skipped by a DST change can map before an earlier range's end; it is clipped)."""
    zone = cal.zone()
    day = first_day
    last_end: datetime | None = None
    for _ in range(MAX_DAYS_AHEAD):
        for a, b in _open_intervals(day, cal, zone):
            if last_end is not None and a < last_end:
                a = last_end
            if b > a:
                yield a, b
                last_end = b
        day += timedelta(days=1)
    raise ValueError("the calendar has no opening hours in the next 20 years")


def _intervals_from(moment: datetime, cal: BusinessCalendar
                    ) -> Iterator[tuple[datetime, datetime]]:
    """Opening intervals that end after `moment`, in time order, clipped to start at it."""
    # A day's ranges lie inside that local day, so the local date of `moment` is the first
    # day that can still hold an interval ending after it.
    for a, b in _intervals(moment.astimezone(cal.zone()).date(), cal):
        if b > moment:
            yield max(a, moment), b


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business time needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def add_business_seconds(start: datetime, seconds: float, cal: BusinessCalendar) -> datetime:
    """The instant at which `seconds` of business time have passed since `start`.

    A clock started outside opening hours starts at the next opening; a due time that falls
    exactly at a closing is that closing, not the next opening.
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    start = _utc(start)
    if cal.always_open:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    for a, b in _intervals_from(start, cal):
        if remaining <= b - a:
            return a + remaining
        remaining -= b - a
    raise AssertionError("unreachable")  # _intervals_from raises first


def business_seconds_between(a: datetime, b: datetime, cal: BusinessCalendar) -> float:
    """Business seconds in [a, b); 0 when b is not after a."""
    a, b = _utc(a), _utc(b)
    if b <= a:
        return 0.0
    if cal.always_open:
        return (b - a).total_seconds()
    total = timedelta()
    for lo, hi in _intervals_from(a, cal):
        if lo >= b:
            break
        total += min(hi, b) - lo
    return total.total_seconds()
