"""The fleet's services: names, dev ports and who calls whom, read by the dev stack, the gateway and
the contract tests that hold the manifests to it.

A service's `config.py` declares the peers it calls (`PEERS`, one `<peer>_grpc_target` setting
each); `calls` here must say the same (tests/contract/test_service_registry.py). The gateway
forwards to every service's public HTTP API. In the cluster every service listens on HTTP 8080 and
gRPC 50051 behind a Service named `codegram-<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass

CLUSTER_HTTP_PORT = 8080
CLUSTER_GRPC_PORT = 50051


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One deployable service."""

    name: str
    # The fixed ports of `make up` (tests use free ports instead).
    dev_http_port: int
    dev_grpc_port: int
    # The services whose gRPC API this one calls.
    calls: tuple[str, ...] = ()


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("auth", 8101, 50101, calls=("users",)),
    ServiceEntry("users", 8102, 50102, calls=("social",)),
    ServiceEntry("snippets", 8103, 50103, calls=("users", "social")),
    ServiceEntry("docs", 8104, 50104, calls=("users", "social")),
    ServiceEntry("github", 8105, 50105, calls=("auth", "users")),
    ServiceEntry("social", 8106, 50106, calls=("users", "snippets", "docs")),
)
NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)
# The services whose public HTTP API the gateway forwards to: all of them.
GATEWAY_UPSTREAMS: tuple[str, ...] = NAMES


def entry(name: str) -> ServiceEntry:
    """The registry entry of one service (KeyError for a name the fleet does not have)."""
    for service in SERVICES:
        if service.name == name:
            return service
    raise KeyError(name)


def grpc_target_setting(peer: str) -> str:
    """The setting (field name; upper-cased, the environment variable) locating a peer's gRPC API."""
    return f"{peer}_grpc_target"


def http_url_setting(service: str) -> str:
    """The gateway's setting locating a service's public HTTP API."""
    return f"{service}_http_url"


def dev_grpc_target(name: str) -> str:
    """Where a peer's gRPC API is under `make up` (the settings' default)."""
    return f"127.0.0.1:{entry(name).dev_grpc_port}"


def dev_http_url(name: str) -> str:
    """Where a service's HTTP API is under `make up` (the gateway settings' default)."""
    return f"http://127.0.0.1:{entry(name).dev_http_port}"


def cluster_grpc_target(name: str) -> str:
    """A peer's gRPC API in the cluster (the manifests give each caller exactly these)."""
    return f"codegram-{entry(name).name}:{CLUSTER_GRPC_PORT}"


def cluster_http_url(name: str) -> str:
    """A service's HTTP API in the cluster."""
    return f"http://codegram-{entry(name).name}:{CLUSTER_HTTP_PORT}"
