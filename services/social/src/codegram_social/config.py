"""Settings of the social service."""

from __future__ import annotations

from pydantic import Field

from codegram_clients import registry
from codegram_kit.runtime.settings import ServiceSettings

# The services whose gRPC API this one calls (codegram_clients.registry says the same); the
# settings locate exactly these.
PEERS: tuple[str, ...] = ("users", "snippets", "docs")


class SocialSettings(ServiceSettings):
    service_name: str = "social"
    users_grpc_target: str = registry.dev_grpc_target("users")
    snippets_grpc_target: str = registry.dev_grpc_target("snippets")
    docs_grpc_target: str = registry.dev_grpc_target("docs")
    # Home timelines keep this many newest items per user; the feed reads past them from the
    # content read model (feed.py).
    feed_timeline_cap: int = Field(default=800, ge=1)
    # Likes and follows each hold a connection for their short transaction, and the push and
    # feed consumers hold theirs while they work: past the pool, every checkout opens a
    # connection and closes it on return (a new backend each time, milliseconds of CPU on both
    # sides), so the pool is sized for the requests a replica serves at once.
    db_pool_size: int = 40
    # Socket.IO clients one user may hold open on one replica (the gateway cannot count them: the
    # token travels in the connect packet, after its handshake).
    socket_io_max_per_user: int = Field(default=10, ge=1)
