"""The email notifier: sends each message over SMTP (aiosmtplib) with the transport security
the channel names — never less."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import aiosmtplib
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, field_validator, model_validator

from app.notifications.sdk import (
    DeliveryResult,
    InvalidRecipient,
    Message,
    Notifier,
    NotifierConfig,
)

from .compose import compose

DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def _address(value: str) -> tuple[str, str]:
    """(normalized address, ASCII domain), or EmailNotValidError. No DNS look-ups."""
    valid = validate_email(value, check_deliverability=False)
    return valid.normalized, valid.ascii_domain


class EmailConfig(NotifierConfig):
    host: str = Field(min_length=1, description="SMTP server host name")
    port: int | None = Field(None, ge=1, le=65535,
                             description="default 25 / 587 / 465 by security")
    security: Literal["none", "starttls", "tls"] = Field(
        description="none: plain SMTP; starttls: upgrade required; tls: implicit TLS")
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = Field(description="the sender, e.g. tocsin@example.com")
    timeout: float = Field(30.0, gt=0, le=300, description="seconds per SMTP operation")
    ca_certificate: str | None = Field(
        None, description="PEM certificate(s) to trust instead of the system CAs")

    @field_validator("from_address")
    @classmethod
    def _check_from(cls, value: str) -> str:
        try:
            return _address(value)[0]
        except EmailNotValidError as error:
            raise ValueError(str(error)) from error

    @field_validator("ca_certificate")
    @classmethod
    def _check_ca(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ssl.create_default_context(cadata=value)
            except (ssl.SSLError, ValueError) as error:
                raise ValueError(f"is not a PEM certificate: {error}") from error
        return value

    @model_validator(mode="after")
    def _check_credentials(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.username is not None and self.security == "none":
            raise ValueError("a password would travel in plain text: use security "
                             "starttls or tls with username/password")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]


class EmailNotifier(Notifier):
    name = "email"
    Config = EmailConfig

    def __init__(self, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now

    def validate_recipient(self, recipient: str) -> str:
        try:
            return _address(recipient.strip())[0]
        except EmailNotValidError as error:
            raise InvalidRecipient(f"{recipient!r} is not an email address: {error}") from error

    async def send(self, message: Message, config: Any) -> DeliveryResult:
        if not message.recipient:
            return DeliveryResult.failed("no recipient")
        try:
            recipient = self.validate_recipient(message.recipient)
        except InvalidRecipient as error:
            return DeliveryResult.failed(str(error))
        sender, domain = _address(config.from_address)
        mail = compose(message, sender=sender, recipient=recipient, domain=domain,
                       now=self._now())
        tls_context = (ssl.create_default_context(cadata=config.ca_certificate)
                       if config.ca_certificate else None)
        try:
            await aiosmtplib.send(
                mail,
                sender=sender,
                recipients=[recipient],
                hostname=config.host,
                port=config.effective_port,
                username=config.username,
                password=(config.password.get_secret_value()
                          if config.password is not None else None),
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",  # True: required; False: never
                tls_context=tls_context,
                timeout=config.timeout,
            )
        except Exception as error:  # classified below; anything unknown is retried
            return outcome_of(error)
        return DeliveryResult.delivered(str(mail["Message-ID"]))


def outcome_of(error: BaseException) -> DeliveryResult:
    """SMTP failures: 5xx are permanent, 4xx and network trouble are worth another try."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refused = error.recipients[0] if error.recipients else None
        if refused is None:
            return DeliveryResult.retry(f"recipient refused: {error}")
        said = f"recipient {refused.recipient} refused: {refused.code} {refused.message}"
        return (DeliveryResult.failed(said) if refused.code >= 500
                else DeliveryResult.retry(said))
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return DeliveryResult.failed(f"authentication failed: {error.code} {error.message}")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        said = f"SMTP {error.code} {error.message}"
        return DeliveryResult.failed(said) if error.code >= 500 else DeliveryResult.retry(said)
    if isinstance(error, (aiosmtplib.SMTPTimeoutError, asyncio.TimeoutError)):
        return DeliveryResult.retry(f"timed out: {error}")
    if isinstance(error, (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected)):
        return DeliveryResult.retry(f"{type(error).__name__}: {error}")
    if isinstance(error, aiosmtplib.SMTPException):
        # The server lacks what the channel requires (STARTTLS, AUTH): never downgrade.
        return DeliveryResult.failed(f"server cannot do what the channel requires: {error}")
    return DeliveryResult.retry(f"{type(error).__name__}: {error}")
