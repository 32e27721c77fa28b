"""SLA policies: validating, creating and updating them, turning one into a BusinessCalendar,
and previewing the due times a new incident would get under it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tortoise.exceptions import IntegrityError

from app import db
from app.auth.models import User
from app.errors import BadUserInput, Conflict, NotFound
from app.incidents.models import Priority
from app.slas.calendar import BusinessCalendar, Range, add_business_seconds, parse_clock_time
from app.slas.models import SlaKind, SlaPolicy

NAME_MAX = 200
MAX_TARGET_SECONDS = 10 * 366 * 24 * 3600  # ten years: anything longer is a typo


@dataclass
class WorkingHours:
    weekday: int  # 1 = Monday … 7 = Sunday
    start: str  # "09:00"
    end: str  # "17:30" or "24:00"


@dataclass
class Target:
    priority: Priority
    kind: SlaKind
    seconds: int


@dataclass
class PolicyInput:
    """A whole policy (create) or the given parts of one (update: None = unchanged)."""

    name: str | None = None
    timezone: str | None = None
    working_hours: list[WorkingHours] | None = None
    holidays: list[str] | None = None
    warn_at_percent: int | None = None
    targets: list[Target] | None = None


# ------------------------------------------------------------------ validation


def _name(value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise BadUserInput("name must not be empty", field="name")
    if len(text) > NAME_MAX:
        raise BadUserInput(f"name must be at most {NAME_MAX} characters", field="name")
    return text


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise BadUserInput(f"unknown timezone {value!r} (use an IANA name such as "
                           "'Europe/Berlin')", field="timezone") from None
    return value


def _minutes(text: str, field: str) -> int:
    try:
        parsed = parse_clock_time(text)
    except ValueError:
        raise BadUserInput(f"{field} must be a time like '09:00'", field=field) from None
    return 24 * 60 if parsed is None else parsed.hour * 60 + parsed.minute


def _working_hours(ranges: list[WorkingHours]) -> list[dict[str, Any]]:
    by_day: dict[int, list[tuple[int, int, int]]] = {}
    for i, r in enumerate(ranges):
        where = f"workingHours[{i}]"
        if not 1 <= r.weekday <= 7:
            raise BadUserInput("weekday must be 1 (Monday) to 7 (Sunday)",
                               field=f"{where}.weekday")
        start = _minutes(r.start, f"{where}.start")
        end = _minutes(r.end, f"{where}.end")
        if start >= 24 * 60:
            raise BadUserInput("start must be before 24:00", field=f"{where}.start")
        if end <= start:
            raise BadUserInput("end must be after start", field=f"{where}.end")
        by_day.setdefault(r.weekday, []).append((start, end, i))
    for spans in by_day.values():
        spans.sort()
        for (_, prev_end, _), (start, _, i) in pairwise(spans):
            if start < prev_end:
                raise BadUserInput("working hours overlap another range on the same weekday",
                                   field=f"workingHours[{i}]")
    return [{"weekday": r.weekday, "start": r.start, "end": r.end}
            for r in sorted(ranges, key=lambda r: (r.weekday, r.start))]


def _holidays(values: list[str]) -> list[str]:
    days = set()
    for i, text in enumerate(values):
        try:
            days.add(date.fromisoformat(text.strip()))
        except ValueError:
            raise BadUserInput("holidays must be ISO dates like '2026-12-25'",
                               field=f"holidays[{i}]") from None
    return [d.isoformat() for d in sorted(days)]


def _warn_at(value: int) -> int:
    if not 1 <= value <= 99:
        raise BadUserInput("warnAtPercent must be between 1 and 99", field="warnAtPercent")
    return value


def _targets(targets: list[Target]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for i, t in enumerate(targets):
        if t.seconds <= 0:
            raise BadUserInput("seconds must be a positive number",
                               field=f"targets[{i}].seconds")
        if t.seconds > MAX_TARGET_SECONDS:
            raise BadUserInput("seconds must be at most ten years",
                               field=f"targets[{i}].seconds")
        key = (str(t.priority), str(t.kind))
        if key in seen:
            raise BadUserInput(f"a {t.kind} target for {t.priority} is given twice",
                               field=f"targets[{i}]")
        seen.add(key)
        out.append({"priority": str(t.priority), "kind": str(t.kind), "seconds": t.seconds})
    return out


def _cleaned(data: PolicyInput) -> dict[str, Any]:
    """Validated column values for the parts of the policy that were given."""
    clean: dict[str, Any] = {}
    if data.name is not None:
        clean["name"] = _name(data.name)
    if data.timezone is not None:
        clean["timezone"] = _timezone(data.timezone)
    if data.working_hours is not None:
        clean["working_hours"] = _working_hours(data.working_hours)
    if data.holidays is not None:
        clean["holidays"] = _holidays(data.holidays)
    if data.warn_at_percent is not None:
        clean["warn_at_percent"] = _warn_at(data.warn_at_percent)
    if data.targets is not None:
        clean["targets"] = _targets(data.targets)
    return clean


# ------------------------------------------------------------------ changes


async def create_policy(data: PolicyInput, *, actor: User, now: datetime) -> SlaPolicy:
    if data.name is None:
        raise BadUserInput("name must not be empty", field="name")
    if data.timezone is None:
        raise BadUserInput("timezone is required", field="timezone")
    clean = _cleaned(data)
    clean.setdefault("working_hours", [])
    clean.setdefault("holidays", [])
    clean.setdefault("warn_at_percent", 75)
    clean.setdefault("targets", [])
    async with db.atomic():
        if await SlaPolicy.filter(name=clean["name"]).exists():
            raise Conflict(f"an SLA policy named {clean['name']!r} exists", field="name")
        try:
            return await SlaPolicy.create(**clean, created_at=now, updated_at=now)
        except IntegrityError as exc:
            raise Conflict(f"an SLA policy named {clean['name']!r} exists",
                           field="name") from exc


async def update_policy(policy_id: int, data: PolicyInput, *, actor: User, now: datetime
                        ) -> SlaPolicy:
    """Change a policy. Timers already running keep the due times they were given; incidents
    created from now on use the new rules."""
    clean = _cleaned(data)
    async with db.atomic():
        policy = await SlaPolicy.filter(id=policy_id).select_for_update().first()
        if policy is None:
            raise NotFound("no SLA policy with this id", field="id")
        if "name" in clean and await SlaPolicy.filter(name=clean["name"]).exclude(
                id=policy_id).exists():
            raise Conflict(f"an SLA policy named {clean['name']!r} exists", field="name")
        for column, value in clean.items():
            setattr(policy, column, value)
        policy.updated_at = now
        await policy.save()
        return policy


async def existing_policy(policy_id: int | None, field: str = "slaPolicyId"
                          ) -> SlaPolicy | None:
    if policy_id is None:
        return None
    policy = await SlaPolicy.get_or_none(id=policy_id)
    if policy is None:
        raise NotFound(f"no SLA policy with this id ({field})", field=field)
    return policy


async def list_policies() -> list[SlaPolicy]:
    return await SlaPolicy.all().order_by("name")


# ------------------------------------------------------------------ reading


def calendar_of(policy: SlaPolicy) -> BusinessCalendar:
    hours: dict[int, list[Range]] = {}
    for r in policy.working_hours:
        end = parse_clock_time(r["end"])
        start = parse_clock_time(r["start"]) or time(0)
        hours.setdefault(int(r["weekday"]), []).append((start, end))
    return BusinessCalendar(
        timezone=policy.timezone,
        hours=hours,
        holidays=frozenset(date.fromisoformat(d) for d in policy.holidays),
    )


def target_seconds(policy: SlaPolicy, priority: Priority | str, kind: SlaKind) -> int | None:
    for t in policy.targets:
        if t["priority"] == str(priority) and t["kind"] == str(kind):
            return int(t["seconds"])
    return None


def warn_seconds(target: int, percent: int) -> int:
    return math.ceil(target * percent / 100)


@dataclass
class PreviewTarget:
    kind: SlaKind
    seconds: int
    due_at: datetime
    warn_at: datetime


async def preview(policy_id: int, priority: Priority, start: datetime) -> list[PreviewTarget]:
    """The due and warning times an incident of `priority` created at `start` would get."""
    policy = await existing_policy(policy_id, "policyId")
    assert policy is not None
    cal = calendar_of(policy)
    out = []
    for kind in SlaKind:
        seconds = target_seconds(policy, priority, kind)
        if seconds is None:
            continue
        out.append(PreviewTarget(
            kind=kind,
            seconds=seconds,
            due_at=add_business_seconds(start, seconds, cal),
            warn_at=add_business_seconds(
                start, warn_seconds(seconds, policy.warn_at_percent), cal),
        ))
    return out
