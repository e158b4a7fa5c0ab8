"""uvicorn's httptools protocol with a response's writes coalesced: the status line and headers go
out with the body in one write instead of two.

uvicorn writes the head of a response the moment the app starts it and the body when it is sent,
each a system call (and, on a busy machine, a wake-up of the client) per response. The gateway sends
both in the same step of the event loop, so holding writes until the end of that step makes them
one, as nginx's writev does. Everything else (keep-alive, flow control, shutdown, WebSocket upgrades,
which get the socket itself) is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes within one step of the event loop go out together at its end."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def flush(self) -> None:
        """Write what is held, in order (a closing transport drops it, as it would drop a write)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()  # what was written before closing still goes out
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools) writing through a CoalescingTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes over the socket itself.
        if isinstance(self.transport, CoalescingTransport):
            self.transport.flush()
            self.transport = self.transport.transport
        super().handle_websocket_upgrade()
