"""The SMS plugin against a local HTTP server that speaks Twilio's Messages API: it checks the
path, basic auth and form fields the way Twilio does and answers with Twilio's shapes."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError
from tocsin_plugins.sms import SmsConfig, SmsNotifier
from tocsin_plugins.sms.body import gsm7_length, is_gsm7, sms_body, utf16_length

from app.notifications.sdk import IncidentSummary, InvalidRecipient, Message
from tests.fixtures_http import ReceivedRequest, Reply
from tests.fixtures_server import free_port

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "tok_" + uuid.uuid4().hex
MG = "MG" + "fedcba9876543210" * 2


class FakeTwilio:
    """Twilio's Messages.json, as far as the plugin uses it."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.invalid = {"+15005550001": 21211, "+15005550009": 21614}
        self.scripted: list[Reply] = []  # replies given before any checks, in order

    @staticmethod
    def error(status: int, code: int, message: str) -> Reply:
        body = {"code": code, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        return Reply(status, json.dumps(body).encode(), {"content-type": "application/json"})

    def __call__(self, request: ReceivedRequest) -> Reply:
        if self.scripted:
            return self.scripted.pop(0)
        if request.method != "POST" or request.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            return self.error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return self.error(401, 20003, "Authenticate")
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return self.error(400, 20001, "Wrong content type")
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        if set(form) - {"To", "From", "MessagingServiceSid", "Body"}:
            return self.error(400, 20001, "Unknown parameter")
        if ("From" in form) == ("MessagingServiceSid" in form):
            return self.error(400, 21603, "A 'From' or 'MessagingServiceSid' is required")
        if not form.get("Body") or len(form["Body"]) > 1600:
            return self.error(400, 21617, "The concatenated message body exceeds 1600")
        to = form.get("To", "")
        if to in self.invalid:
            return self.error(400, self.invalid[to], f"The 'To' number {to} is not valid.")
        self.accepted.append(form)
        self.headers.append(request.headers)
        sid = "SM" + uuid.uuid4().hex
        body = {"sid": sid, "status": "queued", "to": to, "body": form["Body"],
                "account_sid": SID, "num_segments": "1"}
        return Reply(201, json.dumps(body).encode(), {"content-type": "application/json"})


def make_message(recipient: str = "+4915112345678", key: str = "dlv_1", **overrides) -> Message:
    fields = dict(
        idempotency_key=key, event_type="incident.created", subject="Incident created",
        text="A new P1 incident", recipient=recipient,
        occurred_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        incident=IncidentSummary("INC-7", "Card payments fail", "NEW", "P1",
                                 url="https://tocsin.example.com/i/INC-7"),
    )
    fields.update(overrides)
    return Message(**fields)


def config(base_url: str, **extra) -> SmsConfig:
    values = {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100",
              "base_url": base_url, **extra}
    return SmsConfig.model_validate(values)


@pytest.fixture
def twilio(http_peer):
    fake = FakeTwilio()
    peer = http_peer(fake)
    return fake, peer.url("").rstrip("/")


async def test_sends_a_concise_message_and_returns_twilio_sid(twilio):
    fake, base = twilio
    result = await SmsNotifier().send(make_message(), config(base))

    assert result.outcome == "delivered", result.error
    [form] = fake.accepted
    assert form == {"To": "+4915112345678", "From": "+14155550100",
                    "Body": "INC-7 P1 NEW: Card payments fail https://tocsin.example.com/i/INC-7"}
    assert result.provider_reference and result.provider_reference.startswith("SM")
    assert fake.headers[0]["idempotency-key"] == "dlv_1"


async def test_a_messaging_service_replaces_the_from_number(twilio):
    fake, base = twilio
    cfg = config(base, from_number=None, messaging_service_sid=MG)
    assert (await SmsNotifier().send(make_message(), cfg)).outcome == "delivered"
    assert fake.accepted[0]["MessagingServiceSid"] == MG and "From" not in fake.accepted[0]


async def test_a_wrong_token_fails_permanently(twilio):
    fake, base = twilio
    result = await SmsNotifier().send(make_message(), config(base, auth_token="wrong"))
    assert result.outcome == "failed" and "HTTP 401 code 20003" in (result.error or "")
    assert fake.accepted == []


@pytest.mark.parametrize(("number", "code"), [("+15005550001", 21211),
                                              ("+15005550009", 21614)])
async def test_an_invalid_number_fails_permanently(twilio, number, code):
    fake, base = twilio
    result = await SmsNotifier().send(make_message(recipient=number), config(base))
    assert result.outcome == "failed"
    assert (result.error or "").startswith(f"invalid number: HTTP 400 code {code}: ")
    assert fake.accepted == []


async def test_throttling_and_outages_retry_honouring_retry_after(twilio):
    fake, base = twilio
    fake.scripted = [
        FakeTwilio.error(429, 20429, "Too Many Requests"),
        Reply(503, b"upstream down", {"Retry-After": "30"}),
    ]
    fake.scripted[0].headers["Retry-After"] = "12"
    notifier = SmsNotifier()

    throttled = await notifier.send(make_message(), config(base))
    down = await notifier.send(make_message(), config(base))
    sent = await notifier.send(make_message(), config(base))

    assert (throttled.outcome, throttled.retry_after) == ("retry", 12.0)
    assert "code 20429" in (throttled.error or "")
    assert (down.outcome, down.retry_after) == ("retry", 30.0)
    assert sent.outcome == "delivered" and len(fake.accepted) == 1


async def test_network_trouble_retries(http_peer):
    result = await SmsNotifier().send(make_message(),
                                      config(f"http://127.0.0.1:{free_port()}"))
    assert result.outcome == "retry" and "connection failed" in (result.error or "")

    release = threading.Event()
    peer = http_peer(lambda request: (release.wait(5), Reply(201))[1])
    try:
        result = await SmsNotifier().send(make_message(),
                                          config(peer.url("").rstrip("/"), timeout=0.3))
    finally:
        release.set()
    assert result.outcome == "retry" and "timed out" in (result.error or "")


def test_recipients_must_be_e164():
    notifier = SmsNotifier()
    assert notifier.validate_recipient("+49 151 1234 5678") == "+4915112345678"
    assert notifier.validate_recipient(" +1 (415) 555-2671 ") == "+14155552671"
    for bad in ("015112345678", "+999123", "+1 555", "call me", ""):
        with pytest.raises(InvalidRecipient):
            notifier.validate_recipient(bad)


def test_bodies_fit_two_segments():
    long_title = "Database cluster failover loops " * 20
    body = sms_body(make_message(incident=IncidentSummary("INC-12345", long_title,
                                                          "IN_PROGRESS", "P2")))
    assert is_gsm7(body) and gsm7_length(body) <= 306 and body.endswith("...")
    assert body.startswith("INC-12345 P2 IN_PROGRESS: Database cluster failover loops")

    unicode_title = "Zahlungsausfall 💳 bei Kartenzahlungen — alle Märkte " * 5
    body = sms_body(make_message(incident=IncidentSummary("INC-9", unicode_title, "NEW", "P1")))
    assert not is_gsm7(body) and utf16_length(body) <= 134 and body.endswith("…")

    braces = "{[~]}" * 100
    body = sms_body(make_message(incident=IncidentSummary("INC-1", braces, "NEW", "P3")))
    assert gsm7_length(body) <= 306

    plain = sms_body(make_message(incident=None, subject="Test message from Tocsin"))
    assert plain == "Test message from Tocsin"


def test_config_checks():
    base = {"account_sid": SID, "auth_token": TOKEN, "from_number": "+14155550100"}
    assert SmsConfig.model_validate(base).base_url == "https://api.twilio.com"
    assert SmsConfig.model_validate({**base, "from_number": "Tocsin"}).from_number == "Tocsin"
    cases = [
        ({"account_sid": "AC123"}, "account_sid"),
        ({"from_number": None}, "exactly one"),
        ({"messaging_service_sid": MG}, "exactly one"),
        ({"from_number": "12345"}, "not an international phone number"),
        ({"base_url": "http://sms.example.com"}, "must use https"),
        ({"base_url": "ftp://sms.example.com"}, "http"),
    ]
    for change, problem in cases:
        with pytest.raises(ValidationError, match=problem):
            SmsConfig.model_validate({**base, **change})
    assert TOKEN not in SmsConfig.model_validate(base).model_dump_json()
