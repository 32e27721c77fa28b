"""Settings: every knob is an environment variable named TOCSIN_* (a `.env` file may hold them).

The defaults give the one-process development run: SQLite in `tocsin.db`, an in-process broker,
GraphiQL and introspection on. `TOCSIN_ENV=production` turns the developer conveniences off.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REDIS_SCHEMES = ("redis", "rediss", "unix")  # the URL schemes the Redis client speaks


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOCSIN_", env_file=".env", extra="ignore", populate_by_name=True
    )

    env: str = "development"
    database_url: str = "sqlite://tocsin.db"
    broker_url: str = "memory://"
    secret_key: str | None = None
    log_level: str = "INFO"
    introspection: bool | None = None
    graphiql: bool | None = None
    # NoDecode: a comma-separated list, not JSON (split by the validator below)
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_page_size: int = 100
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    # CIDRs a webhook may reach although they are private/loopback/link-local (comma-separated)
    webhook_allowed_networks: Annotated[
        list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode
    ] = Field(default_factory=list)
    # The public status page (/status): its title, and an optional logo and brand text.
    status_title: str = "Service status"
    status_logo_url: str | None = None
    status_brand: str | None = None
    # Notifications (app/notifications): comma-separated lists stay strings here and are
    # parsed by the properties below, so the environment needs no JSON.
    disabled_plugins: str = ""
    delivery_retry_schedule: str = ""
    delivery_lease_seconds: float = 60.0
    delivery_send_timeout: float = 30.0
    delivery_concurrency: int = 32
    delivery_batch_size: int = 200
    delivery_poll_seconds: float = 1.0
    worker: bool = True  # run the delivery worker inside `serve` (`serve --no-worker`: off)
    sla_clock: bool = True  # run the SLA clock in this process
    # Live updates (WebSocket subscriptions and the broker)
    broker_channel: str = "tocsin_events"
    ws_queue_size: int = 1000  # frames queued per connection before it counts as too slow
    ws_keepalive_seconds: float = 15.0
    ws_init_timeout_seconds: float = 10.0
    ws_max_subscriptions: int = 100  # per connection
    # Operations (app/ops): /metrics on or off, how long a scrape waits for database-derived
    # gauges, how long in-flight requests may run on after SIGTERM.
    metrics: bool = True
    metrics_gauge_timeout: float = 2.0
    shutdown_grace_seconds: float = 30.0
    # Hardening (issue 9): request size, batching, suggestions, rate limits.
    max_body_bytes: int = 1_000_000
    batching: bool = False
    max_batch_size: int = 10
    field_suggestions: bool | None = None
    rate_limit_per_token: float = 200.0
    rate_limit_per_address: float = 500.0
    rate_limit_auth_failures: int = 30
    # Where the rate limits' buckets live (see `rate_limit_store`): memory:// or redis://…
    rate_limit_url: str | None = None
    # Under uvicorn's websockets-sansio protocol, write frames straight to the transport
    # (app/live/direct.py); false sends every frame through the ASGI `send`.
    ws_direct_writes: bool = True

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [ipaddress.ip_network(part) if isinstance(part, str) else part
                    for part in value]
        return value

    @property
    def production(self) -> bool:
        return self.env.lower() == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.production

    @property
    def disabled_plugin_names(self) -> set[str]:
        return {name.strip() for name in self.disabled_plugins.split(",") if name.strip()}

    @property
    def retry_schedule(self) -> list[float]:
        """Seconds to wait after each failed attempt; DEAD once they are all spent."""
        from app.notifications.retry import DEFAULT_SCHEDULE, parse_schedule

        if not self.delivery_retry_schedule.strip():
            return list(DEFAULT_SCHEDULE)
        return parse_schedule(self.delivery_retry_schedule)

    @property
    def field_suggestions_enabled(self) -> bool:
        """"Did you mean …" hints leak the schema: off whenever introspection is."""
        if self.field_suggestions is not None:
            return self.field_suggestions and self.introspection_enabled
        return self.introspection_enabled

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_memory_broker(self) -> bool:
        return self.broker_url.strip().lower().startswith("memory:")

    @property
    def rate_limit_store(self) -> str:
        """Where the rate limiter keeps its buckets: TOCSIN_RATE_LIMIT_URL when set, else the
        broker's Redis when the broker is Redis (shared by every process), else this process's
        memory (`memory://`: each process counts its own share)."""
        if self.rate_limit_url and self.rate_limit_url.strip():
            return self.rate_limit_url.strip()
        broker = self.broker_url.strip()
        return broker if broker.split(":", 1)[0].lower() in REDIS_SCHEMES else "memory://"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
