"""Settings of the snippets service."""

from __future__ import annotations

from pydantic import Field

from codegram_clients import registry
from codegram_kit.runtime.settings import ServiceSettings

# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ("users", "social")


class SnippetsSettings(ServiceSettings):
    service_name: str = "snippets"
    users_grpc_target: str = registry.dev_grpc_target("users")
    social_grpc_target: str = registry.dev_grpc_target("social")
    # Search ranks the newest this-many matches of a query (bounded work for frequent terms).
    search_candidate_cap: int = Field(default=1000, ge=10, le=100_000)
