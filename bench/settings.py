"""Settings for the API under benchmark: the per-token and per-address rate limits are off
(every load client shares one token and 127.0.0.1), so the figures measure the API itself.
bench/abuse.py measures the limiter on purpose and builds its own settings."""

from __future__ import annotations

from typing import Any

from app.config import Settings


def bench_settings(**changes: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, rate_limit_per_token=0, rate_limit_per_address=0,
        rate_limit_auth_failures=0, **changes,
    )
