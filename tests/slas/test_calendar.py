"""Business time: hand-checked examples (weekends, holidays, both DST changes) and properties
that must hold for any calendar (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.slas.calendar import BusinessCalendar, add_business_seconds, business_seconds_between

H = 3600
NINE_TO_FIVE = {d: [(time(9), time(17))] for d in range(1, 6)}
BERLIN = BusinessCalendar("Europe/Berlin", NINE_TO_FIVE)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_always_open_is_plain_seconds():
    start = utc(2026, 3, 28, 12)
    assert add_business_seconds(start, 36 * H, BusinessCalendar()) == start + timedelta(hours=36)
    assert business_seconds_between(start, start + timedelta(hours=5), BusinessCalendar()) == 5 * H


def test_friday_afternoon_rolls_over_the_weekend():
    # Fri 2026-01-09 16:00 CET = 15:00 UTC; 2h business: 1h Friday, 1h Monday from 09:00 CET.
    due = add_business_seconds(utc(2026, 1, 9, 15), 2 * H, BERLIN)
    assert due == utc(2026, 1, 12, 9)  # Mon 10:00 CET
    assert business_seconds_between(utc(2026, 1, 9, 15), due, BERLIN) == 2 * H


def test_started_outside_hours_starts_at_the_next_opening():
    # Sat 2026-01-10 noon: nothing counts until Mon 09:00 CET (08:00 UTC).
    assert add_business_seconds(utc(2026, 1, 10, 12), 0, BERLIN) == utc(2026, 1, 12, 8)
    assert add_business_seconds(utc(2026, 1, 10, 12), 30 * 60, BERLIN) == utc(2026, 1, 12, 8, 30)
    # Before opening on a weekday.
    assert add_business_seconds(utc(2026, 1, 13, 5), H, BERLIN) == utc(2026, 1, 13, 9)


def test_due_exactly_at_closing_is_the_closing():
    # Mon 09:00 CET + 8h = Mon 17:00 CET (16:00 UTC), not Tuesday morning.
    assert add_business_seconds(utc(2026, 1, 12, 8), 8 * H, BERLIN) == utc(2026, 1, 12, 16)


def test_holidays_are_skipped():
    cal = BusinessCalendar("Europe/Berlin", NINE_TO_FIVE, frozenset({date(2026, 1, 12)}))
    # Fri 16:00 CET + 2h: 1h Friday, Monday is a holiday, 1h Tuesday.
    assert add_business_seconds(utc(2026, 1, 9, 15), 2 * H, cal) == utc(2026, 1, 13, 9)
    assert business_seconds_between(utc(2026, 1, 12, 0), utc(2026, 1, 13, 0), cal) == 0


def test_several_ranges_a_day():
    split = BusinessCalendar("UTC", {1: [(time(9), time(12)), (time(13), time(17))]})
    # Monday 2026-01-12 11:00 + 2h: 1h before lunch, 1h after.
    assert add_business_seconds(utc(2026, 1, 12, 11), 2 * H, split) == utc(2026, 1, 12, 14)
    assert business_seconds_between(utc(2026, 1, 12, 0), utc(2026, 1, 13, 0), split) == 7 * H
    # Next Monday after the last range closes.
    assert add_business_seconds(utc(2026, 1, 12, 17), H, split) == utc(2026, 1, 19, 10)


def test_spring_forward_in_berlin():
    # DST began Sun 2026-03-29. Fri 2026-03-27 16:00 CET = 15:00 UTC; + 2h business ends
    # Mon 10:00 CEST, which is 08:00 UTC (not 09:00 as it would be in winter).
    due = add_business_seconds(utc(2026, 3, 27, 15), 2 * H, BERLIN)
    assert due == utc(2026, 3, 30, 8)
    assert business_seconds_between(utc(2026, 3, 27, 15), due, BERLIN) == 2 * H


def test_fall_back_in_new_york():
    # DST ended Sun 2026-11-01. Fri 2026-10-30 16:00 EDT = 20:00 UTC; + 2h: Mon 10:00 EST,
    # which is 15:00 UTC.
    cal = BusinessCalendar("America/New_York", NINE_TO_FIVE)
    due = add_business_seconds(utc(2026, 10, 30, 20), 2 * H, cal)
    assert due == utc(2026, 11, 2, 15)


def test_a_whole_open_day_on_a_dst_change_has_its_real_length():
    sundays = BusinessCalendar("Europe/Berlin", {7: [(time(0), None)]})
    # Sun 2026-03-29 lasts 23 hours, Sun 2026-10-25 lasts 25 hours.
    assert business_seconds_between(utc(2026, 3, 28), utc(2026, 3, 31), sundays) == 23 * H
    assert business_seconds_between(utc(2026, 10, 24), utc(2026, 10, 27), sundays) == 25 * H
    # Starting at Sunday's local midnight (Sat 23:00 UTC), 23h end at Monday 00:00 CEST.
    assert add_business_seconds(utc(2026, 3, 28, 23), 23 * H, sundays) == utc(2026, 3, 29, 22)


def test_naive_datetimes_and_negative_seconds_are_refused():
    with pytest.raises(ValueError):
        add_business_seconds(datetime(2026, 1, 1), 1, BERLIN)
    with pytest.raises(ValueError):
        add_business_seconds(utc(2026, 1, 1), -1, BERLIN)


# ------------------------------------------------------------------ properties

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    hours: dict[int, list[tuple[time, time | None]]] = {}
    for weekday in range(1, 8):
        marks = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
        marks = marks[: len(marks) // 2 * 2]
        spans = []
        for lo, hi in zip(marks[::2], marks[1::2], strict=True):
            start = time(lo * 15 // 60, lo * 15 % 60)
            end = None if hi == 96 else time(hi * 15 // 60, hi * 15 % 60)
            spans.append((start, end))
        if spans:
            hours[weekday] = spans
    if draw(st.booleans()):
        hours = {}  # 24x7 (with holidays, maybe)
    if not hours and draw(st.booleans()):
        hours = {1: [(time(9), time(17))]}
    holidays = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2027, 2, 1)), max_size=20))
    return BusinessCalendar(draw(st.sampled_from(ZONES)), hours, holidays)


instants = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31),
                        timezones=st.just(UTC))
amounts = st.integers(0, 20 * 24 * H)


@settings(max_examples=300, deadline=None)
@given(calendars(), instants, amounts)
def test_adding_then_measuring_gives_the_seconds_back(cal, start, seconds):
    due = add_business_seconds(start, seconds, cal)
    assert due >= start
    assert business_seconds_between(start, due, cal) == pytest.approx(seconds, abs=1e-6)


@settings(max_examples=300, deadline=None)
@given(calendars(), instants, instants, amounts, amounts)
def test_results_are_monotonic(cal, a, b, s1, s2):
    a, b = min(a, b), max(a, b)
    s1, s2 = min(s1, s2), max(s1, s2)
    assert add_business_seconds(a, s1, cal) <= add_business_seconds(a, s2, cal)
    assert add_business_seconds(a, s1, cal) <= add_business_seconds(b, s1, cal)
    assert business_seconds_between(a, a, cal) == 0
    assert business_seconds_between(a, b, cal) <= business_seconds_between(
        a, b + timedelta(hours=7), cal)


@settings(max_examples=300, deadline=None)
@given(calendars(), instants)
def test_a_clock_started_outside_hours_starts_at_the_next_opening(cal, start):
    opening = add_business_seconds(start, 0, cal)
    # Nothing between the start and that instant counts, and the calendar is open right then.
    assert opening >= start
    assert business_seconds_between(start, opening, cal) == 0
    assert business_seconds_between(opening, opening + timedelta(seconds=1), cal) == 1
    # The first business second after the start is the one right after the opening.
    assert add_business_seconds(start, 1, cal) == opening + timedelta(seconds=1)
