"""The gateway's settings: where each service's public HTTP API lives, and the edge's limits."""

from __future__ import annotations

from pydantic import Field

from codegram_clients import registry
from codegram_kit.runtime.settings import BaseProcessSettings


class GatewaySettings(BaseProcessSettings):
    """The edge: where each service's public HTTP API lives."""

    service_name: str = "gateway"
    # One per service of codegram_clients.registry (GATEWAY_UPSTREAMS); defaults: `make up`'s.
    auth_http_url: str = registry.dev_http_url("auth")
    users_http_url: str = registry.dev_http_url("users")
    snippets_http_url: str = registry.dev_http_url("snippets")
    docs_http_url: str = registry.dev_http_url("docs")
    github_http_url: str = registry.dev_http_url("github")
    social_http_url: str = registry.dev_http_url("social")
    upstream_timeout_seconds: float = 10.0
    circuit_failure_threshold: int = 5
    circuit_open_seconds: float = 5.0
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    cors_origins: str = "http://localhost:3000"
    # Limits like `120/minute`; the sync interval is how often local counts are reconciled with
    # Redis (0: an exact Redis check per request). See codegram_gateway.ratelimit.
    rate_limit_anonymous: str = "120/minute"
    rate_limit_authenticated: str = "600/minute"
    rate_limit_auth: str = "20/minute"
    rate_limit_sync_interval_ms: int = Field(default=100, ge=0)
    # Comma-separated addresses or CIDRs of proxies in front of the gateway whose
    # X-Forwarded-For is believed; any other peer is the client itself.
    trusted_proxies: str = ""
    search_timeout_seconds: float = 5.0
    # Connections to the services for HTTP forwarding and search; WebSockets have their own pool.
    upstream_max_connections: int = Field(default=512, ge=1)
    # Open WebSockets one user may hold through this gateway process (each replica counts its own).
    websocket_max_per_user: int = Field(default=10, ge=1)

    def upstream_urls(self) -> dict[str, str]:
        """Each upstream service's HTTP API, by name, without a trailing slash."""
        return {
            s: str(getattr(self, registry.http_url_setting(s))).rstrip("/")
            for s in registry.GATEWAY_UPSTREAMS
        }
