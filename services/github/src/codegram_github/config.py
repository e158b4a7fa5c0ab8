"""Settings of the github service."""

from __future__ import annotations

from pydantic import Field, model_validator

from codegram_clients import registry
from codegram_kit.runtime.settings import ServiceSettings

# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ("auth", "users")


class GitHubSettings(ServiceSettings):
    service_name: str = "github"
    auth_grpc_target: str = registry.dev_grpc_target("auth")
    users_grpc_target: str = registry.dev_grpc_target("users")

    # GitHub's REST and GraphQL API (API.md "Configuration"; the same variable auth reads).
    github_api_url: str = "https://api.github.com"
    # One request to GitHub: a slower answer is a timeout, which a job retries.
    github_timeout_seconds: float = Field(default=10.0, gt=0)
    # GitHub asks for no more than 100 concurrent requests per token; a sync uses far fewer.
    github_concurrency_per_token: int = Field(default=8, ge=1, le=100)
    # A secondary rate limit without Retry-After: GitHub asks to wait at least a minute.
    github_secondary_wait_seconds: float = Field(default=60.0, ge=0)

    # The work queue: attempts and exponential backoff (with jitter) for GitHub's 5xx and timeouts.
    sync_max_attempts: int = Field(default=3, ge=1)
    sync_backoff_base_seconds: float = Field(default=2.0, ge=0)
    sync_backoff_max_seconds: float = Field(default=300.0, ge=0)
    sync_concurrency: int = Field(default=8, ge=1)
    sync_timeout_seconds: float = Field(default=600.0, gt=0)
    # A job whose process died is delivered again this long after its last sign of life (a
    # running job renews it every third of it).
    sync_ack_wait_seconds: float = Field(default=30.0, gt=0)

    # Contributions: cached in Redis this long; the single-flight lock lives at most this long.
    contributions_cache_seconds: int = Field(default=3600, ge=1)
    contributions_lock_seconds: float = Field(default=30.0, gt=0)

    # Schedules: repositories daily for users who signed in within this many days.
    active_days: int = Field(default=30, ge=1)
    # The dev stack's stand-in for the CronJobs: enqueue the schedules every this many seconds
    # (idempotent per user and day). Unset: on in development, off elsewhere (CronJobs do it).
    schedule_loop_seconds: float | None = None

    @model_validator(mode="after")
    def _schedule_loop_in_development(self) -> GitHubSettings:
        if self.schedule_loop_seconds is None and self.environment == "development":
            self.schedule_loop_seconds = 3600.0
        return self
