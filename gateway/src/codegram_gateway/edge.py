"""Edge policies that run before a request is proxied: CORS, the body limit, token checks,
rate limits and routing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import parse_qs

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codegram_gateway.config import GatewaySettings
from codegram_gateway.proxy import (
    BodyTooLarge,
    Upstreams,
    accept_and_close,
    deny_handshake,
    with_headers,
)
from codegram_gateway.ratelimit import Decision, Rate, RateLimiter
from codegram_gateway.routes import GATEWAY, Route, RouteTable
from codegram_kit.web.errors import Unauthorized, error_response
from codegram_kit.web.sockets import OpenSockets
from codegram_kit.web.tokens import Principal, TokenVerifier, parse_bearer

API_PREFIX = "/api/v1/"
AUTH_PREFIX = "/api/v1/auth/"
# Socket.IO's own path, outside the API (its clients expect it at the root).
SOCKET_IO_PREFIX = "/socket.io/"
# Set on a request's scope once CORS and the body limit have it (ApiEdge.guarded).
_GUARDED = "codegram.guarded"
EXPOSED_HEADERS = [
    "X-Request-ID",
    "ETag",
    "Link",
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]
ALLOWED_HEADERS = ["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"]


class BodyLimitMiddleware:
    """413 before reading a body whose Content-Length is over the limit, and as soon as a
    streamed body crosses it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                streamed = True
        if declared is None and not streamed:
            await self.app(scope, receive, send)  # no body to count
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "PAYLOAD_TOO_LARGE", f"request bodies are limited to {self.max_bytes} bytes"
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def client_ip(scope: Scope, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """The socket peer, unless it is a trusted proxy: then the nearest untrusted address in
    X-Forwarded-For (read right to left, since a client can write anything at its left end)."""
    peer = scope["client"][0] if scope.get("client") else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for").decode("latin-1")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return hops[0] if hops and _is_address(hops[0]) else peer


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def _is_trusted(address: str, trusted: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def parse_networks(text: str) -> list[IPv4Network | IPv6Network]:
    return [ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class Limits:
    anonymous: Rate
    authenticated: Rate
    auth: Rate

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> Limits:
        return cls(
            Rate.parse(settings.rate_limit_anonymous),
            Rate.parse(settings.rate_limit_authenticated),
            Rate.parse(settings.rate_limit_auth),
        )


class ApiEdge:
    """Pure ASGI handling of `/api/v1/*` and `/socket.io/`: token check, rate limit, route,
    then proxy (HTTP or WebSocket) or hand over to the gateway's own routes. Kept off FastAPI's
    routing and dependency machinery because every public request passes here."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        table: RouteTable,
        upstreams: Upstreams,
        verifier: TokenVerifier,
        limiter: RateLimiter,
        limits: Limits,
        trusted_proxies: Sequence[IPv4Network | IPv6Network] = (),
        websocket_max_per_user: int = 10,
    ) -> None:
        self.app = app
        self.table = table
        self.upstreams = upstreams
        self.verifier = verifier
        self.limiter = limiter
        self.limits = limits
        self.trusted = list(trusted_proxies)
        self.sockets = OpenSockets(websocket_max_per_user)
        # CORS and the body limit, around this edge again (see edge_stack): a request with an
        # Origin header or a body goes through them first.
        self.guarded: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.guarded is not None and _GUARDED not in scope:
            # Both layers would pass anything else through unchanged, so only these pay for them
            # (checked here, not in a layer in front: each coroutine level costs every request).
            for name, _ in scope["headers"]:
                if name == b"origin" or name == b"content-length" or name == b"transfer-encoding":
                    scope[_GUARDED] = True
                    await self.guarded(scope, receive, send)
                    return
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(
            (API_PREFIX, SOCKET_IO_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        websocket = scope["type"] == "websocket"
        token, refusal = _token(scope, websocket)
        principal: Principal | None = None
        if token is not None and refusal is None:
            # A token seen a moment ago, and the limit on this replica's counts, are known without
            # a coroutine (each level costs every request); the rest is awaited.
            principal = self.verifier.remembered(token)
            if principal is None:
                try:
                    principal = await self.verifier.verify(token)
                except Unauthorized as exc:
                    refusal = exc.message
        decision = self._limit_locally(scope, principal)
        if decision is None:
            decision = await self._limit(scope, principal)
        if websocket:
            await self._websocket(scope, receive, send, decision, refusal, token, principal)
            return
        limit_headers = decision.headers()
        if not decision.allowed:
            send = with_headers(send, limit_headers)
            await _error(scope, receive, send, 429, "RATE_LIMITED", "too many requests, slow down")
            return
        if refusal is not None:
            send = with_headers(send, limit_headers)
            await _error(scope, receive, send, 401, "UNAUTHORIZED", refusal)
            return
        route, allowed = self.table.match(scope["method"], scope["path"])
        scope["route"] = route  # labels the request's metrics with its pattern, not its path
        if route is not None and not route.websocket and route.service != GATEWAY:
            # The common case, called from here (each coroutine level costs every resumption):
            # the proxy adds the limit headers to the service's own.
            await self.upstreams.forward(scope, receive, send, route.service, route.timeout, limit_headers)
        else:
            await self._not_proxied(scope, receive, with_headers(send, limit_headers), route, allowed)

    def _limit_locally(self, scope: Scope, principal: Principal | None) -> Decision | None:
        """`_limit` when this replica's counts decide (None: ask `_limit`)."""
        if scope["path"].startswith(AUTH_PREFIX):
            return None  # sign-in is counted exactly, in Redis
        if principal is not None:
            return self.limiter.check_locally("user", principal.user_id, self.limits.authenticated)
        return self.limiter.check_locally("ip", client_ip(scope, self.trusted), self.limits.anonymous)

    async def _limit(self, scope: Scope, principal: Principal | None) -> Decision:
        if scope["path"].startswith(AUTH_PREFIX):
            # Sign-in is per client address whoever asks, exact (and low volume).
            return await self.limiter.check(
                "auth", client_ip(scope, self.trusted), self.limits.auth, exact=True
            )
        if principal is not None:
            return await self.limiter.check("user", principal.user_id, self.limits.authenticated)
        return await self.limiter.check("ip", client_ip(scope, self.trusted), self.limits.anonymous)

    async def _not_proxied(
        self, scope: Scope, receive: Receive, send: Send, route: Route | None, allowed: frozenset[str]
    ) -> None:
        if route is None:
            if allowed:
                # RFC 9110 15.5.6: a 405 lists the methods the target answers.
                allow = {"Allow": ", ".join(sorted(allowed))}
                await error_response(405, "METHOD_NOT_ALLOWED", "method not allowed", headers=allow)(
                    scope, receive, send
                )
            else:
                await _error(scope, receive, send, 404, "NOT_FOUND", "not found")
        elif route.websocket:
            await _error(scope, receive, send, 426, "UPGRADE_REQUIRED", "this endpoint speaks WebSocket")
        else:
            await self.app(scope, receive, send)  # the gateway's own route

    async def _websocket(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        decision: Decision,
        refusal: str | None,
        token: str | None,
        principal: Principal | None,
    ) -> None:
        route, _ = self.table.match("GET", scope["path"])
        if route is None or not route.websocket:
            await _refuse_websocket(receive, send, 4404, "not found")
        elif not route.token_in_handshake:
            # The service verifies the token the protocol sends next and refuses in the
            # protocol's own terms; no user is known here to count the socket against. Its
            # clients read no close codes: a refusal here is an HTTP status at the handshake.
            if decision.allowed:
                await self.upstreams.forward_websocket(scope, receive, send, route.service, None)
            else:
                await receive()  # websocket.connect
                limited = error_response(429, "RATE_LIMITED", "too many requests, slow down")
                limited.raw_headers.extend(decision.headers())
                await deny_handshake(scope, send, limited)
        elif not decision.allowed:
            await _refuse_websocket(receive, send, 4429, "too many requests")
        elif refusal is not None or token is None or principal is None:
            await _refuse_websocket(receive, send, 4401, refusal or "token required")
        elif not self.sockets.take(principal.user_id):
            await _refuse_websocket(receive, send, 4429, "too many open connections")
        else:
            try:
                await self.upstreams.forward_websocket(scope, receive, send, route.service, token)
            finally:
                self.sockets.give_back(principal.user_id)


async def _refuse_websocket(receive: Receive, send: Send, code: int, reason: str) -> None:
    await receive()  # websocket.connect
    await accept_and_close(send, code, reason)


def _token(scope: Scope, websocket: bool) -> tuple[str | None, str | None]:
    """The bearer token of a request, or why it is refused. Tokens belong in the Authorization
    header: one in the query string leaks into logs, so only the WebSocket handshake (which
    browsers cannot give headers) may carry one there."""
    raw_query = scope.get("query_string", b"")
    in_query = (
        parse_qs(raw_query.decode("latin-1")).get("access_token") if b"access_token" in raw_query else None
    )
    header = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value
            break
    if in_query and not websocket:
        return None, "send the token in the Authorization header"
    if header is None:
        return (in_query[0], None) if in_query else (None, None)
    token = parse_bearer(header.decode("latin-1"))
    if token is None:
        return None, "malformed authorization header"
    return token, None


async def _error(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    await error_response(status, code, message)(scope, receive, send)


def edge_stack(settings: GatewaySettings, app: ASGIApp, api_edge: dict[str, Any]) -> ASGIApp:
    """CORS outermost (a preflight costs nothing else), then the body limit, then the API edge, in
    front of `app` (the gateway's own routes). The edge is what the server calls: it sends a
    request with an Origin header or a body through the other two, which call it back."""
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip() and o.strip() != "*"]
    edge = ApiEdge(app, **api_edge)
    edge.guarded = CORSMiddleware(
        BodyLimitMiddleware(edge, max_bytes=settings.max_body_bytes),
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    return edge
