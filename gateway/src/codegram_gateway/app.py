"""Assembles the gateway: the request context and the API edge (limits, routing, proxy) outermost,
then its own routes (operational, search, docs) on FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.datastructures import State
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from codegram_clients import registry
from codegram_gateway import search
from codegram_gateway.api_docs import MergedOpenAPI, install_api_docs
from codegram_gateway.config import GatewaySettings
from codegram_gateway.edge import Limits, edge_stack, parse_networks
from codegram_gateway.proxy import Upstreams
from codegram_gateway.ratelimit import RateLimiter
from codegram_gateway.routes import JWKS, RouteTable
from codegram_kit.runtime.readiness import degradable
from codegram_kit.runtime.stalls import StallWatch
from codegram_kit.web.app import RequestContextMiddleware
from codegram_kit.web.app import create_app as create_base_app
from codegram_kit.web.tokens import TokenVerifier

# The services the gateway forwards to (codegram_clients.registry).
SERVICES = registry.GATEWAY_UPSTREAMS


class Gateway(RequestContextMiddleware):
    """The ASGI app the server runs: the request context, then the edge (CORS, body limit, token,
    limits, routing, proxy) as plain ASGI layers. FastAPI sits behind them for the gateway's own
    routes only (health, metrics, search, docs, JWKS), so a proxied request never enters it."""

    def __init__(self, api: FastAPI, edge: ASGIApp) -> None:
        super().__init__(edge, service="gateway")
        self.api = api

    @property
    def state(self) -> State:
        return self.api.state


def create_app(settings: GatewaySettings) -> Gateway:
    upstreams = Upstreams(
        settings.upstream_urls(),
        settings.upstream_timeout_seconds,
        failure_threshold=settings.circuit_failure_threshold,
        open_seconds=settings.circuit_open_seconds,
        max_connections=settings.upstream_max_connections,
    )
    limits = Limits.from_settings(settings)  # refuses a malformed RATE_LIMIT_* at start-up
    # Two clients: readiness reports Redis as it is, while the limiter gives up on it quickly
    # (a slow Redis must not slow requests; the limiter then counts locally).
    limiter_redis = readiness_redis = None
    if settings.redis_url:
        limiter_redis = Redis.from_url(settings.redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
        readiness_redis = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    limiter = RateLimiter(limiter_redis, sync_interval=settings.rate_limit_sync_interval_ms / 1000)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await upstreams.start()
        limiter.start()
        stalls = StallWatch("gateway")
        stalls.start()
        try:
            yield
        finally:
            await stalls.stop()
            await limiter.close()
            await upstreams.close()
            if readiness_redis is not None:
                await readiness_redis.aclose()

    api = create_base_app(
        "gateway",
        title="CodeGram API",
        lifespan=lifespan,
        # Without Redis the gateway still serves, limiting on local counts: reported, not unready.
        readiness={"redis": degradable(readiness_redis.ping)} if readiness_redis is not None else {},
        openapi_url=None,
        request_context=False,  # outermost, around the edge (below)
    )
    api.include_router(search.router)
    api.state.search = search.SearchFanOut(upstreams, settings.search_timeout_seconds)
    install_api_docs(api, MergedOpenAPI(upstreams.base_urls, own=api), lambda: upstreams.session)

    async def jwks(scope: Scope, receive: Receive, send: Send) -> None:
        await upstreams.forward(scope, receive, send, JWKS.service)

    api.router.routes.append(Route(JWKS.pattern, _AsgiEndpoint(jwks), methods=["GET"]))
    edge = edge_stack(
        settings,
        api,
        {
            "table": RouteTable(),
            "upstreams": upstreams,
            "verifier": TokenVerifier.from_settings(settings),
            "limiter": limiter,
            "limits": limits,
            "trusted_proxies": parse_networks(settings.trusted_proxies),
            "websocket_max_per_user": settings.websocket_max_per_user,
        },
    )
    return Gateway(api, edge)


class _AsgiEndpoint:
    """Marks a callable as a raw ASGI endpoint for Starlette's router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
