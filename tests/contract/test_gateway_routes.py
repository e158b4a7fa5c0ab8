"""The gateway's routing table and the services' OpenAPI agree: no dead route, no unreachable path."""

from __future__ import annotations

import importlib
import re

import pytest

from codegram_devstack.fleet import SERVICES
from codegram_gateway.routes import ROUTES, RouteTable


def _operations(service: str) -> set[tuple[str, str]]:
    definition = importlib.import_module(f"codegram_{service}.__main__").SERVICE
    app = definition.create_app(definition.settings(redis_url="redis://127.0.0.1:1/0"))  # never connected
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    }


OPERATIONS = {service: _operations(service) for service in SERVICES}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-value", path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_public_operation_is_routed_to_its_service(service: str) -> None:
    table = RouteTable()
    for method, path in OPERATIONS[service]:
        route, _ = table.match(method, _concrete(path))
        assert route is not None and route.service == service, (method, path)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_reaches_an_operation() -> None:
    for route in ROUTES:
        served = {(method, _shape(path)) for method, path in OPERATIONS[route.service]}
        for method in route.methods:
            assert (method, _shape(route.pattern)) in served, (method, route)
