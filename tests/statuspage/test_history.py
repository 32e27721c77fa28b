"""The 90-day history bars and uptime, computed in SQL from crafted incident histories that
span several days (priority changes, reopening, cancellation, moves between services)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.auth.models import Role
from app.incidents import service
from app.incidents.models import Impact, IncidentStatus, ServiceStatus, Urgency
from app.statuspage.history import DAYS, service_histories

OK = ServiceStatus.OPERATIONAL
DEGRADED = ServiceStatus.DEGRADED
PARTIAL = ServiceStatus.PARTIAL_OUTAGE
MAJOR = ServiceStatus.MAJOR_OUTAGE


def at(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


@pytest.fixture
async def crafted(users, clock):
    """Two services created 2025-12-26 and a month of incidents; now is 2026-01-05 09:00."""
    admin = users[Role.ADMIN][0]
    s = service

    async def opened(when, title, impact, urgency, svc, **extra):
        clock.set(when)
        return await s.create_incident(
            s.NewIncident(title=title, impact=impact, urgency=urgency, service_id=svc.id,
                          **extra), actor=admin, now=when)

    async def move(incident, when, target):
        await s.change_status(incident.id, target, actor=admin, now=when)

    clock.set(at("2025-12-26", 0))
    web = await s.create_service(name="Web", description=None, public=True, actor=admin,
                                 now=clock.now())
    api = await s.create_service(name="API", description=None, public=True, actor=admin,
                                 now=clock.now())
    # Dec 27: a P1 on API 10:00, moved to Web 11:00, resolved 12:00.
    moved = await opened(at("2025-12-27", 10), "db failover", Impact.HIGH, Urgency.HIGH, api,
                         public=True, public_title="Database failover")
    await s.update_incident(moved.id, {"service_id": web.id}, actor=admin,
                            now=at("2025-12-27", 11))
    await move(moved, at("2025-12-27", 12), IncidentStatus.RESOLVED)
    # Dec 28 10:00 a P3, raised to P1 Dec 29 14:00, resolved 16:00 (internal: never named).
    raised = await opened(at("2025-12-28", 10), "disk on db01", Impact.HIGH, Urgency.LOW, web)
    await s.update_incident(raised.id, {"urgency": Urgency.HIGH}, actor=admin,
                            now=at("2025-12-29", 14))
    await move(raised, at("2025-12-29", 16), IncidentStatus.RESOLVED)
    # A P2 overlapping it, Dec 29 15:00-17:00: outage time is merged, 14:00-17:00.
    overlap = await opened(at("2025-12-29", 15), "errors", Impact.HIGH, Urgency.MEDIUM, web)
    await move(overlap, at("2025-12-29", 17), IncidentStatus.RESOLVED)
    # A public P2 across midnight Dec 31 23:00 - Jan 1 01:00, reopened Jan 3 12:00, cancelled
    # 13:00; Jan 2 (resolved in between) is operational.
    slow = await opened(at("2025-12-31", 23), "LB edge-3 misconfig", Impact.HIGH,
                        Urgency.MEDIUM, web, public=True, public_title="Slow checkout")
    await move(slow, at("2026-01-01", 1), IncidentStatus.RESOLVED)
    await s.reopen(slow.id, actor=admin, now=at("2026-01-03", 12))
    await move(slow, at("2026-01-03", 13), IncidentStatus.CANCELLED)
    # Jan 4: a P4 (operational) and a P1 opened and cancelled in the same instant.
    await opened(at("2026-01-04", 8), "typo", Impact.LOW, Urgency.MEDIUM, web)
    blip = await opened(at("2026-01-04", 9), "false alarm", Impact.HIGH, Urgency.HIGH, web)
    await move(blip, at("2026-01-04", 9), IncidentStatus.CANCELLED)
    # Jan 5: a P1 still open, reported at 09:00 but impact began at 08:00.
    await opened(at("2026-01-05", 9), "checkout down", Impact.HIGH, Urgency.HIGH, web,
                 public=True, started_at=at("2026-01-05", 8))
    clock.set(at("2026-01-05", 9))
    return web, api


def by_day(history) -> dict[date, tuple]:
    return {bar.day: (bar.status, bar.incidents) for bar in history.days}


async def test_each_day_shows_the_worst_status_the_service_had(crafted, clock):
    web, api = crafted
    histories = await service_histories([(web.id, web.created_at), (api.id, api.created_at)],
                                        now=clock.now())
    history = histories[web.id]
    assert len(history.days) == DAYS
    assert history.days[-1].day == date(2026, 1, 5)
    assert history.days[0].day == date(2026, 1, 5) - timedelta(days=DAYS - 1)
    days = by_day(history)
    assert days[date(2025, 12, 25)] == (None, [])  # before the service existed
    assert days[date(2025, 12, 26)] == (OK, [])
    assert days[date(2025, 12, 27)] == (MAJOR, ["Database failover"])
    assert days[date(2025, 12, 28)] == (DEGRADED, [])  # P3 until it was raised
    assert days[date(2025, 12, 29)] == (MAJOR, [])
    assert days[date(2025, 12, 30)] == (OK, [])
    assert days[date(2025, 12, 31)] == (PARTIAL, ["Slow checkout"])
    assert days[date(2026, 1, 1)] == (PARTIAL, ["Slow checkout"])
    assert days[date(2026, 1, 2)] == (OK, [])  # resolved until the reopening
    assert days[date(2026, 1, 3)] == (PARTIAL, ["Slow checkout"])
    assert days[date(2026, 1, 4)] == (OK, [])  # a P4, and a P1 cancelled at once
    assert days[date(2026, 1, 5)] == (MAJOR, ["checkout down"])

    api_days = by_day(histories[api.id])
    assert api_days[date(2025, 12, 27)] == (MAJOR, ["Database failover"])  # before the move
    assert {status for status, _ in api_days.values() if status} == {OK, MAJOR}


async def test_uptime_counts_merged_major_and_partial_outage_time(crafted, clock):
    web, api = crafted
    histories = await service_histories([(web.id, web.created_at), (api.id, api.created_at)],
                                        now=clock.now())
    observed_hours = 10 * 24 + 9  # Dec 26 00:00 to Jan 5 09:00
    # Web: 1 h (moved P1) + 3 h (P1 14-16 merged with P2 15-17) + 2 h + 1 h (P2) + 1 h (P1).
    assert histories[web.id].uptime_percent == pytest.approx(100 * (1 - 8 / observed_hours))
    assert histories[api.id].uptime_percent == pytest.approx(100 * (1 - 1 / observed_hours))


async def test_a_service_without_incidents_is_all_operational(users, clock):
    admin = users[Role.ADMIN][0]
    clock.set(at("2025-06-01", 0))
    quiet = await service.create_service(name="Quiet", description=None, public=True,
                                         actor=admin, now=clock.now())
    clock.set(at("2026-01-05", 9))
    history = (await service_histories([(quiet.id, quiet.created_at)], now=clock.now()))[quiet.id]
    assert {bar.status for bar in history.days} == {OK}
    assert history.uptime_percent == 100.0
