"""The gateway's routing table and the services' OpenAPI agree: no dead route, no unreachable path.

WebSocket endpoints are not in OpenAPI; they are checked against the apps' WebSocket routes."""

from __future__ import annotations

import importlib
import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute
from starlette.routing import WebSocketRoute

from codegram_devstack.fleet import SERVICES
from codegram_gateway.app import create_app as create_gateway_app
from codegram_gateway.config import GatewaySettings
from codegram_gateway.routes import GATEWAY, ROUTES, RouteTable


def _app(service: str) -> FastAPI:
    if service == GATEWAY:
        return create_gateway_app(GatewaySettings()).api  # the FastAPI app of its own routes
    definition = importlib.import_module(f"codegram_{service}.__main__").SERVICE
    return definition.create_app(definition.settings(redis_url="redis://127.0.0.1:1/0"))  # never connected


def _operations(app: FastAPI) -> set[tuple[str, str]]:
    http = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in item
    }
    sockets = {("WEBSOCKET", r.path) for r in app.routes if isinstance(r, WebSocketRoute | APIWebSocketRoute)}
    return http | sockets


OPERATIONS = {name: _operations(_app(name)) for name in (*SERVICES, GATEWAY)}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "some-value", path)


@pytest.mark.parametrize("service", [*SERVICES, GATEWAY])
def test_every_public_operation_is_routed_to_its_service(service: str) -> None:
    table = RouteTable()
    for method, path in OPERATIONS[service]:
        route, _ = table.match("GET" if method == "WEBSOCKET" else method, _concrete(path))
        assert route is not None and route.service == service, (method, path)
        assert route.websocket == (method == "WEBSOCKET"), (method, path)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_route_reaches_an_operation() -> None:
    for route in ROUTES:
        served = {(method, _shape(path)) for method, path in OPERATIONS[route.service]}
        for method in ["WEBSOCKET"] if route.websocket else route.methods:
            assert (method, _shape(route.pattern)) in served, (method, route)
