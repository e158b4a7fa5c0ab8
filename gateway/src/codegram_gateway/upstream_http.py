"""The proxied path's HTTP/1.1 client: keep-alive connections to one service, answers parsed by
httptools (the parser uvicorn serves with), bodies read whole or streamed with flow control.

Measured beside aiohttp's client on the gateway bench's backend (bench/results/gateway-steps-
2026-12-06.md): about 22 against 50 µs of CPU per proxied request, the largest single share of the
gateway's. It does only what the proxy needs: a request head and a body known in full, one answer
at a time per connection (no pipelining), timeouts, and a retry where nothing reached the service.
WebSockets, the search fan-out and the API documents stay on aiohttp.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

# A connection idle this long is not reused: uvicorn closes idle keep-alive connections after 5 s,
# and one taken just as the service closes it would fail a request the retry may not cover.
IDLE_SECONDS = 4.0
# Reading from a service pauses while this much of its answer waits for a slow client.
_HIGH_WATER = 256 * 1024
# Read timeouts are enforced by one sweep of a pool's connections this often while any waits,
# instead of a timer per wait (a timer set and cancelled cost 1.8 µs, a fifteenth of a proxied
# request's Python): a timeout fires up to this much late.
_SWEEP_SECONDS = 0.05


class UpstreamError(Exception):
    """The service could not be reached or did not answer whole."""


class ConnectFailed(UpstreamError):
    """No connection to the service: nothing of the request reached it."""


class Disconnected(UpstreamError):
    """The connection ended before the answer did, or the service answered out of turn."""


class PoolExhausted(UpstreamError):
    """Every connection to the service stayed busy for the connect timeout."""


class Response:
    """A service's answer: status and headers as received; the body read whole or streamed.
    `release()` must be called once done: the connection then goes back to the pool if the answer
    was read to its end, and is closed otherwise."""

    __slots__ = ("_connection", "content_length", "headers", "status")

    def __init__(self, connection: _Connection) -> None:
        self._connection = connection
        self.status = connection.status
        self.headers = connection.headers
        self.content_length = connection.content_length

    async def read(self) -> bytes:
        connection = self._connection
        if connection.complete:
            return connection.take_body()
        parts = []  # taken as it comes, so that reading never pauses for lack of a reader
        while not connection.complete:
            parts.append(connection.take_body())
            await connection.more()
        parts.append(connection.take_body())
        return b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            chunk = connection.take_body()
            if chunk:
                yield chunk
            elif connection.complete:
                return
            else:
                await connection.more()

    def release(self) -> None:
        """Once; a second call does nothing (the connection may serve someone else by then)."""
        connection, self._connection = self._connection, None  # type: ignore[assignment]
        if connection is not None:
            connection.release()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: the protocol httptools calls back, and the state of the answer
    it is reading."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self.forgotten = False
        self._reset()

    def _reset(self) -> None:
        self.in_flight = False
        self.head_method = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.chunked = False
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.error: BaseException | None = None
        self._body: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._timeout = 0.0
        self.deadline = 0.0  # when the awaited part of the answer is late (loop time)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, Disconnected) else None
            self._fail(cause or Disconnected(f"malformed answer: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close: an answer framed by the end of the connection ends here

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        framed = self.chunked or self.content_length is not None
        if self.headers_done and not self.complete and exc is None and not framed:
            # An answer framed by neither a length nor chunks ends with the connection (RFC 9112
            # section 6.3).
            self.complete = True
            self._wake()
        if not self.complete:
            self._fail(Disconnected("the service closed the connection"))

    def pause_writing(self) -> None:
        pass  # one request head and body at a time: nothing to hold back

    def resume_writing(self) -> None:
        pass

    # httptools callbacks

    def on_message_begin(self) -> None:
        if not self.in_flight or self.complete:
            # An answer nobody asked for (bytes on an idle connection, or a second answer after
            # the one awaited): the connection can no longer say which answer is whose.
            raise Disconnected("the service answered out of turn")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if len(name) == 14 and name.lower() == b"content-length":
            self.content_length = int(value)
        elif len(name) == 17 and name.lower() == b"transfer-encoding":
            self.chunked = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200 and status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self.headers = []
            self.content_length = None
            self.chunked = False
            return
        self.status = status
        self.headers_done = True
        if self.head_method:
            # An answer to HEAD has no body whatever its Content-Length says, which the parser
            # cannot know: the answer ends here and the connection is not reused.
            self.complete = True
            self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_done:
            return  # the end of an interim answer
        if not self.complete:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    # the client's side

    def send(self, head: bytes, body: bytes | None, method: str, read_timeout: float) -> None:
        self.in_flight = True
        self.head_method = method == "HEAD"
        self._timeout = read_timeout
        assert self.transport is not None
        self.transport.write(head + body if body else head)

    def more(self) -> asyncio.Future[None]:
        """A future done when the connection has more of the answer, failed with TimeoutError
        after the read timeout (awaited directly: a coroutine level here cost every request)."""
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self.loop.create_future()
        self.deadline = self.loop.time() + self._timeout
        if self.pool.sweep is None:
            self.pool.start_sweep()
        return waiter

    def take_body(self) -> bytes:
        if self.error is not None and not self.complete:
            raise self.error
        body = self._body
        if not body:
            return b""
        self._body = []
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return body[0] if len(body) == 1 else b"".join(body)

    def release(self) -> None:
        if self.complete and self.keep_alive and not self.closed and not self._body:
            self._reset()
            self.pool.put_back(self)
        else:
            self.close()
            self.pool.forget(self)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self.error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


class Pool:
    """Keep-alive connections to one service (`http://host:port`, or https), at most
    `max_connections` open; a request past that waits for one to be given back."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int = 512,
        connect_timeout: float = 2.0,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        self.authority = (parts.netloc if not default_port else self.host).encode("idna")
        self.prefix = parts.path.rstrip("/").encode("latin-1")
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.idle_seconds = idle_seconds
        self._idle: list[_Connection] = []
        self._open = 0
        self._slots: collections.deque[asyncio.Future[None]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: set[_Connection] = set()  # every open connection, for the timeout sweep
        self.sweep: asyncio.TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def request(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        read_timeout: float,
        *,
        retry: bool,
    ) -> Response:
        """Send the request and wait for the head of its answer. `target` is the path and query
        as the client sent them. With `retry`, a request that reached nothing (no connection, or
        a kept connection the service had closed) is sent once more on a new connection."""
        head = self._head(method, target, headers, body)
        connection = self._kept_connection() or await self._connection()
        try:
            return await self._exchange(connection, head, body, method, read_timeout)
        except Disconnected:
            if not (retry and connection.reused and not connection.received):
                raise
        connection = await self._connection(fresh=True)
        return await self._exchange(connection, head, body, method, read_timeout)

    def _head(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> bytes:
        lines = [method.encode("ascii"), b" ", self.prefix, target]
        lines += (b" HTTP/1.1\r\nhost: ", self.authority, b"\r\n")
        for name, value in headers:
            lines += (name, b": ", value, b"\r\n")
        if body is not None:
            lines += (b"content-length: ", str(len(body)).encode("ascii"), b"\r\n")
        lines.append(b"\r\n")
        head = b"".join(lines)
        # Nothing a caller passes may end a line or the head early (request smuggling, header
        # injection): exactly one LF per line, each after a CR, no NUL, no space in the target.
        if (
            head.count(b"\n") != len(headers) + 3 + (body is not None)
            or head.count(b"\r") != head.count(b"\n")
            or b"\0" in head
            or b" " in target
        ):
            raise ValueError("a request target or header value holds a control character")
        return head

    async def _exchange(
        self, connection: _Connection, head: bytes, body: bytes | None, method: str, read_timeout: float
    ) -> Response:
        try:
            connection.send(head, body, method, read_timeout)
            while not connection.headers_done:
                await connection.more()
        except BaseException:
            connection.close()
            self.forget(connection)
            raise
        return Response(connection)

    def _kept_connection(self) -> _Connection | None:
        """`_connection()` when a kept connection is ready, without a coroutine (the common case
        of every request); None when one must be opened or waited for."""
        while self._idle:
            connection = self._idle.pop()
            if (
                connection.closed
                or connection.received
                or time.monotonic() - connection.idle_since > self.idle_seconds
            ):
                connection.close()
                self.forget(connection)
                continue
            connection.reused = True
            return connection
        return None

    async def _connection(self, *, fresh: bool = False) -> _Connection:
        """A kept connection (not with `fresh`), or a new one within the cap; past the cap, the
        first one given back or closed, waited for at most the connect timeout."""
        deadline = None
        while True:
            now = time.monotonic()
            if not fresh and (kept := self._kept_connection()) is not None:
                return kept
            if self._open < self.max_connections:
                break
            if fresh and self._idle:
                # A new connection is wanted and a kept one holds the slot: that one goes.
                spare = self._idle.pop(0)
                spare.close()
                self.forget(spare)
                continue
            if deadline is None:
                deadline = now + self.connect_timeout
            await self._wait_for_slot(deadline - now)
        self._open += 1
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self.ssl
                )
        except (OSError, TimeoutError) as exc:
            self._open -= 1
            self._hand_on_slot()
            raise ConnectFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        except BaseException:
            self._open -= 1
            self._hand_on_slot()
            raise
        self._live.add(connection)
        return connection

    def start_sweep(self) -> None:
        self.sweep = self.loop.call_later(_SWEEP_SECONDS, self._expire_late)

    def _expire_late(self) -> None:
        """Fails every wait past its deadline with TimeoutError; runs again while any waits."""
        self.sweep = None
        now = self.loop.time()
        waiting = False
        for connection in self._live:
            waiter = connection._waiter
            if waiter is None or waiter.done():
                continue
            if now >= connection.deadline:
                waiter.set_exception(TimeoutError())
            else:
                waiting = True
        if waiting:
            self.start_sweep()

    async def _wait_for_slot(self, seconds: float) -> None:
        """Until a connection is given back or closed (then the caller looks again)."""
        slot = self.loop.create_future()
        self._slots.append(slot)
        try:
            async with asyncio.timeout(max(0.0, seconds)):
                await slot
        except BaseException as exc:
            if slot.done() and not slot.cancelled():
                self._hand_on_slot()  # it was handed to us as we gave up: pass it on
            else:
                slot.cancel()
            if isinstance(exc, TimeoutError):
                raise PoolExhausted(f"no connection free within {self.connect_timeout} s") from None
            raise

    def _hand_on_slot(self) -> None:
        while self._slots:
            slot = self._slots.popleft()
            if not slot.done():
                slot.set_result(None)
                return

    def put_back(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        if self._slots:
            # Someone waits for a connection: this one is theirs (they find it idle).
            self._idle.append(connection)
            self._hand_on_slot()
        else:
            self._idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        """A connection closed for good: its slot is free."""
        if connection.forgotten:
            return
        connection.forgotten = True
        self._live.discard(connection)
        self._open -= 1
        self._hand_on_slot()

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
        if self.sweep is not None:
            self.sweep.cancel()
            self.sweep = None
