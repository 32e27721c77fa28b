"""What a delivery says: the subject, text and HTML the host renders from the event and its
incident, optionally through a rule's Jinja2 templates (sandboxed: a template can read the
context it is given and nothing else)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from app.errors import BadUserInput
from app.notifications.sdk import IncidentSummary, Message

TEMPLATE_MAX = 10_000
_env = SandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True)

EVENT_WORDS = {
    "incident.created": "opened",
    "incident.acknowledged": "acknowledged",
    "incident.status_changed": "changed status",
    "incident.resolved": "resolved",
    "incident.closed": "closed",
    "incident.reopened": "reopened",
    "incident.updated": "updated",
    "incident.note_added": "has a new note",
    "sla.warning": "is close to breaching its SLA",
    "sla.breached": "breached its SLA",
}

SERVICE_EVENT_WORDS = {"service.created": "created", "service.updated": "updated"}


@dataclass(frozen=True)
class EventFacts:
    """What the message needs from an event and its incident, loaded once per batch."""

    event_id: int | None
    event_type: str
    occurred_at: datetime | None
    note: str | None
    from_status: str | None
    to_status: str | None
    payload: dict[str, Any]
    incident_id: int | None = None
    incident: IncidentSummary | None = None


@lru_cache(maxsize=256)
def _compile(source: str) -> Any:
    return _env.from_string(source)


def check_template(source: str | None, field: str) -> str | None:
    """Refuse a template that does not parse or fails on a sample event."""
    if source is None or not source.strip():
        return None
    if len(source) > TEMPLATE_MAX:
        raise BadUserInput(f"{field} must be at most {TEMPLATE_MAX} characters", field=field)
    try:
        template = _compile(source)
        template.render(**_sample_context())
    except TemplateError as exc:  # syntax errors and sandbox refusals alike
        raise BadUserInput(f"{field} is not a usable template: {exc}", field=field) from None
    except Exception as exc:
        raise BadUserInput(f"{field} fails when rendered: {exc}", field=field) from None
    return source


def _sample_context() -> dict[str, Any]:
    facts = EventFacts(
        event_id=1, event_type="incident.created", occurred_at=None, note="note",
        from_status=None, to_status="NEW", payload={},
        incident=IncidentSummary("INC-1", "Sample", "NEW", "P3", "Checkout"),
    )
    return context_for(facts, default_subject="subject", default_text="text")


def context_for(facts: EventFacts, *, default_subject: str, default_text: str) -> dict[str, Any]:
    incident = facts.incident
    return {
        "event": {
            "type": facts.event_type,
            "sequence": str(facts.event_id) if facts.event_id is not None else None,
            "occurred_at": facts.occurred_at.isoformat() if facts.occurred_at else None,
            "note": facts.note,
            "from_status": facts.from_status,
            "to_status": facts.to_status,
            "payload": facts.payload,
        },
        "incident": None if incident is None else {
            "reference": incident.reference, "title": incident.title,
            "status": incident.status, "priority": incident.priority,
            "service": incident.service, "url": incident.url,
        },
        "default_subject": default_subject,
        "default_text": default_text,
    }


def default_subject(facts: EventFacts) -> str:
    incident = facts.incident
    if facts.event_type == "test":
        return "Tocsin test message"
    if facts.event_type == "delivery.dead":
        channel = facts.payload.get("channel", "?")
        return f"A notification through {channel!r} could not be delivered"
    if facts.event_type in SERVICE_EVENT_WORDS:
        name = facts.payload.get("name", "?")
        changed = ", ".join(facts.payload.get("changes", {}))
        word = SERVICE_EVENT_WORDS[facts.event_type]
        return f"Service {name!r} {word}" + (f": {changed}" if changed else "")
    if incident is None:
        return f"Tocsin: {facts.event_type}"
    word = EVENT_WORDS.get(facts.event_type, facts.event_type)
    return f"[{incident.priority}] {incident.reference} {word}: {incident.title}"


def default_text(facts: EventFacts) -> str:
    lines: list[str] = []
    incident = facts.incident
    if facts.event_type == "test":
        lines.append("This is a test message from Tocsin: the channel works.")
    if incident is not None:
        lines.append(f"{incident.reference}: {incident.title}")
        lines.append(f"Status: {incident.status}   Priority: {incident.priority}")
        if incident.service:
            lines.append(f"Service: {incident.service}")
    if facts.from_status and facts.to_status:
        lines.append(f"Moved from {facts.from_status} to {facts.to_status}")
    if facts.note:
        lines.append("")
        lines.append(facts.note)
    if facts.event_type == "delivery.dead":
        p = facts.payload
        lines.append(f"Channel: {p.get('channel')}   Recipient: {p.get('recipient') or '-'}")
        lines.append(f"Event: {p.get('eventType')}   Attempts: {p.get('attempts')}")
        lines.append(f"Last error: {p.get('error')}")
    if facts.event_type in SERVICE_EVENT_WORDS:
        # A service event has no incident: its payload says what the service is now and
        # what changed.
        p = facts.payload
        lines.append(f"Service: {p.get('name')}   Public: {'yes' if p.get('public') else 'no'}")
        for field_name, change in p.get("changes", {}).items():
            lines.append(f"{field_name}: {_shown(change.get('from'))} -> "
                         f"{_shown(change.get('to'))}")
    if facts.event_id is not None:
        lines.append("")
        lines.append(f"Event {facts.event_type} #{facts.event_id}")
    return "\n".join(lines)


def _shown(value: Any, limit: int = 200) -> str:
    """A changed value as the message quotes it: a long description is cut (the event's
    payload keeps it whole)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_message(
    facts: EventFacts,
    *,
    delivery_id: int,
    recipient: str,
    subject_template: str | None = None,
    body_template: str | None = None,
) -> Message:
    subject = default_subject(facts)
    text = default_text(facts)
    if subject_template or body_template:
        context = context_for(facts, default_subject=subject, default_text=text)
        if subject_template:
            subject = _compile(subject_template).render(**context).strip() or subject
        if body_template:
            text = _compile(body_template).render(**context)
    subject = " ".join(subject.split())  # one line, whatever a template produced
    thread_key = None
    if facts.incident_id is not None:
        thread_key = f"tocsin-incident-{facts.incident_id}"
    return Message(
        idempotency_key=str(delivery_id),
        event_type=facts.event_type,
        subject=subject,
        text=text,
        html=f"<pre>{html.escape(text)}</pre>",
        recipient=recipient or None,
        thread_key=thread_key,
        occurred_at=facts.occurred_at,
        incident=facts.incident,
        data={
            "sequence": str(facts.event_id) if facts.event_id is not None else None,
            "type": facts.event_type,
            "note": facts.note,
            "fromStatus": facts.from_status,
            "toStatus": facts.to_status,
            "payload": facts.payload,
        },
    )
