"""The proxied path's HTTP client against a raw socket server that answers as a script says:
keep-alive reuse, framing (length, chunks, end of connection, HEAD), a kept connection the service
closed, timeouts, the connection cap and malformed answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import pytest

from codegram_devstack.engines import free_port
from codegram_gateway.upstream_http import ConnectFailed, Disconnected, Pool, PoolExhausted


class Close(bytes):
    """An answer after which the server closes the connection."""


# (index of the request on its connection, request head and body) -> raw answer, or None to close.
Script = Callable[[int, bytes], Awaitable[bytes | None] | bytes | None]


def ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), head.encode(), body)


class Server:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.handlers: list[asyncio.Task[None] | None] = []
        self.port = free_port()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.handlers.append(asyncio.current_task())
        index = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                answer = self.script(index, request)
                if asyncio.iscoroutine(answer):
                    answer = await answer
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if isinstance(answer, Close):
                    break
                index += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(script: Script) -> Iterator[Server]:  # type: ignore[misc]
    server = Server(script)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", server.port)
    try:
        yield server
    finally:
        listener.close()
        handlers = [task for task in server.handlers if task is not None]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def get(pool: Pool, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    response = await pool.request(method, b"/x?a=1", [(b"x-one", b"1")], body, 2.0, retry=method == "GET")
    try:
        return response.status, await response.read()
    finally:
        response.release()


async def test_a_kept_connection_serves_the_next_request_with_the_head_as_sent() -> None:
    async with serving(lambda i, r: ok(b"hello %d" % i)) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await get(pool) == (200, b"hello 0")
        assert await get(pool, "POST", b'{"a": 1}') == (200, b"hello 1")
        assert server.connections == 1
        assert server.requests[0].startswith(b"GET /x?a=1 HTTP/1.1\r\nhost: 127.0.0.1:")
        assert b"\r\nx-one: 1\r\n" in server.requests[0]
        assert b"content-length" not in server.requests[0]
        assert server.requests[1].endswith(b'content-length: 8\r\n\r\n{"a": 1}')
        pool.close()


async def test_chunked_and_connection_framed_answers_are_read_whole() -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: more than the client buffers before pausing

    def script(i: int, _: bytes) -> bytes:
        if i == 0:
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (65536, big[n : n + 65536]) for n in range(0, len(big), 65536)
            )
            return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        return Close(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")

    async with serving(script) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        response = await pool.request("GET", b"/", [], None, 2.0, retry=True)
        assert response.content_length is None
        streamed = [chunk async for chunk in response.iter_chunks()]
        response.release()
        assert b"".join(streamed) == big and len(streamed) > 1
        assert await get(pool) == (200, b"until the end")
        assert server.connections == 1
        assert await get(pool) == (200, big)  # a new connection: read whole this time
        assert server.connections == 2


async def test_head_answers_end_at_their_headers() -> None:
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    async with serving(lambda i, r: answer if r.startswith(b"HEAD") else ok(b"after")) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await asyncio.wait_for(get(pool, "HEAD"), 2) == (200, b"")
        assert await get(pool) == (200, b"after")
        assert server.connections == 2  # not reused: the parser cannot know where a HEAD answer ends


async def test_interim_answers_are_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"
    async with serving(lambda i, r: answer) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await get(pool, "POST", b"x") == (201, b"ok")
        assert await get(pool, "POST", b"x") == (201, b"ok")
        assert server.connections == 1


async def test_a_kept_connection_the_service_closed_is_retried_only_where_allowed() -> None:
    # The service answers the first request of a connection and closes at the second without a
    # word, as a keep-alive connection closed by the service just as it is reused.
    async with serving(lambda i, r: ok(b"fine") if i == 0 else None) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await get(pool) == (200, b"fine")
        assert await get(pool) == (200, b"fine")  # resent on a new connection
        assert server.connections == 2
        with pytest.raises(Disconnected):
            await get(pool, "POST", b"{}")  # not resent: it may have been acted on
        assert server.connections == 2


async def test_a_service_that_does_not_answer_in_time_is_a_timeout_and_frees_its_slot() -> None:
    async def slow(i: int, r: bytes) -> bytes:
        await asyncio.sleep(0.5 if b"slow" in r else 0)
        return ok(b"late")

    async with serving(slow) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}", max_connections=1)
        with pytest.raises(TimeoutError):
            await pool.request("GET", b"/slow", [], None, 0.1, retry=True)
        assert await get(pool) == (200, b"late")  # the one slot was given back


async def test_an_answer_within_its_timeout_is_waited_for_and_the_sweep_then_stops() -> None:
    async def slow(i: int, r: bytes) -> bytes:
        await asyncio.sleep(0.3)  # several of the timeout sweep's turns
        return ok(b"late")

    async with serving(slow) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await asyncio.wait_for(pool.request("GET", b"/", [], None, 1.0, retry=True), 2) is not None
        assert pool.sweep is not None  # it looked at the wait while it lasted
        await asyncio.sleep(0.15)
        assert pool.sweep is None  # nothing waits: no timer left running
        with pytest.raises(TimeoutError):
            await pool.request("GET", b"/", [], None, 0.1, retry=True)


async def test_the_cap_makes_requests_wait_for_a_connection() -> None:
    async def answer(i: int, r: bytes) -> bytes:
        await asyncio.sleep(0.05)
        return ok(b"one")

    async with serving(answer) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}", max_connections=2)
        results = await asyncio.gather(*(get(pool) for _ in range(6)))
        assert results == [(200, b"one")] * 6
        assert server.connections == 2


async def test_an_idle_connection_past_its_time_is_not_reused() -> None:
    async with serving(lambda i, r: ok(b"x")) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}", idle_seconds=0.05)
        await get(pool)
        await asyncio.sleep(0.1)
        await get(pool)
        assert server.connections == 2


async def test_no_service_is_connect_failed_and_a_malformed_answer_disconnected() -> None:
    with pytest.raises(ConnectFailed):
        await get(Pool(f"http://127.0.0.1:{free_port()}"))
    async with serving(lambda i, r: b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n") as server:
        with pytest.raises(Disconnected):
            await get(Pool(f"http://127.0.0.1:{server.port}"))


async def test_a_body_cut_short_is_disconnected() -> None:
    async with serving(lambda i, r: Close(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort")) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        response = await pool.request("GET", b"/", [], None, 2.0, retry=True)
        with pytest.raises(Disconnected):
            await response.read()
        response.release()
        with pytest.raises(Disconnected):
            await get(pool)
        assert server.connections == 2  # the broken connection was not kept


def test_only_http_base_urls() -> None:
    with pytest.raises(ValueError):
        Pool("ftp://users:21")
    assert Pool("http://users:8000/base").prefix == b"/base"
    assert Pool("http://users").authority == b"users"
    assert Pool("http://users:8000").authority == b"users:8000"


async def test_an_answer_out_of_turn_breaks_the_connection_and_is_never_given_to_the_next_caller() -> None:
    # The first answer carries a second one after it (a wrong length, or a service that answers
    # twice); the next request must get its own answer on a new connection, not the stray one.
    answered = []

    def script(i: int, r: bytes) -> bytes:
        answered.append(i)
        return ok(b"first") + ok(b"stray") if len(answered) == 1 else ok(b"own")

    async with serving(script) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await get(pool) == (200, b"first")
        assert await get(pool) == (200, b"own")
        assert server.connections == 2


async def test_bytes_on_an_idle_connection_retire_it() -> None:
    async def script(i: int, r: bytes) -> bytes:
        return ok(b"answer")

    async with serving(script) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await get(pool) == (200, b"answer")
        idle = pool._idle[-1]
        assert idle.transport is not None
        # The service speaks while nobody asked (a 408 before it closes, say).
        idle.data_received(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
        assert await get(pool) == (200, b"answer")
        assert server.connections == 2


async def test_nothing_a_caller_passes_can_end_a_line_of_the_head() -> None:
    async with serving(lambda i, r: ok(b"x")) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        assert await get(pool) == (200, b"x")  # the same pool sends a clean request
        for target, headers in (
            (b"/x\r\nx-user-id: 1", []),
            (b"/x HTTP/1.1\r\n\r\nGET /y", []),
            (b"/x", [(b"x-a", b"1\r\nx-user-id: 2")]),
            (b"/x", [(b"x-a", b"1\nx-user-id: 2")]),
            (b"/x", [(b"x-a", b"1\x00")]),
            (b"/x y", []),
        ):
            with pytest.raises(ValueError):
                await pool.request("GET", target, headers, None, 2.0, retry=True)
        assert len(server.requests) == 1


async def test_a_full_pool_gives_up_after_the_connect_timeout() -> None:
    release = asyncio.Event()

    async def script(i: int, r: bytes) -> bytes:
        await release.wait()
        return ok(b"late")

    async with serving(script) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}", max_connections=1, connect_timeout=0.2)
        busy = asyncio.create_task(get(pool))
        await asyncio.sleep(0.05)
        with pytest.raises(PoolExhausted):
            await pool.request("GET", b"/", [], None, 5.0, retry=True)
        release.set()
        assert await busy == (200, b"late")
        assert pool._open == 1 and server.connections == 1


async def test_the_cap_holds_when_connections_are_given_back_and_closed_under_load() -> None:
    async def script(i: int, r: bytes) -> bytes | None:
        await asyncio.sleep(0.01)
        return Close(ok(b"closing")) if i == 2 else ok(b"kept")

    async with serving(script) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}", max_connections=3)
        peak = 0

        async def one() -> tuple[int, bytes]:
            nonlocal peak
            result = await get(pool)
            peak = max(peak, pool._open)
            return result

        results = await asyncio.gather(*(one() for _ in range(40)))
        assert {status for status, _ in results} == {200}
        assert peak <= 3 and pool._open <= 3


async def test_a_response_released_twice_does_not_close_the_next_callers_connection() -> None:
    async with serving(lambda i, r: ok(b"x%d" % i)) as server:
        pool = Pool(f"http://127.0.0.1:{server.port}")
        first = await pool.request("GET", b"/", [], None, 2.0, retry=True)
        await first.read()
        first.release()
        second = await pool.request("GET", b"/", [], None, 2.0, retry=True)
        first.release()  # a caller's mistake: must not touch the connection `second` now uses
        assert await second.read() == b"x1"
        second.release()
        assert server.connections == 1
        assert len(pool._idle) == 1  # kept once, not once per release
