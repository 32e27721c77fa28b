"""The SMS text: reference, priority, status and title, cut to fit two segments (GSM-7: two
of 153 characters; anything else is UCS-2: two of 67 UTF-16 units), never over 1600."""

from __future__ import annotations

from app.notifications.sdk import Message

_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")  # each takes two septets
TWO_SEGMENTS_GSM7 = 306
TWO_SEGMENTS_UCS2 = 134
MAX_BODY = 1600


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text)


def gsm7_length(text: str) -> int:
    return sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def fit(text: str) -> str:
    """`text` on one line, shortened with an ellipsis to at most two segments."""
    text = " ".join(text.split())
    if is_gsm7(text):
        if gsm7_length(text) <= TWO_SEGMENTS_GSM7:
            return text
        while gsm7_length(text) > TWO_SEGMENTS_GSM7 - 3:
            text = text[:-1]
        return text.rstrip() + "..."
    if utf16_length(text) <= TWO_SEGMENTS_UCS2:
        return text
    while utf16_length(text) > TWO_SEGMENTS_UCS2 - 1:
        text = text[:-1]
    return text.rstrip() + "…"


def sms_body(message: Message) -> str:
    incident = message.incident
    if incident is None:
        body = fit(message.subject or message.text)
    else:
        body = fit(f"{incident.reference} {incident.priority} {incident.status}: "
                   f"{incident.title}")
        if incident.url and fit(f"{body} {incident.url}") == f"{body} {incident.url}":
            body = f"{body} {incident.url}"
    return body[:MAX_BODY]
