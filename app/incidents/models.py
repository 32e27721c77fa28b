"""Services (what teams run) and incidents (what goes wrong with them), plus the per-kind
counters that give incidents their human numbers."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from app.db import optional_text

if TYPE_CHECKING:
    from app.auth.models import User
    from app.slas.models import SlaPolicy


class Impact(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Urgency(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class IncidentStatus(StrEnum):
    NEW = "NEW"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


class ServiceStatus(StrEnum):
    OPERATIONAL = "OPERATIONAL"
    DEGRADED = "DEGRADED"
    PARTIAL_OUTAGE = "PARTIAL_OUTAGE"
    MAJOR_OUTAGE = "MAJOR_OUTAGE"


class Counter(Model):
    """One row per kind of numbered thing ("incident", "problem"): the last number given."""

    kind = fields.CharField(max_length=32, primary_key=True)
    value = fields.BigIntField(default=0)

    class Meta:
        table = "counters"


class Service(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    description = optional_text()
    public = fields.BooleanField(default=True)
    sla_policy: fields.ForeignKeyNullableRelation[SlaPolicy] = fields.ForeignKeyField(
        "models.SlaPolicy", related_name="services", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    sla_policy_id: int | None

    class Meta:
        table = "services"


class Incident(Model):
    id = fields.IntField(primary_key=True)
    number = fields.IntField(unique=True)
    title = fields.CharField(max_length=200)
    description = optional_text()
    status = fields.CharEnumField(IncidentStatus, max_length=16, default=IncidentStatus.NEW)
    impact = fields.CharEnumField(Impact, max_length=8)
    urgency = fields.CharEnumField(Urgency, max_length=8)
    priority = fields.CharEnumField(Priority, max_length=2)
    service: fields.ForeignKeyNullableRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="incidents", null=True, on_delete=fields.SET_NULL
    )
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="assigned_incidents", null=True, on_delete=fields.SET_NULL
    )
    resolution = optional_text()
    public = fields.BooleanField(default=False)
    public_title = fields.CharField(max_length=200, null=True)
    started_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    acknowledged_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    service_id: int | None
    assignee_id: int | None

    class Meta:
        table = "incidents"
        indexes = (
            ("created_at", "id"),
            ("updated_at", "id"),
            ("priority", "id"),
            ("status", "service_id"),
            ("service_id", "created_at"),  # metrics of one service over a range
        )

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"
