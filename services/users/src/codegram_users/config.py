"""Settings of the users service."""

from __future__ import annotations

from codegram_kit.runtime.settings import ServiceSettings

# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ()


class UsersSettings(ServiceSettings):
    service_name: str = "users"
