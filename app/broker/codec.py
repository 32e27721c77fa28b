"""Events on the wire between processes: compact JSON with every column a listener needs to
filter and render without reading the row back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from app.events.models import Event

FIELDS = ("type", "actor_id", "incident_id", "service_id", "priority", "from_status",
          "to_status", "note", "public", "payload")


def encode(event: Event) -> bytes:
    body: dict[str, Any] = {name: getattr(event, name) for name in FIELDS}
    body["id"] = event.id
    body["occurred_at"] = event.occurred_at.isoformat()
    return orjson.dumps(body)


def encode_sequence(sequence: int) -> bytes:
    return orjson.dumps({"id": sequence})


def decode(raw: bytes | str) -> tuple[int, Event | None]:
    """(sequence, event); the event is None for a sequence-only notice."""
    body = orjson.loads(raw)
    sequence = int(body["id"])
    if "type" not in body:
        return sequence, None
    occurred_at = datetime.fromisoformat(body.pop("occurred_at"))
    event = Event(occurred_at=occurred_at, **body)
    # tortoise leaves a foreign key's id attribute unset when it is None
    event.actor_id = body.get("actor_id")
    event.incident_id = body.get("incident_id")
    return sequence, event
