"""Settings of the users service."""

from __future__ import annotations

from codegram_clients import registry
from codegram_kit.runtime.settings import ServiceSettings

# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ("social",)


class UsersSettings(ServiceSettings):
    service_name: str = "users"
    social_grpc_target: str = registry.dev_grpc_target("social")
