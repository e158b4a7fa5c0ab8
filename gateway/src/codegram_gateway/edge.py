"""Edge policies that run before a request is proxied: CORS, the body limit, token checks."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codegram_kit.auth import TokenVerifier, bearer_token
from codegram_kit.errors import Unauthorized, error_response
from codegram_kit.settings import GatewaySettings

EXPOSED_HEADERS = ["X-Request-ID", "ETag", "Link", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"]
ALLOWED_HEADERS = ["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"]


class BodyTooLarge(Exception):
    pass


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
        declared = dict(scope["headers"]).get(b"content-length")
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


async def authenticate(request: Request, verifier: TokenVerifier) -> Response | None:
    """Refuse a request that carries a bad token at the edge, before it costs a service anything.

    Anonymous requests pass (services decide what needs a user); services verify the token again,
    so nothing the gateway forwards is trusted on its own word. Tokens belong in the Authorization
    header: one in the query string (outside the WebSocket handshake) leaks into logs and is refused.
    """
    if "access_token" in request.query_params:
        return error_response(401, "UNAUTHORIZED", "send the token in the Authorization header")
    if "authorization" not in request.headers:
        return None
    token = bearer_token(request)
    if token is None:
        return error_response(401, "UNAUTHORIZED", "malformed authorization header")
    try:
        await verifier.verify(token)
    except Unauthorized as exc:
        return error_response(401, "UNAUTHORIZED", exc.message)
    return None


def edge_middleware(settings: GatewaySettings) -> list[Middleware]:
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip() and o.strip() != "*"]
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        ),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
