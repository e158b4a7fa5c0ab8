"""Forwards a public request to the service the routing table names, streaming both bodies."""

from __future__ import annotations

import asyncio
import logging
import math

import aiohttp
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from codegram_gateway.breaker import CircuitBreaker
from codegram_gateway.edge import BodyTooLarge
from codegram_kit.context import REQUEST_ID_HEADER, current_request_id
from codegram_kit.errors import error_response
from codegram_kit.tracing import inject

log = logging.getLogger("codegram.gateway")

# RFC 9110 section 7.6.1: connection-specific fields are not forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Identity and internal headers a client must not be able to set.
STRIPPED_REQUEST_HEADERS = frozenset({"x-user-id", "x-forwarded-user", "x-internal-auth", "x-request-id"})


class Upstreams:
    def __init__(
        self,
        base_urls: dict[str, str],
        timeout: float,
        *,
        failure_threshold: int = 5,
        open_seconds: float = 5.0,
    ) -> None:
        self.base_urls = base_urls
        self.timeout = aiohttp.ClientTimeout(total=None, connect=2, sock_read=timeout)
        self.session: aiohttp.ClientSession | None = None
        self.breakers = {s: CircuitBreaker(failure_threshold, open_seconds) for s in base_urls}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=512, keepalive_timeout=30, ttl_dns_cache=60)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False, timeout=self.timeout)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def forward(self, request: Request, service: str) -> Response:
        assert self.session is not None
        url = self.base_urls[service] + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        headers = {
            k: v
            for k, v in request.headers.items()
            if k not in HOP_BY_HOP and k not in STRIPPED_REQUEST_HEADERS
        }
        headers[REQUEST_ID_HEADER] = current_request_id() or ""
        if request.client:
            headers["x-forwarded-for"] = request.client.host
        inject(headers)
        breaker = self.breakers[service]
        wait = breaker.retry_after()
        if wait is not None:
            return _unavailable(service, wait)
        body = request.stream() if request.method not in ("GET", "HEAD") else None
        try:
            try:
                upstream = await self.session.request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                )
            except aiohttp.ClientConnectorError:
                # Nothing reached the service; a request without a body is safe to try once more.
                if body is not None:
                    raise
                upstream = await self.session.request(
                    request.method, url, headers=headers, allow_redirects=False
                )
        except BodyTooLarge:
            raise  # the body limit answers 413
        except TimeoutError:
            breaker.failed()
            return error_response(504, "GATEWAY_TIMEOUT", f"{service} did not answer in time")
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.CancelledError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            if _caused_by(exc, BodyTooLarge):
                # aiohttp wraps what the body stream raised; the body limit answers 413.
                raise BodyTooLarge from exc
            log.warning("upstream unavailable", extra={"service": service, "error": repr(exc)})
            breaker.failed()
            return _unavailable(service, breaker.open_seconds)
        breaker.succeeded()
        response_headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "x-request-id"
        }
        return StreamingResponse(
            upstream.content.iter_any(),
            status_code=upstream.status,
            headers=response_headers,
            background=BackgroundTask(upstream.release),
        )


def _unavailable(service: str, retry_after: float) -> Response:
    return error_response(
        503,
        "SERVICE_UNAVAILABLE",
        f"{service} is unavailable",
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
