"""SLA timers: how they follow an incident through its lifecycle, and how warnings and breaches
are emitted exactly once.

The incident service calls `start_timers`, `follow_status` and `retarget` inside its own
transaction. A RUNNING timer keeps the business seconds consumed before its current running
stretch (`consumed_seconds`) and when that stretch began (`running_since`), so pausing,
resuming and re-targeting never lose time. `emit_reached` is what the clock runs: it claims each
warning and breach with a conditional UPDATE before appending its event, so several clocks on one
database emit each once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from app import db
from app.events import service as events
from app.incidents.models import Incident, IncidentStatus, Service
from app.slas.calendar import BusinessCalendar, add_business_seconds, business_seconds_between
from app.slas.models import ACTIVE_STATES, SlaKind, SlaPolicy, SlaState, SlaTimer
from app.slas.policies import calendar_of, target_seconds, warn_seconds

log = logging.getLogger(__name__)

S = IncidentStatus
ALWAYS_OPEN = BusinessCalendar()
RESPONSE_STATUSES = frozenset({S.ACKNOWLEDGED, S.IN_PROGRESS, S.RESOLVED})

# ------------------------------------------------------------------ wake-ups

_listeners: list[Callable[[], None]] = []


def add_timers_listener(listener: Callable[[], None]) -> None:
    """Call `listener()` after each commit that changed a timer in this process (the clock)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_timers_listener(listener: Callable[[], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _timers_changed() -> None:
    tx = db.current_transaction()
    if tx.state.get("sla_timers_changed"):
        return
    tx.state["sla_timers_changed"] = True

    async def notify() -> None:
        for listener in list(_listeners):
            listener()

    tx.after_commit(notify)


# ------------------------------------------------------------------ calendars


class _Calendars:
    """Each policy's calendar, loaded once per operation."""

    def __init__(self) -> None:
        self._by_policy: dict[int | None, BusinessCalendar] = {None: ALWAYS_OPEN}

    async def of(self, policy_id: int | None) -> BusinessCalendar:
        if policy_id not in self._by_policy:
            policy = await SlaPolicy.get_or_none(id=policy_id)
            self._by_policy[policy_id] = calendar_of(policy) if policy else ALWAYS_OPEN
        return self._by_policy[policy_id]

    def add(self, policy: SlaPolicy) -> None:
        self._by_policy[policy.id] = calendar_of(policy)


def _schedule(timer: SlaTimer, cal: BusinessCalendar) -> None:
    """Due and warning instants of a RUNNING timer from its consumed time, and `next_at`."""
    assert timer.running_since is not None
    start = timer.running_since
    left = timer.target_seconds - timer.consumed_seconds
    warn_left = warn_seconds(timer.target_seconds, timer.warn_at_percent) - timer.consumed_seconds
    # Already past the mark (re-targeted below the time consumed): it is reached right now.
    timer.due_at = add_business_seconds(start, left, cal) if left > 0 else start
    timer.warn_at = add_business_seconds(start, warn_left, cal) if warn_left > 0 else start
    _set_next(timer)


def _set_next(timer: SlaTimer) -> None:
    if timer.state != SlaState.RUNNING:
        timer.next_at = None
    elif not timer.warned:
        timer.next_at = timer.warn_at
    elif not timer.breach_emitted:
        timer.next_at = timer.due_at
    else:
        timer.next_at = None


def _fold(timer: SlaTimer, now: datetime, cal: BusinessCalendar) -> None:
    """Add the current running stretch to `consumed_seconds`; the stretch restarts at `now`."""
    if timer.state == SlaState.RUNNING and timer.running_since is not None:
        timer.consumed_seconds += business_seconds_between(timer.running_since, now, cal)
        timer.running_since = now


def elapsed_seconds(timer: SlaTimer, now: datetime, cal: BusinessCalendar) -> float:
    if timer.state == SlaState.RUNNING and timer.running_since is not None:
        return timer.consumed_seconds + business_seconds_between(timer.running_since, now, cal)
    return timer.consumed_seconds


# ------------------------------------------------------------------ following the incident


async def start_timers(incident: Incident, *, now: datetime) -> list[SlaTimer]:
    """At creation: one timer per kind the service's policy has a target for at this priority.
    (A service that gains a policy later does not back-fill incidents that already exist.)"""
    if incident.service_id is None:
        return []
    service = await Service.get(id=incident.service_id)
    if service.sla_policy_id is None:
        return []
    policy = await SlaPolicy.get(id=service.sla_policy_id)
    cal = calendar_of(policy)
    made = []
    for kind in SlaKind:
        seconds = target_seconds(policy, incident.priority, kind)
        if seconds is None:
            continue
        timer = SlaTimer(
            incident_id=incident.id, policy_id=policy.id, kind=kind, state=SlaState.RUNNING,
            target_seconds=seconds, warn_at_percent=policy.warn_at_percent, started_at=now,
            consumed_seconds=0.0, running_since=now,
        )
        _schedule(timer, cal)
        await timer.save()
        made.append(timer)
    if made:
        _timers_changed()
    return made


async def _timers(incident: Incident) -> dict[SlaKind, SlaTimer]:
    await events.take_append_lock()  # lock order: event log, then timer rows (see events)
    rows = await SlaTimer.filter(incident_id=incident.id).select_for_update()
    return {SlaKind(t.kind): t for t in rows}


async def follow_status(
    incident: Incident, current: IncidentStatus, target: IncidentStatus, *, now: datetime
) -> None:
    """Let the incident's timers react to its move from `current` to `target`."""
    timers = await _timers(incident)
    if not timers:
        return
    cals = _Calendars()
    response, resolution = timers.get(SlaKind.RESPONSE), timers.get(SlaKind.RESOLUTION)
    changed: list[SlaTimer] = []
    if target == S.CANCELLED:
        for timer in timers.values():
            if timer.state in ACTIVE_STATES:
                await _end(timer, incident, SlaState.CANCELLED, now, cals)
                changed.append(timer)
    if response and current == S.NEW and target in RESPONSE_STATUSES:
        if response.state in ACTIVE_STATES:
            await _end(response, incident, None, now, cals)
            changed.append(response)
    if resolution:
        if target == S.RESOLVED and resolution.state in ACTIVE_STATES:
            await _end(resolution, incident, None, now, cals)
            changed.append(resolution)
        elif target == S.ON_HOLD and resolution.state == SlaState.RUNNING:
            await _pause(resolution, incident, now, cals)
            changed.append(resolution)
        elif target == S.IN_PROGRESS and (
            (current == S.ON_HOLD and resolution.state == SlaState.PAUSED)
            or (current == S.RESOLVED and resolution.state in (SlaState.MET, SlaState.BREACHED))
        ):
            await _resume(resolution, now, cals)
            changed.append(resolution)
    for timer in changed:
        await timer.save()
    if changed:
        _timers_changed()


async def retarget(incident: Incident, *, now: datetime) -> None:
    """After a priority change: running and paused timers take the new priority's target and
    keep the time already consumed; a kind the policy has no target for any more is cancelled."""
    timers = await _timers(incident)
    cals = _Calendars()
    changed = False
    for timer in timers.values():
        if timer.state not in ACTIVE_STATES:
            continue
        policy = await SlaPolicy.get_or_none(id=timer.policy_id) if timer.policy_id else None
        seconds = target_seconds(policy, incident.priority, SlaKind(timer.kind)) if policy \
            else None
        if seconds is None:
            await _end(timer, incident, SlaState.CANCELLED, now, cals)
        else:
            await _catch_up(timer, incident, now)
            cal = await cals.of(timer.policy_id)
            _fold(timer, now, cal)
            timer.target_seconds = seconds
            if timer.state == SlaState.RUNNING:
                _schedule(timer, cal)
        await timer.save()
        changed = True
    if changed:
        _timers_changed()


async def _end(timer: SlaTimer, incident: Incident, state: SlaState | None, now: datetime,
               cals: _Calendars) -> None:
    """Stop the timer: CANCELLED when told so, else MET or BREACHED by the time consumed."""
    await _catch_up(timer, incident, now)
    _fold(timer, now, await cals.of(timer.policy_id))
    if state is None:
        reached = timer.consumed_seconds >= timer.target_seconds
        if reached and timer.breached_at is None:
            timer.breached_at = timer.due_at or now
        state = SlaState.BREACHED if timer.breached_at is not None else SlaState.MET
    timer.state = state
    timer.stopped_at = now
    timer.running_since = None
    timer.next_at = None


async def _pause(timer: SlaTimer, incident: Incident, now: datetime, cals: _Calendars) -> None:
    await _catch_up(timer, incident, now)
    _fold(timer, now, await cals.of(timer.policy_id))
    timer.state = SlaState.PAUSED
    timer.paused_at = now
    timer.running_since = None
    timer.due_at = timer.warn_at = timer.next_at = None


async def _resume(timer: SlaTimer, now: datetime, cals: _Calendars) -> None:
    """Back to RUNNING (from ON_HOLD, or on reopen) with the due time pushed out."""
    timer.state = SlaState.RUNNING
    timer.running_since = now
    timer.paused_at = None
    timer.stopped_at = None
    _schedule(timer, await cals.of(timer.policy_id))


# ------------------------------------------------------------------ warnings and breaches


async def _catch_up(timer: SlaTimer, incident: Incident, now: datetime) -> None:
    """Emit what a running timer reached before `now` but no clock emitted yet."""
    if timer.state == SlaState.RUNNING and timer.next_at is not None and timer.next_at <= now:
        await _emit_reached(timer, incident, now)


async def _emit_reached(timer: SlaTimer, incident: Incident, now: datetime) -> int:
    """Claim and emit the warning and/or breach this RUNNING timer has reached by `now`.

    Each claim is `UPDATE … WHERE id = ? AND warned = false` (or breach_emitted): only the
    transaction that flips the marker appends the event. Returns the number emitted."""
    emitted = 0
    if not timer.warned and timer.warn_at is not None and timer.warn_at <= now:
        claimed = await SlaTimer.filter(
            id=timer.id, state=SlaState.RUNNING, warned=False, warn_at=timer.warn_at
        ).update(warned=True, next_at=None if timer.breach_emitted else timer.due_at)
        timer.warned = True
        if claimed:
            await events.append(
                "sla.warning", now=now, incident=incident,
                payload=_payload(timer, incident, warnAt=timer.warn_at.isoformat()),
            )
            emitted += 1
    if not timer.breach_emitted and timer.due_at is not None and timer.due_at <= now:
        claimed = await SlaTimer.filter(
            id=timer.id, state=SlaState.RUNNING, breach_emitted=False, due_at=timer.due_at
        ).update(breach_emitted=True, breached_at=timer.due_at, next_at=None)
        timer.breach_emitted = True
        timer.breached_at = timer.due_at
        if claimed:
            await events.append(
                "sla.breached", now=now, incident=incident,
                payload=_payload(timer, incident, breachedAt=timer.due_at.isoformat()),
            )
            emitted += 1
    _set_next(timer)
    return emitted


def _payload(timer: SlaTimer, incident: Incident, **extra: Any) -> dict[str, Any]:
    return {
        "reference": incident.reference,
        "kind": str(timer.kind),
        "targetSeconds": timer.target_seconds,
        "dueAt": timer.due_at.isoformat() if timer.due_at else None,
        **extra,
    }


async def next_instant() -> datetime | None:
    """The earliest warning or due instant of all running timers: one indexed row."""
    row = await (
        SlaTimer.filter(state=SlaState.RUNNING, next_at__not_isnull=True)
        .order_by("next_at").first().values_list("next_at", flat=True)
    )
    return cast("datetime | None", row)


async def emit_reached(now: datetime, *, batch: int = 200) -> int:
    """Emit every warning and breach reached by `now`; returns how many were emitted."""
    emitted = 0
    for _ in range(1_000_000):
        async with db.atomic():
            await events.take_append_lock()
            timers = await (
                SlaTimer.filter(state=SlaState.RUNNING, next_at__lte=now)
                .order_by("next_at").limit(batch)
            )
            if not timers:
                break
            ids = {t.incident_id for t in timers}
            incidents = {i.id: i for i in await Incident.filter(id__in=list(ids))}
            for timer in timers:
                emitted += await _emit_reached(timer, incidents[timer.incident_id], now)
        if len(timers) < batch:
            break
    return emitted


# ------------------------------------------------------------------ reading


@dataclass
class TimerView:
    """A timer as a reader sees it at `now`."""

    kind: SlaKind
    state: SlaState
    target_seconds: int
    due_at: datetime | None
    elapsed_seconds: int
    remaining_seconds: int
    breached_at: datetime | None


async def load_timers(incident_ids: Sequence[int]
                      ) -> dict[int, list[tuple[SlaTimer, BusinessCalendar]]]:
    """Each incident's timers (RESPONSE first) with their calendars: two queries whatever the
    number of incidents."""
    # Plain rows, not models: a page of 50 incidents reads 100 timers (see db.plain_rows).
    rows: list[Any] = await db.plain_rows(SlaTimer.filter(incident_id__in=list(incident_ids)))
    policies = await SlaPolicy.filter(
        id__in=list({t.policy_id for t in rows if t.policy_id is not None}))
    cals = _Calendars()
    for policy in policies:
        cals.add(policy)
    out: dict[int, list[tuple[SlaTimer, BusinessCalendar]]] = {i: [] for i in incident_ids}
    for t in sorted(rows, key=lambda t: (t.incident_id, t.kind != SlaKind.RESPONSE)):
        out.setdefault(t.incident_id, []).append((t, await cals.of(t.policy_id)))
    return out


def view(timer: SlaTimer, cal: BusinessCalendar, now: datetime) -> TimerView:
    elapsed = int(elapsed_seconds(timer, now, cal))
    breached_at = timer.breached_at
    if (breached_at is None and timer.state == SlaState.RUNNING and timer.due_at
            and timer.due_at <= now):
        breached_at = timer.due_at  # the clock has not caught up yet; the reader sees the truth
    return TimerView(
        kind=SlaKind(timer.kind), state=SlaState(timer.state), target_seconds=timer.target_seconds,
        due_at=timer.due_at if timer.state != SlaState.PAUSED else None,
        elapsed_seconds=elapsed, remaining_seconds=timer.target_seconds - elapsed,
        breached_at=breached_at,
    )
