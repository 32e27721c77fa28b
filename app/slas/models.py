"""SLA policies (targets per priority under a business calendar) and the timers that run them
against each incident. The clock finds work through one indexed column, `next_at`: the next
instant a RUNNING timer needs attention (its warning, then its due time), NULL otherwise."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from app.incidents.models import Incident


class SlaKind(StrEnum):
    RESPONSE = "RESPONSE"
    RESOLUTION = "RESOLUTION"


class SlaState(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    MET = "MET"
    BREACHED = "BREACHED"
    CANCELLED = "CANCELLED"


ACTIVE_STATES = (SlaState.RUNNING, SlaState.PAUSED)


class SlaPolicy(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    timezone = fields.CharField(max_length=64)
    # [{"weekday": 1, "start": "09:00", "end": "17:00"}, …]; empty = 24x7
    working_hours: list[dict[str, Any]] = fields.JSONField(default=list)  # type: ignore[assignment]
    holidays: list[str] = fields.JSONField(default=list)  # type: ignore[assignment]  # ISO dates
    warn_at_percent = fields.IntField(default=75)
    # [{"priority": "P1", "kind": "RESPONSE", "seconds": 900}, …]
    targets: list[dict[str, Any]] = fields.JSONField(default=list)  # type: ignore[assignment]
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "sla_policies"


class SlaTimer(Model):
    id = fields.IntField(primary_key=True)
    incident: fields.ForeignKeyRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="sla_timers", on_delete=fields.CASCADE
    )
    policy: fields.ForeignKeyNullableRelation[SlaPolicy] = fields.ForeignKeyField(
        "models.SlaPolicy", related_name="timers", null=True, on_delete=fields.SET_NULL
    )
    kind = fields.CharEnumField(SlaKind, max_length=16)
    state = fields.CharEnumField(SlaState, max_length=16, default=SlaState.RUNNING)
    target_seconds = fields.IntField()
    warn_at_percent = fields.IntField(default=75)
    started_at = fields.DatetimeField()
    # Business seconds consumed before the current running stretch began at `running_since`.
    consumed_seconds = fields.FloatField(default=0)
    running_since = fields.DatetimeField(null=True)
    due_at = fields.DatetimeField(null=True)  # NULL while paused
    warn_at = fields.DatetimeField(null=True)
    next_at = fields.DatetimeField(null=True)
    paused_at = fields.DatetimeField(null=True)
    stopped_at = fields.DatetimeField(null=True)
    breached_at = fields.DatetimeField(null=True)
    warned = fields.BooleanField(default=False)
    breach_emitted = fields.BooleanField(default=False)

    incident_id: int
    policy_id: int | None

    class Meta:
        table = "sla_timers"
        unique_together = (("incident_id", "kind"),)
        # (state, stopped_at, incident_id) covers the metrics SLA query: no row lookups.
        indexes = (("state", "next_at"), ("state", "stopped_at", "incident_id"))
