"""Settings every process reads from its environment (pydantic-settings); one subclass per deployable."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]


class BaseProcessSettings(BaseSettings):
    """What the gateway and every service have in common."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    service_name: str = "codegram"
    environment: Environment = "development"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    otel_exporter_otlp_endpoint: str | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str | None = None

    # Access-token verification. In production only the auth service's JWKS is trusted; the
    # test public key exists so that tests (and the dev stack before sign-in is wired) can mint
    # tokens, and it is refused outside development and test.
    jwt_issuer: str = "codegram"
    jwt_audience: str = "codegram-api"
    jwks_url: str | None = None
    jwt_test_public_key: str | None = None
    jwt_leeway_seconds: int = 30
    # Keys are refetched when this old (so removed keys stop verifying) and on an unknown kid,
    # but never more often than the minimum interval.
    jwks_cache_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 5.0

    @model_validator(mode="after")
    def _refuse_test_keys_in_production(self) -> BaseProcessSettings:
        if self.environment == "production" and self.jwt_test_public_key:
            raise ValueError("JWT_TEST_PUBLIC_KEY must not be set in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class ServiceSettings(BaseProcessSettings):
    """A service: one Postgres schema and role, HTTP on 8080 and gRPC on 50051.

    Where its peers are is the subclass's to declare (its `config.py`): one `<peer>_grpc_target`
    per service it calls, and no other.
    """

    database_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/codegram"
    db_schema: str | None = None
    db_pool_size: int = 10
    grpc_port: int = 50051
    grpc_default_timeout_seconds: float = 5.0
    outbox_poll_interval_seconds: float = 0.5
    shutdown_grace_seconds: float = 10.0

    @property
    def schema(self) -> str:  # type: ignore[override]  # pydantic's deprecated schema()
        return self.db_schema or self.service_name
