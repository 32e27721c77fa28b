"""`metrics` MTTD, breakdowns and trend against figures computed by hand from crafted incidents
worked through the service at known instants (FrozenClock), read back through the API, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.auth.models import Role
from app.graphql.ids import to_global_id
from app.incidents import service as incidents
from app.incidents.models import Impact, Urgency

FIGURES = "incidentCount openCount mttaSeconds mttrSeconds mttdSeconds slaCompliancePercent"
QUERY = (
    "query($from: DateTime, $to: DateTime, $service: ID, $interval: MetricsInterval!) {"
    " metrics(from: $from, to: $to, serviceId: $service) {"
    f" {FIGURES} byPriority {{ priority {FIGURES} }}"
    f" byService {{ service {{ name }} {FIGURES} }}"
    " trend(interval: $interval) {"
    " start incidentCount openCount mttaSeconds mttrSeconds mttdSeconds } } }")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# Monday 5 January 2026 to Monday 26 January 2026 (exclusive): three whole weeks.
FROM, TO = utc(2026, 1, 5), utc(2026, 1, 26)


@pytest.fixture
async def history(covered, manager, users, clock):
    """Checkout runs under the Standard policy (P1: response 300 s, resolution 1800 s;
    P2: response 600 s); Search has no policy.

    A Checkout P1, created Mon 05 09:00, impact began 600 s earlier; ack +120 (MET),
      resolved +1200 (MET).
    B Checkout P2, created Mon 05 12:00; ack +900 (response BREACHED); still open.
    C Search P3, created Wed 07 10:00, impact began 3600 s earlier; ack +300, resolved +4000.
    D no service, P4, created Sun 11 23:30 (still the week of Monday 05); still NEW.
      Nothing in the week of Monday 12.
    E Checkout P1, created Tue 20 10:00, impact began 120 s earlier; ack +60 (MET),
      resolved +2400 (resolution BREACHED), closed.
    F Checkout P2, created Mon 26 00:00: outside [FROM, TO) since `to` is exclusive.
    The clock then stands at Mon 26 12:00."""
    responder = users[Role.RESPONDER][0]
    search = await incidents.create_service(name="Search", description=None, public=True,
                                            actor=manager, now=clock.now())

    async def create(at: datetime, service, impact, urgency, began: float = 0):
        clock.set(at)
        return await incidents.create_incident(incidents.NewIncident(
            title="Payments fail", impact=impact, urgency=urgency,
            service_id=service.id if service else None,
            started_at=at - timedelta(seconds=began)), actor=responder, now=at)

    async def ack(incident, seconds: float) -> None:
        clock.set(incident.created_at + timedelta(seconds=seconds))
        await incidents.acknowledge(incident.id, actor=responder, now=clock.now())

    async def resolve(incident, seconds: float) -> None:
        clock.set(incident.created_at + timedelta(seconds=seconds))
        await incidents.resolve(incident.id, "fixed", actor=responder, now=clock.now())

    a = await create(utc(2026, 1, 5, 9), covered, Impact.HIGH, Urgency.HIGH, began=600)
    await ack(a, 120)
    await resolve(a, 1200)
    b = await create(utc(2026, 1, 5, 12), covered, Impact.HIGH, Urgency.MEDIUM)
    await ack(b, 900)
    c = await create(utc(2026, 1, 7, 10), search, Impact.HIGH, Urgency.LOW, began=3600)
    await ack(c, 300)
    await resolve(c, 4000)
    await create(utc(2026, 1, 11, 23, 30), None, Impact.MEDIUM, Urgency.LOW)
    e = await create(utc(2026, 1, 20, 10), covered, Impact.HIGH, Urgency.HIGH, began=120)
    await ack(e, 60)
    await resolve(e, 2400)
    clock.set(e.created_at + timedelta(seconds=3000))
    await incidents.close(e.id, actor=responder, now=clock.now())
    await create(utc(2026, 1, 26), covered, Impact.HIGH, Urgency.MEDIUM)
    clock.set(utc(2026, 1, 26, 12))
    return {"covered": covered, "search": search}


async def _metrics(api, start=None, end=None, service=None, interval="DAY") -> dict:
    variables = {"from": start and start.isoformat(), "to": end and end.isoformat(),
                 "service": service and to_global_id("Service", service.id),
                 "interval": interval}
    return (await api(QUERY, variables, role=Role.VIEWER)).ok()["metrics"]


def figures(count, open_, mtta, mttr, mttd, sla) -> dict:
    return {"incidentCount": count, "openCount": open_, "mttaSeconds": mtta,
            "mttrSeconds": mttr, "mttdSeconds": mttd, "slaCompliancePercent": sla}


def approx(expected: dict) -> dict:
    """Counts exactly, means to a millisecond, absent means as None."""
    return {k: v if v is None or k.endswith("Count") else pytest.approx(v, abs=1e-3)
            for k, v in expected.items()}


def _of(row: dict) -> dict:
    return {k: row[k] for k in FIGURES.split()}


def _bucket(start: datetime, count=0, open_=0, mtta=None, mttr=None, mttd=None) -> dict:
    return {"start": start.isoformat(), "incidentCount": count, "openCount": open_,
            "mttaSeconds": mtta, "mttrSeconds": mttr, "mttdSeconds": mttd}


def _assert_buckets(got: list[dict], expected: list[dict]) -> None:
    assert [datetime.fromisoformat(b["start"]) for b in got] == [
        datetime.fromisoformat(b["start"]) for b in expected]
    for have, want in zip(got, expected, strict=True):
        assert {k: v for k, v in have.items() if k != "start"} == approx(
            {k: v for k, v in want.items() if k != "start"}), want["start"]


async def test_totals_and_mttd(api, history):
    m = await _metrics(api, FROM, TO)
    # A B C D E; open: B, D. MTTA over A B C E; MTTR over A C E; MTTD over all five.
    # SLA: A response MET, A resolution MET, B response BREACHED, E response MET,
    # E resolution BREACHED (B's resolution still runs): 3 of 5.
    assert _of(m) == approx(figures(5, 2, (120 + 900 + 300 + 60) / 4,
                                    (1200 + 4000 + 2400) / 3,
                                    (600 + 0 + 3600 + 0 + 120) / 5, 60.0))


async def test_by_priority(api, history):
    m = await _metrics(api, FROM, TO)
    assert [p["priority"] for p in m["byPriority"]] == ["P1", "P2", "P3", "P4", "P5"]
    got = {p["priority"]: _of(p) for p in m["byPriority"]}
    assert got == {
        "P1": approx(figures(2, 0, (120 + 60) / 2, (1200 + 2400) / 2, (600 + 120) / 2, 75.0)),
        "P2": approx(figures(1, 1, 900, None, 0, 0.0)),
        "P3": approx(figures(1, 0, 300, 4000, 3600, None)),
        "P4": approx(figures(1, 1, None, None, 0, None)),
        "P5": figures(0, 0, None, None, None, None),
    }


async def test_by_service(api, history):
    m = await _metrics(api, FROM, TO)
    # Most incidents first; Search before the service-less row on a tie.
    assert [(s["service"] or {}).get("name") for s in m["byService"]] == [
        "Checkout", "Search", None]
    checkout, search, none = (_of(s) for s in m["byService"])
    assert checkout == approx(figures(3, 1, (120 + 900 + 60) / 3, (1200 + 2400) / 2,
                                      (600 + 0 + 120) / 3, 60.0))
    assert search == approx(figures(1, 0, 300, 4000, 3600, None))
    assert none == approx(figures(1, 1, None, None, 0, None))


async def test_weekly_trend_has_the_empty_week(api, history):
    m = await _metrics(api, FROM, TO, interval="WEEK")
    _assert_buckets(m["trend"], [
        # D (Sunday 23:30) belongs to the week starting Monday 05.
        _bucket(utc(2026, 1, 5), 4, 2, (120 + 900 + 300) / 3, (1200 + 4000) / 2,
                (600 + 0 + 3600 + 0) / 4),
        _bucket(utc(2026, 1, 12)),
        _bucket(utc(2026, 1, 19), 1, 0, 60, 2400, 120),
    ])


async def test_daily_trend(api, history):
    m = await _metrics(api, FROM, TO)
    filled = {
        utc(2026, 1, 5): _bucket(utc(2026, 1, 5), 2, 1, (120 + 900) / 2, 1200, 300),
        utc(2026, 1, 7): _bucket(utc(2026, 1, 7), 1, 0, 300, 4000, 3600),
        utc(2026, 1, 11): _bucket(utc(2026, 1, 11), 1, 1, None, None, 0),
        utc(2026, 1, 20): _bucket(utc(2026, 1, 20), 1, 0, 60, 2400, 120),
    }
    days = [FROM + timedelta(days=k) for k in range(21)]
    _assert_buckets(m["trend"], [filled.get(d, _bucket(d)) for d in days])


async def test_partial_buckets_and_open_ends(api, history):
    # From Wed 07 10:30 (after C): the first bucket still starts at its day / its Monday, but
    # holds only what was created in range (D); up to Tue 20 10:00 exclusive (before E).
    start, end = utc(2026, 1, 7, 10, 30), utc(2026, 1, 20, 10)
    daily = (await _metrics(api, start, end))["trend"]
    assert [b["start"] for b in daily] == [
        (utc(2026, 1, 7) + timedelta(days=k)).isoformat() for k in range(14)]
    assert [b["incidentCount"] for b in daily] == [0] * 4 + [1] + [0] * 9
    weekly = (await _metrics(api, start, end, interval="WEEK"))["trend"]
    assert [(b["start"], b["incidentCount"]) for b in weekly] == [
        (utc(2026, 1, 5).isoformat(), 1), (utc(2026, 1, 12).isoformat(), 0),
        (utc(2026, 1, 19).isoformat(), 0)]

    # No `from`: from the first incident's day; no `to`: up to now (Mon 26 12:00, with F).
    open_ended = (await _metrics(api, interval="WEEK"))["trend"]
    assert [(b["start"], b["incidentCount"]) for b in open_ended] == [
        (utc(2026, 1, 5).isoformat(), 4), (utc(2026, 1, 12).isoformat(), 0),
        (utc(2026, 1, 19).isoformat(), 1), (utc(2026, 1, 26).isoformat(), 1)]


async def test_one_service(api, history):
    m = await _metrics(api, FROM, TO, service=history["covered"], interval="WEEK")
    assert _of(m) == approx(figures(3, 1, (120 + 900 + 60) / 3, (1200 + 2400) / 2,
                                    (600 + 0 + 120) / 3, 60.0))
    assert [s["service"]["name"] for s in m["byService"]] == ["Checkout"]
    assert {p["priority"]: p["incidentCount"] for p in m["byPriority"]} == {
        "P1": 2, "P2": 1, "P3": 0, "P4": 0, "P5": 0}
    _assert_buckets(m["trend"], [
        _bucket(utc(2026, 1, 5), 2, 1, (120 + 900) / 2, 1200, 300),
        _bucket(utc(2026, 1, 12)),
        _bucket(utc(2026, 1, 19), 1, 0, 60, 2400, 120),
    ])
    search = await _metrics(api, FROM, TO, service=history["search"])
    assert _of(search) == approx(figures(1, 0, 300, 4000, 3600, None))
    assert [b["incidentCount"] for b in search["trend"]] == [0, 0, 1] + [0] * 18


async def test_empty_ranges(api, history):
    none = figures(0, 0, None, None, None, None)
    empty = await _metrics(api, FROM, FROM)
    assert _of(empty) == none
    assert empty["byService"] == [] and empty["trend"] == []
    assert [_of(p) for p in empty["byPriority"]] == [none] * 5
    # A range before any incident: zero figures, and empty buckets for each day of it.
    quiet = await _metrics(api, utc(2025, 12, 1), utc(2025, 12, 4))
    assert _of(quiet) == none and quiet["byService"] == []
    _assert_buckets(quiet["trend"], [_bucket(utc(2025, 12, d)) for d in (1, 2, 3)])


async def test_empty_database(api):
    m = await _metrics(api, interval="WEEK")
    assert _of(m) == figures(0, 0, None, None, None, None)
    assert m["byService"] == [] and m["trend"] == []


async def test_bad_input(api, history):
    async def codes(**variables) -> tuple[list[str], list]:
        variables.setdefault("interval", "DAY")
        result = await api(QUERY, variables, role=Role.VIEWER)
        return result.codes, [e.get("extensions", {}).get("field") for e in result.errors]

    assert await codes(**{"from": TO.isoformat(), "to": FROM.isoformat()}) == (
        ["BAD_USER_INPUT"], ["to"])
    assert await codes(service=to_global_id("Service", 999_999)) == (["NOT_FOUND"],
                                                                    ["serviceId"])
    assert await codes(service=to_global_id("Incident", 1)) == (["BAD_USER_INPUT"],
                                                               ["serviceId"])
    # 1,001 days is more than the 1,000 buckets a trend may have; as weeks it is fine.
    long = {"from": FROM.isoformat(), "to": (FROM + timedelta(days=1001)).isoformat()}
    assert await codes(**long) == (["BAD_USER_INPUT"], ["interval"])
    weekly = await api(QUERY, {**long, "interval": "WEEK"}, role=Role.VIEWER)
    assert len(weekly.ok()["metrics"]["trend"]) == 143
    exactly = {"from": FROM.isoformat(), "to": (FROM + timedelta(days=1000)).isoformat()}
    assert len((await api(QUERY, {**exactly, "interval": "DAY"}, role=Role.VIEWER)
                ).ok()["metrics"]["trend"]) == 1000
    assert (await api(QUERY, {"interval": "DAY"}, role=None)).codes == ["UNAUTHENTICATED"]
