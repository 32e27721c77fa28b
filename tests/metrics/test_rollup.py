"""The daily roll-up behind `metrics` (kept by triggers) against figures computed in Python
from the incidents and timers themselves, after a seeded random walk of changes through the
services (create, acknowledge, re-prioritise, move service, hold, resolve, reopen, close,
cancel, resolve a problem with its incidents) over several days, then raw deletes; and
`metrics` over ranges whose ends fall inside days (roll-up for the whole days, the source
rows for the partial ones), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import importlib
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import db
from app.auth.models import Role
from app.errors import DomainError
from app.graphql.ids import to_global_id
from app.incidents import rules
from app.incidents import service as incidents
from app.incidents.models import Impact, Incident, IncidentStatus, Urgency
from app.problems import service as problems
from app.slas.models import SlaTimer

START = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
FIGURES = "incidentCount openCount mttaSeconds mttrSeconds mttdSeconds slaCompliancePercent"
QUERY = (
    "query($from: DateTime, $to: DateTime, $service: ID) {"
    " metrics(from: $from, to: $to, serviceId: $service) {"
    f" {FIGURES} byPriority {{ priority {FIGURES} }}"
    f" byService {{ service {{ name }} {FIGURES} }}"
    " trend(interval: DAY) { start incidentCount openCount mttaSeconds mttrSeconds"
    " mttdSeconds } } }")


@pytest.fixture
async def walked(covered, manager, users, clock):
    """~60 incidents on two services and none, changed at random over five days."""
    responder = users[Role.RESPONDER][0]
    other = await incidents.create_service(name="Search", description=None, public=True,
                                           actor=manager, now=clock.now())
    services = [covered.id, covered.id, covered.id, other.id, None]
    rng = random.Random(7)
    clock.set(START)
    made: list[int] = []
    for _ in range(400):
        clock.set(clock.now() + timedelta(seconds=rng.uniform(60, 1800)))
        now = clock.now()
        step = rng.random()
        try:
            if step < 0.15 or not made:
                incident = await incidents.create_incident(incidents.NewIncident(
                    title="Checkout slow", impact=rng.choice(list(Impact)),
                    urgency=rng.choice(list(Urgency)), service_id=rng.choice(services),
                    started_at=now - timedelta(seconds=rng.choice((0, 300, 4000)))),
                    actor=responder, now=now)
                made.append(incident.id)
                continue
            target = rng.choice(made)
            if step < 0.25:
                await incidents.update_incident(target, {
                    "impact": rng.choice(list(Impact)), "urgency": rng.choice(list(Urgency))},
                    actor=responder, now=now)
            elif step < 0.32:
                await incidents.update_incident(
                    target, {"service_id": rng.choice(services)}, actor=responder, now=now)
            elif step < 0.92:
                current = (await Incident.get(id=target)).status
                allowed = [s for s in IncidentStatus if rules.can_move(current, s)]
                if rng.random() < 0.1 or not allowed:  # now and then a refused move
                    allowed = list(IncidentStatus)
                await incidents.change_status(
                    target, rng.choice(allowed), actor=responder, now=now, resolution="fixed")
            elif len(made) >= 3:
                problem = await problems.create_problem(problems.NewProblem(
                    title="Recurring slowness", incident_ids=rng.sample(made, 3)),
                    actor=manager, now=now)
                await problems.update_problem(problem.id, {"status": "INVESTIGATING"},
                                              actor=manager, now=now)
                await problems.resolve_problem(problem.id, "tuned", actor=manager, now=now,
                                               resolve_linked_incidents=True)
        except DomainError:
            pass  # a move the lifecycle refuses, an incident already in a problem: no change
    return {"covered": covered, "other": other}


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    return (later - earlier).total_seconds() if later and earlier else None


async def _expected_days() -> dict[tuple[str, str, int], dict[str, float]]:
    """Per (UTC day, priority, service or 0) sums, computed here from the source rows."""
    days: dict[tuple[str, str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_id = {}
    for i in await Incident.all():
        by_id[i.id] = i
        row = days[(i.created_at.astimezone(UTC).date().isoformat(), str(i.priority),
                    i.service_id or 0)]
        row["n"] += 1
        row["open_n"] += i.status in rules.OPEN_STATUSES
        for name, value in (("ack", _seconds(i.acknowledged_at, i.created_at)),
                            ("res", _seconds(i.resolved_at, i.created_at))):
            if value is not None:
                row[f"{name}_sum"] += value
                row[f"{name}_n"] += 1
        row["detect_sum"] += _seconds(i.created_at, i.started_at) or 0
    for t in await SlaTimer.filter(state__in=["MET", "BREACHED"]):
        owner = by_id[t.incident_id]
        row = days[(t.stopped_at.astimezone(UTC).date().isoformat(), str(owner.priority),
                    owner.service_id or 0)]
        row["met"] += t.state == "MET"
        row["ended"] += 1
    return {k: dict(v) for k, v in days.items()}


async def _stored_days() -> dict[tuple[str, str, int], dict[str, float]]:
    rows = await db.connection().execute_query_dict("SELECT * FROM incident_day_stats")
    stored = {}
    for row in rows:
        sums = {k: float(v) for k, v in row.items()
                if k not in ("day", "priority", "service_key") and v}
        if any(abs(v) > 1e-6 for v in sums.values()):  # a group emptied by changes is 0s
            stored[(str(row["day"]), row["priority"], row["service_key"])] = sums
    return stored


def _assert_same(stored: dict, expected: dict) -> None:
    assert stored.keys() == expected.keys()
    for key, sums in expected.items():
        got = {k: v for k, v in stored[key].items() if abs(v) > 1e-6}
        # SQLite's date functions work to the millisecond: up to 1 ms per summed incident.
        assert got == pytest.approx({k: v for k, v in sums.items() if v},
                                    abs=1e-3 * max(1, sums.get("n", 0))), key


async def test_rollup_follows_every_change(walked):
    expected = await _expected_days()
    assert len({k[0] for k in expected}) >= 4  # the walk spans several days
    assert sum(v.get("ended", 0) for v in expected.values()) >= 10  # and ended timers
    _assert_same(await _stored_days(), expected)


async def test_rollup_follows_raw_deletes(walked):
    """Deleting a service (its incidents keep no service) and an incident with ended timers
    (they go with it) outside the services still leaves the roll-up right."""
    conn = db.connection()
    timer = await SlaTimer.filter(state__in=["MET", "BREACHED"]).first()
    assert timer is not None
    await conn.execute_query(f"DELETE FROM incidents WHERE id = {timer.incident_id}")
    assert not await SlaTimer.filter(id=timer.id).exists()  # cascaded
    await conn.execute_query(f"DELETE FROM services WHERE id = {walked['other'].id}")
    assert not await Incident.filter(service_id=walked["other"].id).exists()
    _assert_same(await _stored_days(), await _expected_days())


def _figures(chosen: list[Incident], ended: list[tuple[SlaTimer, Incident]]) -> dict[str, Any]:
    def mean(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    met = sum(t.state == "MET" for t, _ in ended)
    return {
        "incidentCount": len(chosen),
        "openCount": sum(i.status in rules.OPEN_STATUSES for i in chosen),
        "mttaSeconds": mean([_seconds(i.acknowledged_at, i.created_at) for i in chosen]),
        "mttrSeconds": mean([_seconds(i.resolved_at, i.created_at) for i in chosen]),
        "mttdSeconds": mean([_seconds(i.created_at, i.started_at) for i in chosen]),
        "slaCompliancePercent": 100 * met / len(ended) if ended else None,
    }


def _approx(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v if v is None or k.endswith("Count") else pytest.approx(v, abs=1e-3)
            for k, v in figures.items()}


def _pick(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in FIGURES.split()}


RANGES = [
    (None, None),
    (START + timedelta(hours=5), START + timedelta(days=3, hours=2)),  # both ends mid-day
    (START + timedelta(hours=20), None),
    (None, START + timedelta(days=2, hours=9, minutes=17)),
    (START + timedelta(days=1, hours=1), START + timedelta(days=1, hours=9)),  # inside a day
    (datetime(2026, 3, 3, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)),  # whole days only
]


@pytest.mark.parametrize("start,end", RANGES)
async def test_ranges_with_partial_days(api, walked, start, end):
    def inside(at: datetime) -> bool:
        return (start is None or at >= start) and (end is None or at < end)

    every = await Incident.all()
    owners = {i.id: i for i in every}
    timers = [(t, owners[t.incident_id]) for t in await SlaTimer.filter(
        state__in=["MET", "BREACHED"]) if inside(t.stopped_at)]
    chosen = [i for i in every if inside(i.created_at)]
    assert chosen
    for service in (None, walked["covered"]):
        variables = {"from": start and start.isoformat(), "to": end and end.isoformat(),
                     "service": service and to_global_id("Service", service.id)}
        m = (await api(QUERY, variables, role=Role.VIEWER)).ok()["metrics"]
        mine = [i for i in chosen if service is None or i.service_id == service.id]
        ended = [(t, i) for t, i in timers if service is None or i.service_id == service.id]
        assert _pick(m) == _approx(_figures(mine, ended))
        for row in m["byPriority"]:
            assert _pick(row) == _approx(_figures(
                [i for i in mine if i.priority == row["priority"]],
                [(t, i) for t, i in ended if i.priority == row["priority"]])), row["priority"]
        for row in m["byService"]:
            name = row["service"] and row["service"]["name"]
            of = [i for i in mine if _service_name(i, walked) == name]
            assert _pick(row) == _approx(_figures(
                of, [(t, i) for t, i in ended if _service_name(i, walked) == name])), name
        for bucket in m["trend"]:
            day = datetime.fromisoformat(bucket["start"])
            of = [i for i in mine if day <= i.created_at < day + timedelta(days=1)]
            want = _figures(of, [])
            del want["slaCompliancePercent"]
            assert {k: bucket[k] for k in want} == _approx(want), bucket["start"]


def _service_name(incident: Incident, walked: dict[str, Any]) -> str | None:
    if incident.service_id is None:
        return None
    return next(s.name for s in (walked["covered"], walked["other"])
                if s.id == incident.service_id)


async def test_rollup_under_concurrent_writes(covered, manager, users, clock):
    """Writers racing on the same incidents and the same roll-up rows (same day, priority
    and service) all finish (no deadlock: the triggers take the event lock first on
    PostgreSQL) and leave the roll-up equal to the source rows."""
    responder = users[Role.RESPONDER][0]
    clock.set(START)
    made = [await incidents.create_incident(incidents.NewIncident(
        title="Race", impact=Impact.HIGH, urgency=Urgency.MEDIUM, service_id=covered.id),
        actor=responder, now=START) for _ in range(6)]

    async def work(k: int) -> None:
        rng = random.Random(k)
        for step in range(12):
            now = START + timedelta(minutes=k + step)
            incident = rng.choice(made)
            try:
                if step % 3 == 0:
                    await incidents.update_incident(incident.id, {
                        "impact": rng.choice(list(Impact))}, actor=responder, now=now)
                else:
                    await incidents.change_status(
                        incident.id, rng.choice([IncidentStatus.ACKNOWLEDGED,
                                                 IncidentStatus.RESOLVED,
                                                 IncidentStatus.IN_PROGRESS]),
                        actor=responder, now=now, resolution="done")
            except DomainError:
                pass

    async def resolve_together(k: int) -> None:
        now = START + timedelta(minutes=30 + k)
        problem = await problems.create_problem(problems.NewProblem(
            title=f"Cause {k}", incident_ids=[made[k].id]), actor=manager, now=now)
        await problems.update_problem(problem.id, {"status": "INVESTIGATING"},
                                      actor=manager, now=now)
        await problems.resolve_problem(problem.id, "fixed", actor=manager, now=now,
                                       resolve_linked_incidents=True)

    await asyncio.gather(*[work(k) for k in range(8)], resolve_together(0),
                         resolve_together(1))
    assert sum(v.get("ended", 0) for v in (await _expected_days()).values()) >= 2
    _assert_same(await _stored_days(), await _expected_days())


async def test_migration_fills_the_rollup_from_existing_rows(walked):
    """The migration's back-fill (what an upgraded database runs once) gives the same
    roll-up as the triggers did."""
    migration = importlib.import_module("app.migrations.0010_incident_day_stats")
    conn = db.connection()
    await conn.execute_script("DELETE FROM incident_day_stats")
    assert await _stored_days() == {}
    for statement in (migration.POSTGRES_BACKFILL if db.is_postgres()
                      else migration.SQLITE_BACKFILL):
        await conn.execute_script(statement)
    _assert_same(await _stored_days(), await _expected_days())
