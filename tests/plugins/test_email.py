"""The email plugin against a real SMTP server (aiosmtpd on 127.0.0.1): plain, STARTTLS and
implicit TLS with a certificate made in the test, AUTH, threading and SMTP failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from tocsin_plugins.email import EmailConfig, EmailNotifier

from app.notifications.sdk import IncidentSummary, InvalidRecipient, Message
from tests.fixtures_server import free_port

NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def make_message(key: str, event_type: str = "incident.acknowledged",
                 recipient: str = "oncall@example.org", **overrides) -> Message:
    fields = dict(
        idempotency_key=key,
        event_type=event_type,
        subject="Incident acknowledged",
        text="INC-7 was acknowledged by Ada.\nNote: looking at the gateway",
        html="<p>INC-7 was acknowledged by <b>Ada</b>.</p>",
        recipient=recipient,
        thread_key="incident:7",
        occurred_at=NOW,
        incident=IncidentSummary("INC-7", "Card payments fail", "ACKNOWLEDGED", "P1"),
    )
    fields.update(overrides)
    return Message(**fields)


def config(port: int, security: str = "none", **extra) -> EmailConfig:
    return EmailConfig.model_validate({
        "host": "127.0.0.1", "port": port, "security": security,
        "from_address": "tocsin@alerts.example.com", "timeout": 5, **extra,
    })


async def test_a_mail_is_multipart_alternative_with_reference_priority_and_title(smtp_peer):
    peer = smtp_peer()
    result = await EmailNotifier(now=lambda: NOW).send(make_message("d1"), config(peer.port))

    assert result.outcome == "delivered", result.error
    [mail] = peer.mails
    assert mail.mail_from == "tocsin@alerts.example.com"
    assert mail.rcpt_tos == ["oncall@example.org"]
    message = mail.message
    assert message["Subject"] == "[INC-7] P1 Card payments fail: Incident acknowledged"
    assert message["To"] == "oncall@example.org"
    assert message["Date"] == "Mon, 05 Jan 2026 09:30:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain", "text/html"]
    assert "looking at the gateway" in message.get_body(("plain",)).get_content()
    assert "<b>Ada</b>" in message.get_body(("html",)).get_content()
    assert result.provider_reference == message["Message-ID"]
    assert not mail.tls


async def test_one_thread_per_incident_and_retries_keep_their_message_id(smtp_peer):
    peer = smtp_peer()
    notifier = EmailNotifier(now=lambda: NOW)
    created = make_message("d-created", "incident.created", subject="Incident created")
    acknowledged = make_message("d-ack")
    resolved = make_message("d-res", "incident.resolved", subject="Incident resolved")

    for message in (created, acknowledged, resolved, acknowledged):  # the last: a retry
        assert (await notifier.send(message, config(peer.port))).outcome == "delivered"

    first, second, third, again = (mail.message for mail in peer.mails)
    root = first["Message-ID"]
    assert root == "<tocsin.thread.incident=3A7@alerts.example.com>"
    assert first["In-Reply-To"] is None and first["References"] is None
    for reply in (second, third):
        assert reply["In-Reply-To"] == root and reply["References"] == root
    assert second["Message-ID"] == "<tocsin.delivery.d-ack@alerts.example.com>"
    assert third["Message-ID"] == "<tocsin.delivery.d-res@alerts.example.com>"
    assert again["Message-ID"] == second["Message-ID"]
    assert again["X-Tocsin-Delivery"] == "d-ack"
    assert len({first["Message-ID"], second["Message-ID"], third["Message-ID"]}) == 3


async def test_a_message_without_thread_uses_the_delivery_id(smtp_peer):
    peer = smtp_peer()
    message = make_message("test/1 x", "test", thread_key=None, incident=None,
                           subject="Test from Tocsin", html=None, text="It works <3")
    assert (await EmailNotifier().send(message, config(peer.port))).outcome == "delivered"
    mail = peer.mails[0].message
    assert mail["Message-ID"] == "<tocsin.delivery.test/1=20x@alerts.example.com>"
    assert mail["Subject"] == "Test from Tocsin"
    assert mail["In-Reply-To"] is None
    assert "It works &lt;3" in mail.get_body(("html",)).get_content()


async def test_starttls_with_auth_against_a_self_signed_certificate(smtp_peer):
    peer = smtp_peer("starttls", users={"tocsin": "s3cret"})
    cfg = config(peer.port, "starttls", username="tocsin", password="s3cret",
                 ca_certificate=peer.certificate.cert_pem)
    result = await EmailNotifier().send(make_message("d1"), cfg)
    assert result.outcome == "delivered", result.error
    assert peer.mails[0].tls and peer.mails[0].authenticated_as == "tocsin"

    wrong = config(peer.port, "starttls", username="tocsin", password="nope",
                   ca_certificate=peer.certificate.cert_pem)
    result = await EmailNotifier().send(make_message("d2"), wrong)
    assert result.outcome == "failed" and "authentication failed: 535" in (result.error or "")
    assert len(peer.mails) == 1


async def test_an_untrusted_certificate_is_not_accepted_with_implicit_tls(smtp_peer):
    peer = smtp_peer("tls")
    result = await EmailNotifier().send(make_message("d1"), config(peer.port, "tls"))
    assert result.outcome == "retry" and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert peer.mails == []


async def test_implicit_tls(smtp_peer):
    peer = smtp_peer("tls")
    cfg = config(peer.port, "tls", ca_certificate=peer.certificate.cert_pem)
    result = await EmailNotifier().send(make_message("d1"), cfg)
    assert result.outcome == "delivered", result.error
    assert peer.mails[0].tls


async def test_an_untrusted_certificate_is_not_accepted(smtp_peer):
    peer = smtp_peer("starttls")
    result = await EmailNotifier().send(make_message("d1"), config(peer.port, "starttls"))
    assert result.outcome == "retry"
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert peer.mails == []


async def test_starttls_is_never_silently_dropped(smtp_peer):
    plain = smtp_peer("none")
    cfg = config(plain.port, "starttls", ca_certificate=plain.certificate.cert_pem)
    result = await EmailNotifier().send(make_message("d1"), cfg)
    assert result.outcome == "failed" and "STARTTLS" in (result.error or "")
    assert plain.mails == []


async def test_recipient_answers_decide_between_retry_and_failure(smtp_peer):
    peer = smtp_peer()
    peer.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    peer.rcpt_replies["full@example.org"] = "452 4.2.2 Mailbox full"
    notifier = EmailNotifier()

    gone = await notifier.send(make_message("d1", recipient="gone@example.org"),
                               config(peer.port))
    full = await notifier.send(make_message("d2", recipient="full@example.org"),
                               config(peer.port))

    assert gone.outcome == "failed" and "550 5.1.1 No such user" in (gone.error or "")
    assert full.outcome == "retry" and "452" in (full.error or "")
    assert peer.mails == []


async def test_refused_connections_and_silent_servers_retry():
    closed = await EmailNotifier().send(make_message("d1"), config(free_port()))
    assert closed.outcome == "retry"

    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        silent = await EmailNotifier().send(make_message("d1"), config(port, timeout=0.3))
    finally:
        server.close()
    assert silent.outcome == "retry" and "timed out" in (silent.error or "").lower()


def test_recipients_are_validated_without_dns():
    notifier = EmailNotifier()
    assert notifier.validate_recipient(" Oncall@Example.ORG ") == "Oncall@example.org"
    assert notifier.validate_recipient("ops@no-such-domain.invalid-tld-xyz") \
        == "ops@no-such-domain.invalid-tld-xyz"
    for bad in ("not an address", "a@b", "Ada <ada@example.org>", "ada@", "ada@example.org\n"
                "Bcc: x@example.org"):
        with pytest.raises(InvalidRecipient):
            notifier.validate_recipient(bad)


def test_config_is_explicit_about_security_and_masks_the_password():
    with pytest.raises(ValidationError, match="security"):
        EmailConfig.model_validate({"host": "smtp.example.com",
                                    "from_address": "a@example.com"})
    with pytest.raises(ValidationError, match="plain text"):
        config(25, "none", username="u", password="p")
    with pytest.raises(ValidationError, match="go together"):
        config(587, "starttls", username="u")
    with pytest.raises(ValidationError, match="not a PEM certificate"):
        config(587, "starttls", ca_certificate="-----BEGIN CERTIFICATE-----\nxx\n")
    with pytest.raises(ValidationError, match="from_address"):
        EmailConfig.model_validate({"host": "h", "security": "tls", "from_address": "nope"})
    cfg = EmailConfig.model_validate({"host": "smtp.example.com", "security": "tls",
                                      "from_address": "a@example.com",
                                      "username": "u", "password": "hunter2"})
    assert cfg.effective_port == 465
    assert "hunter2" not in cfg.model_dump_json()
