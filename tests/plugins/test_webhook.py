"""The webhook plugin against real HTTP receivers on 127.0.0.1 that verify every request with
the `standardwebhooks` package, and its SSRF guard."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tocsin_plugins.webhook import WebhookConfig, WebhookNotifier

from app.config import get_settings
from app.notifications.sdk import IncidentSummary, Message
from tests.fixtures_http import ReceivedRequest, Reply
from tests.fixtures_server import free_port
from tests.fixtures_tls import self_signed

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


def make_message(key: str = "dlv_01", **overrides) -> Message:
    fields = dict(
        idempotency_key=key,
        event_type="incident.acknowledged",
        subject="Incident acknowledged",
        text="INC-7 was acknowledged",
        occurred_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
        incident=IncidentSummary("INC-7", "Card payments fail", "ACKNOWLEDGED", "P1",
                                 service="Checkout"),
        data={"sequence": "42", "note": "Looking at the gateway"},
    )
    fields.update(overrides)
    return Message(**fields)


def verifying_receiver(secret: str, then: list[Reply] | None = None):
    """A responder that answers 400 to any request whose signature does not verify, and
    otherwise the next reply of `then` (204 when they run out)."""
    replies = list(then or [])
    verifier = Webhook(secret)

    def respond(request: ReceivedRequest) -> Reply:
        try:
            verifier.verify(request.body, request.headers)
        except WebhookVerificationError as error:
            return Reply(400, f"bad signature: {error}".encode())
        return replies.pop(0) if replies else Reply(204)

    return respond


def config(url: str, **extra) -> WebhookConfig:
    return WebhookConfig.model_validate({"url": url, "secret": SECRET, **extra})


async def test_delivers_a_signed_standard_webhook(http_peer):
    peer = http_peer(verifying_receiver(SECRET))
    notifier = WebhookNotifier(allowed_networks=LOOPBACK)
    cfg = config(peer.url("/hooks/tocsin"), headers={"Authorization": "Bearer abc"})

    result = await notifier.send(make_message(), cfg)

    assert result.outcome == "delivered", result.error
    [request] = peer.requests
    assert request.method == "POST" and request.path == "/hooks/tocsin"
    assert request.headers["webhook-id"] == "dlv_01"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{peer.port}"
    body = json.loads(request.body)
    assert body["type"] == "incident.acknowledged"
    assert body["timestamp"] == "2026-01-05T09:30:00+00:00"
    assert body["data"]["sequence"] == "42"
    assert body["data"]["incident"] == {
        "reference": "INC-7", "title": "Card payments fail", "status": "ACKNOWLEDGED",
        "priority": "P1", "service": "Checkout", "url": None,
    }


async def test_the_receiver_rejects_a_wrong_secret_or_a_stale_timestamp(http_peer):
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    peer = http_peer(verifying_receiver(other))
    result = await WebhookNotifier(allowed_networks=LOOPBACK).send(
        make_message(), config(peer.url()))
    assert result.outcome == "failed" and "HTTP 400: bad signature" in (result.error or "")

    stale = datetime.now(UTC) - timedelta(hours=1)
    peer = http_peer(verifying_receiver(SECRET))
    result = await WebhookNotifier(allowed_networks=LOOPBACK, now=lambda: stale).send(
        make_message(), config(peer.url()))
    assert result.outcome == "failed" and "HTTP 400" in (result.error or "")


async def test_a_failing_receiver_is_retried_with_the_same_id_until_it_succeeds(http_peer):
    peer = http_peer(verifying_receiver(SECRET, then=[
        Reply(503, b"maintenance", {"Retry-After": "7"}),
        Reply(500, b"oops"),
        Reply(200, b"ok"),
    ]))
    notifier = WebhookNotifier(allowed_networks=LOOPBACK)
    cfg = config(peer.url())
    message = make_message("dlv_retry")

    first = await notifier.send(message, cfg)
    second = await notifier.send(message, cfg)
    third = await notifier.send(message, cfg)

    assert (first.outcome, first.retry_after) == ("retry", 7.0)
    assert "HTTP 503: maintenance" in (first.error or "")
    assert (second.outcome, second.retry_after) == ("retry", None)
    assert third.outcome == "delivered"
    assert [r.headers["webhook-id"] for r in peer.requests] == ["dlv_retry"] * 3
    assert len({r.body for r in peer.requests}) == 1


@pytest.mark.parametrize(
    ("reply", "outcome", "disable"),
    [
        (Reply(410, b"gone"), "failed", True),
        (Reply(404), "failed", False),
        (Reply(400), "failed", False),
        (Reply(429), "retry", False),
        (Reply(502), "retry", False),
        (Reply(201), "delivered", False),
    ],
)
async def test_status_codes_decide_the_outcome(http_peer, reply, outcome, disable):
    peer = http_peer(verifying_receiver(SECRET, then=[reply]))
    result = await WebhookNotifier(allowed_networks=LOOPBACK).send(
        make_message(), config(peer.url()))
    assert result.outcome == outcome, result.error
    assert result.disable_channel is disable


async def test_retry_after_as_an_http_date(http_peer):
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    later = "Mon, 05 Jan 2026 09:02:00 GMT"
    peer = http_peer(lambda request: Reply(429, b"", {"Retry-After": later}))
    result = await WebhookNotifier(allowed_networks=LOOPBACK, now=lambda: now).send(
        make_message(), config(peer.url()))
    assert (result.outcome, result.retry_after) == ("retry", 120.0)


async def test_redirects_are_not_followed(http_peer):
    peer = http_peer(lambda request: Reply(302, b"", {"Location": "/elsewhere"}))
    result = await WebhookNotifier(allowed_networks=LOOPBACK).send(
        make_message(), config(peer.url("/hook")))
    assert result.outcome == "failed"
    assert "redirect to /elsewhere not followed" in (result.error or "")
    assert [r.path for r in peer.requests] == ["/hook"]


async def test_timeouts_and_refused_connections_retry(http_peer):
    release = threading.Event()

    def slow(request: ReceivedRequest) -> Reply:
        release.wait(5)
        return Reply(200)

    peer = http_peer(slow)
    try:
        result = await WebhookNotifier(allowed_networks=LOOPBACK).send(
            make_message(), config(peer.url(), timeout=0.3))
    finally:
        release.set()
    assert result.outcome == "retry" and "timed out" in (result.error or "")

    closed = f"http://127.0.0.1:{free_port()}/"
    result = await WebhookNotifier(allowed_networks=LOOPBACK).send(make_message(),
                                                                   config(closed))
    assert result.outcome == "retry" and "connection failed" in (result.error or "")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8080/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[2002:7f00:1::]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2130706433/",
        "http://localhost/",
    ],
)
async def test_private_destinations_are_refused_at_creation(url):
    with pytest.raises(ValueError, match=r"^url: .*public addresses"):
        await WebhookNotifier(allowed_networks=[]).validate_config(config(url))


async def test_private_destinations_are_refused_at_send_time_without_a_request(http_peer):
    peer = http_peer(verifying_receiver(SECRET))
    result = await WebhookNotifier(allowed_networks=[]).send(make_message(),
                                                             config(peer.url()))
    assert result.outcome == "failed" and "127.0.0.1 is loopback" in (result.error or "")
    assert peer.requests == []


async def test_every_resolved_address_is_checked():
    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    notifier = WebhookNotifier(allowed_networks=[], resolver=resolver)
    with pytest.raises(ValueError, match=r"hooks\.example\.com resolves to 10\.0\.0\.7 is private"):
        await notifier.validate_config(config("https://hooks.example.com/in"))


async def test_allowed_networks_come_from_the_setting(monkeypatch, http_peer):
    peer = http_peer(verifying_receiver(SECRET))
    monkeypatch.setenv("TOCSIN_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8, 127.0.0.0/8")
    get_settings.cache_clear()
    try:
        notifier = WebhookNotifier()
        await notifier.validate_config(config(peer.url()))
        await notifier.validate_config(config("http://[::ffff:127.0.0.1]/"))
        assert (await notifier.send(make_message(), config(peer.url()))).outcome == "delivered"
        with pytest.raises(ValueError, match=r"169\.254\.169\.254 is link-local"):
            await notifier.validate_config(config("http://169.254.169.254/"))
    finally:
        monkeypatch.delenv("TOCSIN_WEBHOOK_ALLOWED_NETWORKS")
        get_settings.cache_clear()


async def test_the_request_goes_to_the_checked_address_once_resolved(http_peer):
    """The host is resolved once, by the guard; the connection uses that answer (a name
    that no real DNS knows), with the original Host header."""
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    peer = http_peer(verifying_receiver(SECRET))
    notifier = WebhookNotifier(allowed_networks=LOOPBACK, resolver=resolver)
    result = await notifier.send(make_message(), config(peer.url(host="hooks.example.test")))
    assert result.outcome == "delivered", result.error
    assert lookups == ["hooks.example.test"]
    assert peer.requests[0].headers["host"] == f"hooks.example.test:{peer.port}"


async def test_https_to_a_pinned_address_keeps_sni_and_certificate_checks(tmp_path, http_peer):
    async def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    good = self_signed(tmp_path, ["hooks.example.test"])
    peer = http_peer(verifying_receiver(SECRET), tls=good.server_context())
    notifier = WebhookNotifier(allowed_networks=LOOPBACK, resolver=resolver,
                               verify=good.client_context())
    result = await notifier.send(make_message(), config(peer.url(host="hooks.example.test")))
    assert result.outcome == "delivered", result.error

    wrong = self_signed(tmp_path, ["other.example.test"])
    peer = http_peer(verifying_receiver(SECRET), tls=wrong.server_context())
    notifier = WebhookNotifier(allowed_networks=LOOPBACK, resolver=resolver,
                               verify=wrong.client_context())
    result = await notifier.send(make_message(), config(peer.url(host="hooks.example.test")))
    assert result.outcome == "retry" and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "must start with 'whsec_'"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(os.urandom(16)).decode(), "not 16"),
        ("whsec_" + base64.b64encode(os.urandom(65)).decode(), "not 65"),
    ],
)
def test_bad_secrets_are_refused(secret, problem):
    with pytest.raises(ValidationError, match=problem):
        WebhookConfig.model_validate({"url": "https://example.com/", "secret": secret})


def test_config_checks_and_masks():
    for size in (24, 64):
        WebhookConfig.model_validate(
            {"url": "https://example.com/", "secret": "whsec_" + base64.b64encode(
                os.urandom(size)).decode()})
    cases = [
        ({"url": "ftp://example.com/"}, "http:// or https://"),
        ({"url": "https://user:pw@example.com/"}, "credentials"),
        ({"headers": {"webhook-signature": "v1,x"}}, "may not be overridden"),
        ({"headers": {"X-Token": "a\r\nInjected: 1"}}, "line breaks"),
        ({"headers": {"Bad Name": "x"}}, "not a valid header name"),
        ({"timeout": 0}, "greater than 0"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ]
    for change, problem in cases:
        with pytest.raises(ValidationError, match=problem):
            WebhookConfig.model_validate({"url": "https://example.com/", "secret": SECRET,
                                          **change})
    dumped = config("https://example.com/").model_dump_json()
    assert SECRET not in dumped and "**********" in dumped


def test_plugin_contract():
    assert WebhookNotifier.name == "webhook"
    assert WebhookNotifier.needs_recipients is False
    assert WebhookNotifier.api_version == 1
