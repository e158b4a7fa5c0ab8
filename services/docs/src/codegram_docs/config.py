"""Settings of the docs service."""

from __future__ import annotations

from pydantic import Field

from codegram_clients import registry
from codegram_kit.runtime.settings import ServiceSettings

# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ("users", "social")


class DocsSettings(ServiceSettings):
    service_name: str = "docs"
    users_grpc_target: str = registry.dev_grpc_target("users")
    social_grpc_target: str = registry.dev_grpc_target("social")
    # Search ranks the newest this-many matches of a query (bounded work for frequent terms).
    search_candidate_cap: int = Field(default=1000, ge=10, le=100_000)
    # A large page that takes longer to render is stored as escaped plain text (rendering.py);
    # below the gateway's 10 s upstream timeout, with room for the rest of the write.
    render_timeout_seconds: float = Field(default=6.0, gt=0, le=60)
