"""Settings: every knob is an environment variable named TOCSIN_* (a `.env` file may hold them).

The defaults give the one-process development run: SQLite in `tocsin.db`, an in-process broker,
GraphiQL and introspection on. `TOCSIN_ENV=production` turns the developer conveniences off.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    # NoDecode: the variable is a comma-separated list, not JSON.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_page_size: int = 100
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    # Hardening (issue 9): request size, batching, suggestions, rate limits.
    max_body_bytes: int = 1_000_000
    batching: bool = False
    max_batch_size: int = 10
    field_suggestions: bool | None = None
    rate_limit_per_token: float = 200.0
    rate_limit_per_address: float = 500.0
    rate_limit_auth_failures: int = 30

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
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
    def field_suggestions_enabled(self) -> bool:
        """"Did you mean …" hints leak the schema: off whenever introspection is."""
        if self.field_suggestions is not None:
            return self.field_suggestions and self.introspection_enabled
        return self.introspection_enabled

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
