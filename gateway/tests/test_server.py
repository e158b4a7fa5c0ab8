"""The gateway's HTTP protocol: a response's writes of one loop step leave in one system call, in
order, nothing is lost at close, and a real server answers keep-alive requests whole through it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from codegram_devstack.engines import free_port
from codegram_gateway.server import CoalescingHttpToolsProtocol, CoalescingTransport


class _Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_writes_of_one_step_leave_together_and_close_flushes_first() -> None:
    raw = _Recording()
    transport = CoalescingTransport(raw, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"ok")
    assert raw.writes == []
    await asyncio.sleep(0)  # the end of this step
    assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]
    transport.write(b"last")
    transport.close()
    assert raw.writes[-1] == b"last" and raw.closed
    assert transport.get_extra_info("peername") == "info:peername"  # the rest is the transport's


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    body = scope["path"].encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


async def _started(running: uvicorn.Server) -> None:
    while not running.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)


@pytest.fixture
async def server() -> AsyncIterator[int]:
    port = free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, lifespan="off", log_config=None
    )
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    await asyncio.wait_for(_started(running), 10)
    yield port
    running.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_real_server_answers_keep_alive_requests_whole(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    for path in ("/first", "/second"):
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: %d" % len(path) in head
        assert await reader.readexactly(len(path)) == path.encode()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
