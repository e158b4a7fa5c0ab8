"""Forwards a public request to the service the routing table names, streaming both bodies,
and pipes WebSocket frames both ways. Pure ASGI: no framework objects on the hot path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Sequence
from urllib.parse import quote

import aiohttp
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from codegram_gateway.breaker import CircuitBreaker
from codegram_gateway.upstream_http import ConnectFailed, Pool, UpstreamError
from codegram_kit.runtime.context import current_request_id
from codegram_kit.runtime.tracing import header_lines as trace_header_lines
from codegram_kit.web.errors import error_response

log = logging.getLogger("codegram.gateway")

# RFC 9110 section 7.6.1: connection-specific fields are not forwarded; aiohttp sets framing.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Methods whose requests carry no body unless their headers declare one.
_BODILESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
# RFC 9110 section 9.2.2.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Identity and internal headers a client must not be able to set, and forwarding headers the
# gateway writes itself.
STRIPPED_REQUEST_HEADERS = frozenset(
    {"x-user-id", "x-forwarded-user", "x-internal-auth", "x-request-id", "x-forwarded-for", "forwarded"}
)
_REQUEST_DROPPED = frozenset(h.encode() for h in HOP_BY_HOP | STRIPPED_REQUEST_HEADERS)
# What the gateway drops from a service's response: its framing is passed on as declared (a known
# Content-Length spares the client chunked encoding), and the request id is the gateway's own.
_RESPONSE_DROPPED = frozenset(h.encode() for h in HOP_BY_HOP - {"content-length"}) | {b"x-request-id"}
# A response up to this size whose length is declared is read whole and sent in one message.
_WHOLE_BODY_BYTES = 256 * 1024
# A service's HTTP refusal of a WebSocket handshake, as the close code the client gets.
_HANDSHAKE_REFUSALS = {401: 4401, 403: 4401, 429: 4429, 502: 1013, 503: 1013, 504: 1013}
# The same refusal passed on as an HTTP status, to clients that read no close codes (Socket.IO).
_HANDSHAKE_STATUSES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}
# WebSocket handshake fields that aiohttp writes for the upstream leg itself.
_WEBSOCKET_OWN = frozenset(
    {b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol"}
)


class BodyTooLarge(Exception):
    """Raised while streaming a request body that crosses the limit (see edge.BodyLimitMiddleware)."""


class Upstreams:
    def __init__(
        self,
        base_urls: dict[str, str],
        timeout: float,
        *,
        failure_threshold: int = 5,
        open_seconds: float = 5.0,
        max_connections: int = 512,
    ) -> None:
        self.base_urls = base_urls
        self.read_timeout = timeout
        self.timeout = _timeout(timeout)
        self.max_connections = max_connections
        # The proxied path's client, one pool of keep-alive connections per service
        # (upstream_http): at most `max_connections` to each. Made again at each start.
        self.pools: dict[str, Pool] = {}
        # aiohttp for the rest: the search fan-out and the API documents.
        self.session: aiohttp.ClientSession | None = None
        # A proxied WebSocket holds its upstream connection for as long as it lives: in the HTTP
        # pool, a user's sockets would take the slots requests wait for. Sockets get their own
        # session, unbounded here (the per-user cap at the edge bounds them).
        self.websocket_session: aiohttp.ClientSession | None = None
        self.breakers = {s: CircuitBreaker(failure_threshold, open_seconds) for s in base_urls}

    async def start(self) -> None:
        self.pools = {s: Pool(url, max_connections=self.max_connections) for s, url in self.base_urls.items()}
        connector = aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=30, ttl_dns_cache=60)
        # One session serves every caller: a cookie a service sets is passed to its caller and
        # never kept (a jar would send it on with everyone's next request, and costs each request).
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            timeout=self.timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self.websocket_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=60),
            timeout=self.timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        for pool in self.pools.values():
            pool.close()
        for session in (self.session, self.websocket_session):
            if session is not None:
                await session.close()

    def _headers(self, scope: Scope, skip: frozenset[bytes] = frozenset()) -> dict[str, str]:
        """`_header_lines` as a mapping (aiohttp's WebSocket client), a repeated field joined."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._header_lines(scope, skip):
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return headers

    def _header_lines(self, scope: Scope, skip: frozenset[bytes] = frozenset()) -> list[tuple[bytes, bytes]]:
        """The request's fields as the service gets them, as raw lines: hop-by-hop fields (and
        those the client names in Connection), client-sent identity and forwarding fields, and
        `skip` dropped; the request id, the client's address and the trace context set."""
        raw = scope["headers"]
        named = _connection_named(raw)
        lines = [(k, v) for k, v in raw if k not in _REQUEST_DROPPED and k not in named and k not in skip]
        lines.append((b"x-request-id", (current_request_id() or "").encode("latin-1")))
        if client := scope.get("client"):
            lines.append((b"x-forwarded-for", client[0].encode("latin-1")))
        lines += trace_header_lines()
        return lines

    def _url(self, service: str, scope: Scope, query: bytes | None = None) -> URL:
        # The path as the client encoded it (a %2F stays one segment), passed on unchanged.
        path = scope.get("raw_path") or scope["path"].encode()
        url = self.base_urls[service] + path.decode("latin-1")
        query = scope.get("query_string", b"") if query is None else query
        return URL(f"{url}?{query.decode('latin-1')}" if query else url, encoded=True)

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        service: str,
        read_timeout: float | None = None,
        extra_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """Pass the request on and stream the answer back, with `extra_headers` (the edge's rate
        limit headers) added to the service's; the gateway's own refusals here carry them too."""
        breaker = self.breakers[service]
        wait = breaker.retry_after()
        if wait is not None:
            await _unavailable(service, wait)(scope, receive, with_headers(send, extra_headers))
            return
        method = scope["method"]
        body: bytes | None = None
        if method not in _BODILESS_METHODS or _declares_body(scope):
            # Read whole (the body limit bounds it, and raises BodyTooLarge for the edge's 413):
            # the service gets it with its length in one write, and it can be sent again.
            body = await _read_body(receive)
            if body is None:
                return  # the client went away mid-body: nothing is forwarded
        pool = self.pools[service]
        # The path as the client encoded it; a server that gives none gets the decoded path
        # encoded again (never a decoded CR or LF).
        target = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        if query := scope.get("query_string"):
            target = b"%s?%s" % (target, query)
        headers = self._header_lines(scope)
        timeout = self.read_timeout if read_timeout is None else read_timeout
        retry = method in IDEMPOTENT_METHODS
        try:
            try:
                upstream = await pool.request(method, target, headers, body, timeout, retry=retry)
            except ConnectFailed:
                if not retry:
                    raise
                # Nothing reached the service: an idempotent request is tried once more.
                upstream = await pool.request(method, target, headers, body, timeout, retry=False)
        except TimeoutError:
            breaker.failed()
            await error_response(504, "GATEWAY_TIMEOUT", f"{service} did not answer in time")(
                scope, receive, with_headers(send, extra_headers)
            )
            return
        except ValueError:
            # A control character in what would be sent on (the server in front parses requests
            # so that none reaches here; this is the last guard against request smuggling).
            refusal = error_response(400, "VALIDATION_ERROR", "malformed request")
            await refusal(scope, receive, with_headers(send, extra_headers))
            return
        except UpstreamError as exc:
            log.warning("upstream unavailable", extra={"service": service, "error": describe(exc)})
            breaker.failed()
            refusal = _unavailable(service, breaker.open_seconds)
            await refusal(scope, receive, with_headers(send, extra_headers))
            return
        breaker.succeeded()
        try:
            kept = [(k, v) for k, v in upstream.headers if k.lower() not in _RESPONSE_DROPPED]
            kept.extend(extra_headers)
            length = upstream.content_length
            if method != "HEAD" and length is not None and length <= _WHOLE_BODY_BYTES:
                # The common small answer: read whole, then head and body sent back to back (the
                # server writes them as one) instead of a stream.
                try:
                    answer = await upstream.read()
                except TimeoutError:
                    breaker.failed()
                    refusal = error_response(504, "GATEWAY_TIMEOUT", f"{service} did not answer in time")
                    await refusal(scope, receive, with_headers(send, extra_headers))
                    return
                except UpstreamError as exc:
                    # Nothing was sent yet: a body cut short is the service's failure, said as such.
                    cause = describe(exc)
                    log.warning("upstream answer cut short", extra={"service": service, "error": cause})
                    breaker.failed()
                    refusal = error_response(502, "BAD_GATEWAY", f"{service} failed to answer")
                    await refusal(scope, receive, with_headers(send, extra_headers))
                    return
                await send({"type": "http.response.start", "status": upstream.status, "headers": kept})
                await send({"type": "http.response.body", "body": answer, "more_body": False})
                return
            await send({"type": "http.response.start", "status": upstream.status, "headers": kept})
            if method == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                async for chunk in upstream.iter_chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            upstream.release()

    async def forward_websocket(
        self, scope: Scope, receive: Receive, send: Send, service: str, token: str | None
    ) -> None:
        """Accept the client only once the service accepted the gateway, then pipe frames both
        ways until either side closes, and close the other with the same code. `token` is the
        handshake's verified token, or None where the protocol carries its own (Socket.IO): its
        clients read no close codes, so a refusal is an HTTP status at the handshake instead."""
        assert self.websocket_session is not None
        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        headers = self._headers(scope, skip=_WEBSOCKET_OWN | {b"authorization", b"cookie"})
        if token is not None:
            headers["authorization"] = f"Bearer {token}"  # the service verifies it again
        query = "&".join(
            part
            for part in scope.get("query_string", b"").decode("latin-1").split("&")
            if part and not part.startswith("access_token=")
        )
        url = self._url(service, scope, query.encode())
        url = url.with_scheme("wss" if url.scheme == "https" else "ws")
        try:
            upstream = await self.websocket_session.ws_connect(
                url,
                headers=headers,
                protocols=tuple(scope.get("subprotocols", ())),
                heartbeat=30,
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
            )
        except aiohttp.WSServerHandshakeError as exc:
            # The service refused the handshake itself (it accepts and closes with a code instead,
            # so this is a proxy or an older service in between): said in the client's terms.
            if token is None:
                code = _HANDSHAKE_STATUSES.get(exc.status)
                status = exc.status if code is not None else 502
                refusal = error_response(status, code or "BAD_GATEWAY", f"{service} refused the connection")
                await deny_handshake(scope, send, refusal)
            else:
                await accept_and_close(send, _HANDSHAKE_REFUSALS.get(exc.status, 1011))
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("websocket upstream unavailable", extra={"service": service, "error": describe(exc)})
            if token is None:
                await deny_handshake(scope, send, _unavailable(service, 1))
            else:
                await accept_and_close(send, 1013, "try again later")
            return
        await send({"type": "websocket.accept", "subprotocol": upstream.protocol})
        to_service = asyncio.create_task(_client_to_service(receive, upstream))
        to_client = asyncio.create_task(_service_to_client(upstream, send))
        try:
            await asyncio.wait({to_service, to_client}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_service, to_client):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await upstream.close()


async def _client_to_service(receive: Receive, upstream: aiohttp.ClientWebSocketResponse) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await upstream.close(code=message.get("code", 1000))
            return
        if message.get("text") is not None:
            await upstream.send_str(message["text"])
        elif message.get("bytes") is not None:
            await upstream.send_bytes(message["bytes"])


async def _service_to_client(upstream: aiohttp.ClientWebSocketResponse, send: Send) -> None:
    reason = ""
    while True:
        message = await upstream.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            await send({"type": "websocket.send", "text": message.data})
        elif message.type == aiohttp.WSMsgType.BINARY:
            await send({"type": "websocket.send", "bytes": message.data})
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            reason = message.extra if message.type == aiohttp.WSMsgType.CLOSE and message.extra else ""
            break
        elif message.type == aiohttp.WSMsgType.ERROR:
            break
    # The service's own code and reason (4401 "token expired", 1013 "try again later") reach the
    # client as they were; a connection lost without a close frame is the gateway's 1011.
    code = upstream.close_code if upstream.close_code and upstream.close_code != 1006 else 1011
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def accept_and_close(send: Send, code: int, reason: str = "") -> None:
    """Refuse a WebSocket by accepting it and closing with a code: browsers cannot read the status
    of a refused handshake, only a close code after accepting (4401 like HTTP 401)."""
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def deny_handshake(scope: Scope, send: Send, response: JSONResponse) -> None:
    """Refuse a WebSocket handshake with an HTTP response (ASGI's denial response): what clients
    that read no close codes (Socket.IO's) take as a failed connection. A server without the
    extension answers 403 instead."""
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1008})


def with_headers(send: Send, extra: Sequence[tuple[bytes, bytes]]) -> Send:
    """`send` adding `extra` to the response's headers."""
    if not extra:
        return send

    def sender(message: Message) -> Awaitable[None]:  # the server's coroutine, not one more
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        return send(message)

    return sender


def _connection_named(raw: Sequence[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """The fields a Connection header names: hop-by-hop too (RFC 9110 section 7.6.1)."""
    named = [v for k, v in raw if k == b"connection"]
    if not named:
        return frozenset()
    return frozenset(token.strip().lower() for value in named for token in value.split(b","))


async def _read_body(receive: Receive) -> bytes | None:
    """The request body whole, or None if the client disconnected before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if chunk := message.get("body", b""):
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _declares_body(scope: Scope) -> bool:
    return any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])


def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=2, sock_read=seconds)


def _unavailable(service: str, retry_after: float) -> JSONResponse:
    return error_response(
        503,
        "SERVICE_UNAVAILABLE",
        f"{service} is unavailable",
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


def describe(exc: BaseException) -> str:
    """An upstream error as a log line may show it. aiohttp's response errors carry the request
    they answer, headers included (the caller's Authorization): only their kind and status are
    told, never their repr."""
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}(status={exc.status})"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
