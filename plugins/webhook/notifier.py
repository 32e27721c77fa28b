"""The webhook notifier: POSTs each event as a Standard Webhooks message (signed JSON) to the
channel's URL, behind the SSRF guard of `ssrf.py`."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, field_validator

from app.notifications.sdk import DeliveryResult, Message, Notifier, NotifierConfig

from .._http import excerpt, parse_retry_after
from .signing import secret_key, signature
from .ssrf import (
    DestinationRefused,
    HostUnresolvable,
    IPNetwork,
    PinnedTransport,
    Resolver,
    checked_address,
    resolve_with_system,
)

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Headers the plugin owns: a channel may not override what the receiver verifies.
_RESERVED_HEADERS = {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                     "content-length", "host", "transfer-encoding", "connection"}
USER_AGENT = "Tocsin-Webhooks/1"


class WebhookConfig(NotifierConfig):
    url: str = Field(description="http(s) URL the events are POSTed to")
    secret: SecretStr = Field(description="whsec_ followed by base64 of 24-64 random bytes")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="extra request headers (e.g. a bearer token)")
    timeout: float = Field(10.0, gt=0, le=60, description="seconds for the whole request")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials; use headers instead")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as error:
            raise ValueError(f"has an invalid port: {error}") from error
        return value.strip()

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        secret_key(value.get_secret_value())
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, content in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name!r} is set by Tocsin and may not be overridden")
            if any(ch in content for ch in "\r\n\0"):
                raise ValueError(f"the value of {name!r} may not contain line breaks")
        return value


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class WebhookNotifier(Notifier):
    name = "webhook"
    Config = WebhookConfig
    needs_recipients = False

    def __init__(
        self,
        *,
        allowed_networks: Iterable[IPNetwork] | None = None,
        resolver: Resolver = resolve_with_system,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        verify: Any = True,
    ) -> None:
        """`allowed_networks` None means TOCSIN_WEBHOOK_ALLOWED_NETWORKS; `verify` is passed
        to httpx (True, or an ssl.SSLContext trusting a private CA)."""
        self._allowed = None if allowed_networks is None else list(allowed_networks)
        self._resolver = resolver
        self._now = now
        self._verify = verify
        self._ssl_context: ssl.SSLContext | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """Made once: loading the CA bundle costs ~100 ms of CPU, far more than a send."""
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context(verify=self._verify)
        return self._ssl_context

    def allowed_networks(self) -> list[IPNetwork]:
        if self._allowed is not None:
            return self._allowed
        from app.config import get_settings

        return list(get_settings().webhook_allowed_networks)

    async def _address_for(self, config: WebhookConfig) -> str:
        parts = urlsplit(config.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return await checked_address(parts.hostname or "", port, self.allowed_networks(),
                                     self._resolver)

    async def validate_config(self, config: Any) -> None:
        try:
            await self._address_for(config)
        except (DestinationRefused, HostUnresolvable) as error:
            raise ValueError(f"url: {error}") from error

    def payload(self, message: Message) -> bytes:
        data = dict(message.data)
        if message.incident is not None and "incident" not in data:
            data["incident"] = asdict(message.incident)
        occurred = message.occurred_at or self._now()
        body = {"type": message.event_type, "timestamp": occurred.isoformat(), "data": data}
        return json.dumps(body, default=_json_default, separators=(",", ":")).encode()

    async def send(self, message: Message, config: Any) -> DeliveryResult:
        try:
            address = await self._address_for(config)
        except DestinationRefused as error:
            return DeliveryResult.failed(f"refused: {error}")
        except HostUnresolvable as error:
            return DeliveryResult.retry(str(error))
        body = self.payload(message)
        timestamp = int(self._now().timestamp())
        key = secret_key(config.secret.get_secret_value())
        headers = {
            **config.headers,
            "user-agent": USER_AGENT,
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(key, message.idempotency_key, timestamp, body),
        }
        transport = PinnedTransport(address, httpx.AsyncHTTPTransport(verify=self.ssl_context()))
        async with httpx.AsyncClient(transport=transport, timeout=config.timeout,
                                     follow_redirects=False, trust_env=False) as client:
            try:
                response = await client.post(config.url, content=body, headers=headers)
            except httpx.TimeoutException:
                return DeliveryResult.retry(f"timed out after {config.timeout:g}s")
            except httpx.TransportError as error:
                return DeliveryResult.retry(f"connection failed: {error!r}")
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> DeliveryResult:
        status = response.status_code
        said = f"HTTP {status}"
        if response.text:
            said += f": {excerpt(response.text)}"
        if 200 <= status < 300:
            return DeliveryResult.delivered(response.headers.get("x-request-id"))
        if 300 <= status < 400:
            location = response.headers.get("location", "?")
            return DeliveryResult.failed(f"HTTP {status} redirect to {location} not followed")
        if status == 410:
            return DeliveryResult.failed(f"{said} (endpoint gone; channel disabled)",
                                         disable_channel=True)
        if status == 429 or status >= 500:
            return DeliveryResult.retry(
                said, parse_retry_after(response.headers.get("retry-after"), self._now())
            )
        return DeliveryResult.failed(said)
