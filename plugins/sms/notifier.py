"""The SMS notifier: Twilio's Messages API (or any provider that speaks it, via `base_url`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import phonenumbers
from pydantic import Field, SecretStr, field_validator, model_validator

from app.notifications.sdk import (
    DeliveryResult,
    InvalidRecipient,
    Message,
    Notifier,
    NotifierConfig,
)

from .._http import excerpt, parse_retry_after
from .body import sms_body

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that mean "this number cannot receive": retrying will not help.
INVALID_NUMBER_CODES = {21211, 21214, 21217, 21401, 21407, 21408, 21421, 21610, 21612,
                        21614, 21635}
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


def e164(number: str) -> str:
    """`number` in E.164 (+4915112345678), or ValueError."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"{number!r} is not an international phone number (+country…): "
                         f"{error}") from error
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{number!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class SmsConfig(NotifierConfig):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", description="AC…")
    auth_token: SecretStr
    from_number: str | None = Field(
        None, description="E.164 sender number or alphanumeric sender ID")
    messaging_service_sid: str | None = Field(None, pattern=r"^MG[0-9a-fA-F]{32}$",
                                              description="MG… (instead of from_number)")
    base_url: str = Field(TWILIO_API, description="the API root; change for compatible "
                                                  "providers")
    timeout: float = Field(10.0, gt=0, le=60)

    @field_validator("from_number")
    @classmethod
    def _check_from(cls, value: str | None) -> str | None:
        if value is None or _ALPHANUMERIC_SENDER.match(value):
            return value
        return e164(value)

    @field_validator("base_url")
    @classmethod
    def _check_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError("must use https (the auth token travels with every request)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_sender(self) -> SmsConfig:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of from_number and messaging_service_sid")
        return self


class SmsNotifier(Notifier):
    name = "sms"
    Config = SmsConfig

    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now

    def validate_recipient(self, recipient: str) -> str:
        try:
            return e164(recipient.strip())
        except ValueError as error:
            raise InvalidRecipient(str(error)) from error

    async def send(self, message: Message, config: Any) -> DeliveryResult:
        try:
            to = self.validate_recipient(message.recipient or "")
        except InvalidRecipient as error:
            return DeliveryResult.failed(str(error))
        form = {"To": to, "Body": sms_body(message)}
        if config.messaging_service_sid:
            form["MessagingServiceSid"] = config.messaging_service_sid
        else:
            form["From"] = config.from_number
        url = f"{config.base_url}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        auth = (config.account_sid, config.auth_token.get_secret_value())
        async with httpx.AsyncClient(timeout=config.timeout, follow_redirects=False) as client:
            try:
                response = await client.post(
                    url, data=form, auth=auth,
                    headers={"Idempotency-Key": message.idempotency_key,
                             "User-Agent": "Tocsin-SMS/1"},
                )
            except httpx.TimeoutException:
                return DeliveryResult.retry(f"timed out after {config.timeout:g}s")
            except httpx.TransportError as error:
                return DeliveryResult.retry(f"connection failed: {error!r}")
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if 200 <= status < 300:
            return DeliveryResult.delivered(answer.get("sid"))
        code = answer.get("code")
        said = f"HTTP {status}"
        if code is not None:
            said += f" code {code}"
        said += f": {excerpt(str(answer.get('message') or response.text))}"
        if status == 429 or status >= 500:
            return DeliveryResult.retry(
                said, parse_retry_after(response.headers.get("retry-after"), self._now()))
        if status == 400 and code in INVALID_NUMBER_CODES:
            return DeliveryResult.failed(f"invalid number: {said}")
        return DeliveryResult.failed(said)
