"""The first-party plugins through the whole platform: discovered from their entry points,
configured as channels, fed by rules, delivered by the worker to real peers (a Standard
Webhooks receiver on 127.0.0.1 and an aiosmtpd server)."""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from app.auth.models import Role
from app.config import get_settings
from app.incidents import service as incidents
from app.incidents.models import Impact, Urgency
from app.notifications import service
from app.notifications.dispatcher import Dispatcher
from app.notifications.models import Delivery, DeliveryStatus
from tests.fixtures_http import Reply

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def loopback_webhooks(monkeypatch):
    monkeypatch.setenv("TOCSIN_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_notifier_plugins_lists_the_three_first_party_plugins(api):
    plugins = (await api("{ notifierPlugins { name distribution loaded error configSchema } }")
               ).ok()["notifierPlugins"]
    by_name = {p["name"]: p for p in plugins}
    for name in ("email", "sms", "webhook"):
        assert by_name[name]["loaded"] is True and by_name[name]["error"] is None
        assert by_name[name]["distribution"] == "tocsin"
        assert by_name[name]["configSchema"]["type"] == "object"
    assert "url" in by_name["webhook"]["configSchema"]["properties"]
    assert "host" in by_name["email"]["configSchema"]["properties"]


async def test_an_incident_reaches_a_webhook_and_a_mailbox(
    users, clock, http_peer, smtp_peer, loopback_webhooks, dispatcher: Dispatcher
):
    receiver = http_peer(lambda request: Reply(204))
    mailbox = smtp_peer()
    hook = await service.create_channel(
        name="ops webhook", plugin="webhook",
        config={"url": receiver.url("/tocsin"), "secret": WEBHOOK_SECRET}, now=clock.now())
    mail = await service.create_channel(
        name="ops mail", plugin="email",
        config={"host": "127.0.0.1", "port": mailbox.port, "security": "none",
                "from_address": "tocsin@example.org"}, now=clock.now())
    for channel, recipients in ((hook, []), (mail, ["oncall@example.org"])):
        await service.create_rule(service.RuleInput(
            name=f"page via {channel.name}", channel_id=channel.id,
            event_types=["incident.created"], recipients=recipients), now=clock.now())

    incident = await incidents.create_incident(
        incidents.NewIncident(title="Card payments fail", impact=Impact.HIGH,
                              urgency=Urgency.HIGH),
        actor=users[Role.RESPONDER][0], now=clock.now())
    report = await dispatcher.drain()
    assert report.delivered == 2

    [request] = receiver.requests
    payload = Webhook(WEBHOOK_SECRET).verify(request.body, request.headers)
    assert payload["type"] == "incident.created"
    assert json.dumps(payload["data"]).count(incident.reference) >= 1
    webhook_delivery = await Delivery.get(channel_id=hook.id)
    assert request.headers["webhook-id"] == str(webhook_delivery.id)
    assert webhook_delivery.status == DeliveryStatus.DELIVERED

    [received] = mailbox.mails
    message = received.message
    assert incident.reference in message["Subject"] and "P1" in message["Subject"]
    assert message["To"] == "oncall@example.org"
