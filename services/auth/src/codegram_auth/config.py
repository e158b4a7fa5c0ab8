"""Settings of the auth service."""

from __future__ import annotations

from pydantic import model_validator

from codegram_clients import registry
from codegram_kit.runtime.settings import ServiceSettings

# Development-only defaults, refused in production.
_DEV_ENCRYPTION_KEY = "ZGV2ZWxvcG1lbnQtb25seS1lbmNyeXB0aW9uLWtleSE="
_DEV_GITHUB_SECRET = "codegram-local-secret"


# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ("users",)


class AuthSettings(ServiceSettings):
    service_name: str = "auth"
    users_grpc_target: str = registry.dev_grpc_target("users")
    github_client_id: str = "codegram-local"
    github_client_secret: str = _DEV_GITHUB_SECRET
    github_oauth_url: str = "https://github.com"
    github_api_url: str = "https://api.github.com"
    github_timeout_seconds: float = 5.0
    auth_redirect_uris: str = "http://localhost:3000/auth/callback"
    # Fernet keys (urlsafe base64, 32 bytes), comma-separated, newest first: private signing keys
    # and GitHub tokens are encrypted at rest with the first and decrypted with any.
    auth_encryption_keys: str = _DEV_ENCRYPTION_KEY
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 7 * 24 * 3600
    oauth_state_ttl_seconds: int = 600

    @property
    def redirect_uris(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.auth_redirect_uris.split(",") if u.strip())

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> AuthSettings:
        if self.is_production:
            if _DEV_ENCRYPTION_KEY in self.auth_encryption_keys:
                raise ValueError("AUTH_ENCRYPTION_KEYS must be set in production")
            if self.github_client_secret == _DEV_GITHUB_SECRET:
                raise ValueError("GITHUB_CLIENT_SECRET must be set in production")
            if not self.redis_url:
                raise ValueError("REDIS_URL must be set")
        return self
