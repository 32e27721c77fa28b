"""The event log: one row per thing that happened. Its id is the public `sequence`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from app.db import optional_text

if TYPE_CHECKING:
    from app.auth.models import User
    from app.incidents.models import Incident
    from app.problems.models import Problem


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    type = fields.CharField(max_length=64, db_index=True)
    occurred_at = fields.DatetimeField()
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    incident: fields.ForeignKeyNullableRelation[Incident] = fields.ForeignKeyField(
        "models.Incident", related_name="events", null=True, on_delete=fields.CASCADE
    )
    problem: fields.ForeignKeyNullableRelation[Problem] = fields.ForeignKeyField(
        "models.Problem", related_name="events", null=True, on_delete=fields.CASCADE
    )
    # Denormalised at append time so subscription filters need no join.
    service_id = fields.IntField(null=True)
    priority = fields.CharField(max_length=2, null=True)
    from_status = fields.CharField(max_length=32, null=True)
    to_status = fields.CharField(max_length=32, null=True)
    note = optional_text()
    public = fields.BooleanField(default=False)
    payload: dict[str, Any] = fields.JSONField(default=dict)  # type: ignore[assignment]
    # The X-Request-ID of the request that appended it (None for the CLI, clocks, workers).
    request_id = fields.CharField(max_length=128, null=True)

    actor_id: int | None
    incident_id: int | None
    problem_id: int | None

    class Meta:
        table = "events"
        indexes = (("incident_id", "id"),)

    @property
    def sequence(self) -> str:
        return str(self.id)
