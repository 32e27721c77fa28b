"""Builds the RFC 5322 message for one recipient: subject, text and HTML alternatives, and
the Message-ID / In-Reply-To / References headers that keep one thread per incident."""

from __future__ import annotations

import html
import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from app.notifications.sdk import Message

# Event types that open a thread: their mail's Message-ID is the thread's own id.
_THREAD_OPENERS = (".created",)
_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/?^_`{|}~]")


def _atom(key: str) -> str:
    """`key` as msg-id left-hand characters, reversibly: anything else becomes =XX."""
    return _NOT_ATEXT.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), key)


def thread_message_id(thread_key: str, domain: str) -> str:
    return f"<tocsin.thread.{_atom(thread_key)}@{domain}>"


def delivery_message_id(idempotency_key: str, domain: str) -> str:
    return f"<tocsin.delivery.{_atom(idempotency_key)}@{domain}>"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mail_subject(message: Message) -> str:
    """`[INC-7] P1 Card payments fail: Incident acknowledged` — reference, priority and
    title first, so the thread reads well in a mail client."""
    incident = message.incident
    if incident is None:
        return _one_line(message.subject)
    if message.subject.startswith(f"[{incident.reference}]"):
        return _one_line(message.subject)
    head = f"[{incident.reference}] {incident.priority} {incident.title}"
    if message.subject and message.subject != incident.title:
        head += f": {message.subject}"
    return _one_line(head)


def compose(message: Message, *, sender: str, recipient: str, domain: str,
            now: datetime) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = mail_subject(message)
    mail["Date"] = format_datetime(now)
    own_id = delivery_message_id(message.idempotency_key, domain)
    if message.thread_key:
        thread_id = thread_message_id(message.thread_key, domain)
        if message.event_type.endswith(_THREAD_OPENERS):
            own_id = thread_id
        else:
            mail["In-Reply-To"] = thread_id
            mail["References"] = thread_id
    mail["Message-ID"] = own_id
    mail["X-Tocsin-Delivery"] = message.idempotency_key
    mail["X-Tocsin-Event"] = message.event_type
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to alerts
    mail.set_content(message.text)
    body_html = message.html or f"<pre>{html.escape(message.text)}</pre>"
    mail.add_alternative(body_html, subtype="html")
    return mail
