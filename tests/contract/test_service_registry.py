"""The registry of services, each service's declared peers, the code that calls them, the gateway
and the dev stack agree (the rendered manifests are held to them in test_network_policy.py)."""

from __future__ import annotations

import ast
import importlib
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest

from codegram_clients import registry
from codegram_devstack.fleet import SERVICES, Fleet, Ports
from codegram_gateway import app as gateway_app
from codegram_gateway.config import GatewaySettings
from codegram_kit.runtime.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


def _targets(fields: Iterable[str]) -> set[str]:
    return {f.removesuffix("_grpc_target") for f in fields if f.endswith("_grpc_target")}


def _attributes_read(package_dir: Path) -> set[str]:
    return {
        node.attr
        for path in package_dir.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
    }


def test_the_registry_is_well_formed() -> None:
    names = [s.name for s in registry.SERVICES]
    assert len(set(names)) == len(names)
    ports = [p for s in registry.SERVICES for p in (s.dev_http_port, s.dev_grpc_port)]
    assert len(set(ports)) == len(ports)
    for service in registry.SERVICES:
        assert service.name not in service.calls, f"{service.name} calls itself"
        assert set(service.calls) <= set(names), service
    # Every service folder is in the registry, and every entry has a folder.
    assert {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file()} == set(names)


def test_the_kit_locates_no_service() -> None:
    assert not _targets(ServiceSettings.model_fields)


def _code_of(service: str) -> list[Path]:
    """The service's package and the workspace libraries it depends on (a shared library may
    make a call on the service's behalf, e.g. content reads through the users client)."""
    package = Path(importlib.import_module(f"codegram_{service}").__file__ or "").parent
    dependencies = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    libraries = [
        ROOT / "libs" / name / "src" / name.replace("-", "_")
        for name in dependencies
        if name in ("codegram-content", "codegram-clients")
    ]
    return [package, *libraries]


@pytest.mark.parametrize("service", registry.NAMES)
def test_config_declares_exactly_the_registrys_peers(service: str) -> None:
    config = importlib.import_module(f"codegram_{service}.config")
    definition = importlib.import_module(f"codegram_{service}.__main__").SERVICE
    assert tuple(config.PEERS) == registry.entry(service).calls
    # The settings class the service runs with locates exactly those peers...
    assert _targets(definition.settings_class.model_fields) == set(config.PEERS)
    # ...and the code that runs in it reads exactly those targets (a declared peer it never calls
    # would be a stale grant; one it calls undeclared would be refused by its network policy).
    every_target = {registry.grpc_target_setting(s) for s in registry.NAMES}
    read = set().union(*(_attributes_read(d) for d in _code_of(service))) & every_target
    assert read == {registry.grpc_target_setting(p) for p in config.PEERS}, service
    for peer in config.PEERS:
        # A peer called over gRPC serves a gRPC API.
        assert importlib.import_module(f"codegram_{peer}.__main__").SERVICE.grpc_registrars


def test_the_gateway_forwards_to_the_registrys_upstreams() -> None:
    assert gateway_app.SERVICES == registry.GATEWAY_UPSTREAMS
    fields = {f.removesuffix("_http_url") for f in GatewaySettings.model_fields if f.endswith("_http_url")}
    assert fields == set(registry.GATEWAY_UPSTREAMS)
    settings = GatewaySettings(users_http_url="http://users.example:1/")
    urls = settings.upstream_urls()
    assert set(urls) == set(registry.GATEWAY_UPSTREAMS)
    assert urls["users"] == "http://users.example:1"
    assert urls["auth"] == registry.dev_http_url("auth")


def test_the_dev_stack_gives_each_process_exactly_its_peers(tmp_path: Path) -> None:
    assert SERVICES == registry.NAMES
    fixed = Ports.fixed(8000)
    assert fixed.http == {s.name: s.dev_http_port for s in registry.SERVICES}
    assert fixed.grpc == {s.name: s.dev_grpc_port for s in registry.SERVICES}

    ports = Ports.free()
    fleet = Fleet(state_dir=tmp_path, ports=ports, environment="test")
    fleet.service_db_urls = {s: f"postgresql://{s}@127.0.0.1/codegram" for s in SERVICES}
    specs = {spec.name: spec for spec in fleet.process_specs()}

    def addresses(name: str) -> dict[str, str]:
        return {k: v for k, v in specs[name].env.items() if k.endswith(("_GRPC_TARGET", "_HTTP_URL"))}

    for service in registry.SERVICES:
        assert addresses(service.name) == {
            registry.grpc_target_setting(p).upper(): f"127.0.0.1:{ports.grpc[p]}" for p in service.calls
        }, service.name
    assert addresses("gateway") == {
        registry.http_url_setting(s).upper(): f"http://127.0.0.1:{ports.http[s]}"
        for s in registry.GATEWAY_UPSTREAMS
    }
