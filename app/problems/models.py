"""Problems (the root causes behind incidents) and the links that attach incidents to them.
An incident belongs to at most one problem: `problem_incidents.incident_id` is unique."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from app.db import optional_text
from app.incidents.models import Incident, Service


class ProblemStatus(StrEnum):
    NEW = "NEW"
    INVESTIGATING = "INVESTIGATING"
    KNOWN_ERROR = "KNOWN_ERROR"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"


class Problem(Model):
    id = fields.IntField(primary_key=True)
    number = fields.IntField(unique=True)
    title = fields.CharField(max_length=200)
    description = optional_text()
    status = fields.CharEnumField(ProblemStatus, max_length=16, default=ProblemStatus.NEW)
    root_cause = optional_text()
    workaround = optional_text()
    resolution = optional_text()
    service: fields.ForeignKeyNullableRelation[Service] = fields.ForeignKeyField(
        "models.Service", related_name="problems", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    service_id: int | None

    class Meta:
        table = "problems"
        indexes = (("created_at", "id"), ("status", "service_id"))

    @property
    def reference(self) -> str:
        return f"PRB-{self.number}"


class ProblemIncident(Model):
    """The link of one incident to its problem. The unique incident_id keeps it to one."""

    id = fields.IntField(primary_key=True)
    problem: fields.ForeignKeyRelation[Problem] = fields.ForeignKeyField(
        "models.Problem", related_name="links", on_delete=fields.CASCADE
    )
    incident: fields.OneToOneRelation[Incident] = fields.OneToOneField(
        "models.Incident", related_name="problem_link", on_delete=fields.CASCADE
    )
    linked_at = fields.DatetimeField()

    problem_id: int
    incident_id: int

    class Meta:
        table = "problem_incidents"
        indexes = (("problem_id", "incident_id"),)
