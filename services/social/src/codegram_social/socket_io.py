"""Socket.IO v5 at `/socket.io/`: the real-time channel for clients of the Socket.IO protocol.

The stock python-socketio server, on the WebSocket transport only: HTTP long-polling keeps a
session's state in the replica that opened it, so every poll of a client would have to land on
that replica (sticky sessions through the gateway and the Service); clients connect with
`transports: ["websocket"]` and a polling request is refused (400 "Invalid transport" here, 426 at
the gateway).

The client sends its access token in the connect packet (`auth: {token}`); the handshake carries
none, so the gateway lets it through and this end is the one that verifies it, with the same
verifier as `/api/v1/ws`. A bad or expired token is refused with a connect error. An accepted
client joins its user's room; each replica holds one subscription to the user's push subject
(realtime.PUSH_SUBJECT) while it has a client of that user, and emits every push, `{"type", "data"}`,
as the event `type` with `data` to the room: a push published once reaches the user's clients on
every replica. A client is disconnected when its token expires or its sign-in session ends, as
`/api/v1/ws` closes with 4401; it then reconnects with a fresh token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import socketio
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Gauge
from starlette.routing import WebSocketRoute

from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import Unauthorized
from codegram_kit.web.sockets import OpenSockets
from codegram_social import realtime
from codegram_social.config import SocialSettings

log = logging.getLogger("codegram.social.socketio")

PATH = "/socket.io/"
OPEN_CLIENTS = Gauge("codegram_social_socketio_clients", "Connected Socket.IO clients on this replica")


def room(user_id: str) -> str:
    return f"user:{user_id}"


@dataclass
class _Client:
    user_id: str
    session_id: str | None
    ended: asyncio.Future[str]
    expiry: asyncio.TimerHandle
    closer: asyncio.Task[None]


class PushRooms:
    """One subscription to a user's push subject per replica, held while the replica has a
    client of that user, each push emitted to the user's room."""

    def __init__(self, server: socketio.AsyncServer) -> None:
        self.server = server
        self._held: dict[str, tuple[Subscription, int]] = {}
        self._lock = asyncio.Lock()

    async def join(self, nc: NATS, user_id: str) -> None:
        async with self._lock:
            held = self._held.get(user_id)
            if held is None:

                async def deliver(msg: Msg) -> None:
                    await self._emit(user_id, msg)

                subscription = await nc.subscribe(realtime.PUSH_SUBJECT.format(user_id=user_id), cb=deliver)
                # The server has it before the client hears it is connected: no push in between is lost.
                await nc.flush(timeout=2)
                self._held[user_id] = (subscription, 1)
            else:
                self._held[user_id] = (held[0], held[1] + 1)

    async def leave(self, user_id: str) -> None:
        async with self._lock:
            held = self._held.get(user_id)
            if held is None:
                return
            subscription, count = held
            if count > 1:
                self._held[user_id] = (subscription, count - 1)
                return
            del self._held[user_id]
        with contextlib.suppress(Exception):  # NATS may be gone: the subscription went with it
            await subscription.unsubscribe()

    async def _emit(self, user_id: str, msg: Msg) -> None:
        try:
            message = json.loads(msg.data)
            event, data = message["type"], message.get("data")
        except (ValueError, TypeError, KeyError):
            log.warning("unreadable push", extra={"subject": msg.subject})
            return
        await self.server.emit(event, data, room=room(user_id))


class SocketIO:
    """The Socket.IO server of one service process and what it keeps per client."""

    def __init__(self, runtime: ServiceRuntime, *, max_per_user: int = 10) -> None:
        self.runtime = runtime
        self.held = OpenSockets(max_per_user)  # clients held or being let in, by user
        self.server = socketio.AsyncServer(
            async_mode="asgi",
            transports=["websocket"],
            # The token travels in the connect packet, never in a cookie: a page of another
            # origin gains nothing by opening a socket, so Origin is not what keeps it out.
            cors_allowed_origins="*",
            # Clients only listen; nothing they send is bigger than a connect packet.
            max_http_buffer_size=16 * 1024,
        )
        self.rooms = PushRooms(self.server)
        self.sessions = realtime.Sessions()
        self._clients: dict[str, _Client] = {}
        self.server.on("connect", self.connect)
        self.server.on("disconnect", self.disconnect)
        self.app = socketio.ASGIApp(self.server, socketio_path=PATH.strip("/"))

    async def connect(self, sid: str, _environ: dict[str, Any], auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            if not isinstance(token, str) or not token:
                raise Unauthorized("token required")
            principal = await self.runtime.verifier.verify(token)
            grant = realtime.grant_of(token)
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        user_id = principal.user_id
        if not self.held.take(user_id):  # taken now: two connects at once cannot both pass
            raise socketio.exceptions.ConnectionRefusedError("too many open connections")
        nc = self.runtime.nc
        try:
            if nc is None or not nc.is_connected:
                raise ConnectionError("nats is not connected")
            await self.sessions.watch(nc)
            await self.rooms.join(nc, principal.user_id)
        except Exception as exc:
            self.held.give_back(user_id)
            # Without NATS nothing could reach the client, nor end it when its session ends.
            log.warning("real time unavailable", extra={"error": type(exc).__name__})
            raise socketio.exceptions.ConnectionRefusedError("try again later") from None
        except BaseException:
            self.held.give_back(user_id)
            raise
        await self.server.enter_room(sid, room(principal.user_id))
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[str] = loop.create_future()
        expiry = loop.call_later(
            max(0.0, grant.expires_at - time.time()), realtime.end, ended, "token expired"
        )
        if grant.session_id is not None:
            self.sessions.add(principal.user_id, grant.session_id, ended)
        closer = asyncio.create_task(self._close_when_ended(sid, ended))
        self._clients[sid] = _Client(principal.user_id, grant.session_id, ended, expiry, closer)
        OPEN_CLIENTS.inc()

    async def _close_when_ended(self, sid: str, ended: asyncio.Future[str]) -> None:
        reason = await ended
        log.info("closing socket.io client", extra={"reason": reason})
        await self.server.disconnect(sid)
        # Also when the client had gone while it was being let in (no disconnect event came).
        await self.disconnect(sid, reason)

    async def disconnect(self, sid: str, _reason: str) -> None:
        client = self._clients.pop(sid, None)
        if client is None:
            return
        OPEN_CLIENTS.dec()
        self.held.give_back(client.user_id)
        client.expiry.cancel()
        if client.session_id is not None:
            self.sessions.discard(client.user_id, client.session_id, client.ended)
        if not client.closer.done() and client.closer is not asyncio.current_task():
            client.closer.cancel()
        await self.rooms.leave(client.user_id)


def route(runtime: ServiceRuntime) -> WebSocketRoute:
    """`/socket.io/` on the service's app (WebSocket only; see the module's docstring)."""
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    server = SocketIO(runtime, max_per_user=settings.socket_io_max_per_user)
    return WebSocketRoute(PATH, server.app, name="socket.io")
