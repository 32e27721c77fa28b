"""When a failed delivery is tried again: exponential backoff over a schedule, with jitter so a
burst of failures does not come back as a burst, and the provider's Retry-After honoured."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

# Seconds after attempt 1, 2, ...: roughly doubling, then six-hourly; about 26 hours in all.
DEFAULT_SCHEDULE: tuple[float, ...] = (
    10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 21600, 21600, 21600,
)
JITTER = 0.2  # each wait is stretched or shrunk by up to 20 %
MAX_RETRY_AFTER = 86400.0


def parse_schedule(text: str) -> list[float]:
    """`TOCSIN_DELIVERY_RETRY_SCHEDULE`: comma-separated positive seconds."""
    values: list[float] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        value = float(part)
        if value <= 0:
            raise ValueError("TOCSIN_DELIVERY_RETRY_SCHEDULE needs positive numbers of seconds")
        values.append(value)
    return values


def with_jitter(seconds: float, draw: Callable[[], float] = random.random) -> float:
    return seconds * (1 - JITTER + 2 * JITTER * draw())


def next_attempt_at(
    attempts: int,
    schedule: list[float],
    now: datetime,
    *,
    retry_after: float | None = None,
    draw: Callable[[], float] = random.random,
) -> datetime | None:
    """When to try again after `attempts` failed attempts; None when the schedule is spent."""
    if attempts > len(schedule):
        return None
    if retry_after is not None and retry_after > 0:
        wait = min(float(retry_after), MAX_RETRY_AFTER)
    else:
        wait = with_jitter(schedule[attempts - 1], draw)
    return now + timedelta(seconds=wait)
