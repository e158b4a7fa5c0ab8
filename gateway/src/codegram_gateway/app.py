"""Assembles the gateway: operational routes, the routing table and the proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from redis.asyncio import Redis
from starlette.responses import Response

from codegram_gateway.api_docs import MergedOpenAPI, install_api_docs
from codegram_gateway.edge import authenticate, edge_middleware
from codegram_gateway.proxy import Upstreams
from codegram_gateway.routes import JWKS, RouteTable
from codegram_kit.auth import TokenVerifier
from codegram_kit.errors import error_response
from codegram_kit.http import create_app as create_base_app
from codegram_kit.settings import GatewaySettings

SERVICES = ("auth", "users", "snippets", "docs", "github", "social")


def create_app(settings: GatewaySettings) -> FastAPI:
    upstreams = Upstreams(
        {s: getattr(settings, f"{s}_http_url").rstrip("/") for s in SERVICES},
        settings.upstream_timeout_seconds,
        failure_threshold=settings.circuit_failure_threshold,
        open_seconds=settings.circuit_open_seconds,
    )
    table = RouteTable()
    verifier = TokenVerifier.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upstreams.start()
        try:
            yield
        finally:
            await upstreams.close()

    readiness = {}
    if settings.redis_url:
        redis = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        readiness["redis"] = redis.ping
    app = create_base_app(
        "gateway",
        title="CodeGram API",
        lifespan=lifespan,
        readiness=readiness,
        middleware=edge_middleware(settings),
        openapi_url=None,
    )
    install_api_docs(app, MergedOpenAPI(upstreams.base_urls), lambda: upstreams.session)

    @app.api_route(
        "/api/v1/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def proxy(request: Request, path: str) -> Response:
        refusal = await authenticate(request, verifier)
        if refusal is not None:
            return refusal
        route, path_known = table.match(request.method, request.url.path)
        if route is None:
            if path_known:
                return error_response(405, "METHOD_NOT_ALLOWED", "method not allowed")
            return error_response(404, "NOT_FOUND", "not found")
        return await upstreams.forward(request, route.service)

    @app.get(JWKS.pattern, include_in_schema=False)
    async def jwks(request: Request) -> Response:
        return await upstreams.forward(request, JWKS.service)

    return app
