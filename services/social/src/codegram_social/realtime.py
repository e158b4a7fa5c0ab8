"""The real-time channel (`/api/v1/ws`): one WebSocket per client session, fed from NATS.

Whoever has something to tell a user publishes it once on the user's push subject (core NATS,
not JetStream: a push is only for connections open now; what must last is stored as a
notification first). Every social replica holding a connection of that user is subscribed to
it, so it reaches all of the user's connections on whichever replica they landed. The gateway
authenticates the handshake and pipes the frames; this end verifies the token again.

A connection lives no longer than what let it in: it is closed with 4401 when its access token
expires, and when the sign-in session the token was issued in (its `sid` claim) ends, which the
auth service announces on `codegram.auth.session.revoked`. Every replica hears that event on core
NATS (a durable consumer would hand each event to one replica only, and the connections of the
session may be on any); a replica that misses it while cut off from NATS still closes the
connection when its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import APIRouter, WebSocket
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import Gauge
from starlette.datastructures import State

from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import Unauthorized
from codegram_kit.web.principal import bearer_token
from codegram_proto.codegram.events.v1 import auth_pb2 as auth_events

log = logging.getLogger("codegram.social.realtime")

OPEN_CONNECTIONS = Gauge(
    "codegram_social_websocket_connections", "Open real-time connections on this replica"
)

# Mounted under /api/v1 by api.py.
router = APIRouter(tags=["social"])

# Outside the JetStream stream's `codegram.>` so pushes are never stored.
PUSH_SUBJECT = "push.codegram.user.{user_id}"
SESSION_REVOKED = "codegram.auth.session.revoked"
UNAUTHORIZED_CLOSE = 4401
# RFC 6455 "Try Again Later": the client did nothing wrong, the service cannot serve it now.
TRY_AGAIN_LATER_CLOSE = 1013


async def push(nc: NATS, user_id: str, message: dict[str, Any]) -> None:
    """Send a message to every open connection of one user, on any replica."""
    await nc.publish(PUSH_SUBJECT.format(user_id=user_id), json.dumps(message).encode())


def _token(websocket: WebSocket) -> str | None:
    return bearer_token(websocket) or websocket.query_params.get("access_token")


@dataclass(frozen=True)
class Grant:
    """What bounds a connection's life, read from its (already verified) access token."""

    expires_at: float
    session_id: str | None


def grant_of(token: str) -> Grant:
    # The verifier has checked the signature and the claims; this only reads two of them.
    claims = jwt.decode(token, options={"verify_signature": False})
    exp, sid = claims.get("exp"), claims.get("sid")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or not math.isfinite(exp):
        raise Unauthorized("invalid token")
    return Grant(float(exp), sid if isinstance(sid, str) and sid else None)


class Sessions:
    """This replica's open connections by user and sign-in session, and the one subscription
    that ends them when their session is revoked."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], set[asyncio.Future[str]]] = {}
        self._subscription: Subscription | None = None
        self._lock = asyncio.Lock()

    async def watch(self, nc: NATS) -> None:
        """Subscribe once per process; flushed, so the server has it before a connection opens."""
        if self._subscription is not None:
            return
        async with self._lock:
            if self._subscription is None:
                subscription = await nc.subscribe(SESSION_REVOKED, cb=self._revoked)
                await nc.flush(timeout=2)
                self._subscription = subscription

    def add(self, user_id: str, session_id: str, ended: asyncio.Future[str]) -> None:
        self._open.setdefault((user_id, session_id), set()).add(ended)

    def discard(self, user_id: str, session_id: str, ended: asyncio.Future[str]) -> None:
        waiting = self._open.get((user_id, session_id))
        if waiting is not None:
            waiting.discard(ended)
            if not waiting:
                del self._open[(user_id, session_id)]

    async def _revoked(self, msg: Msg) -> None:
        event = auth_events.SessionRevoked()
        try:
            event.ParseFromString(msg.data)
        except DecodeError:
            log.warning("unreadable session revocation", extra={"subject": msg.subject})
            return
        for ended in self._open.get((event.user_id, event.session_id), set()):
            end(ended, "session ended")


def _sessions(state: State) -> Sessions:
    sessions: Sessions | None = getattr(state, "realtime_sessions", None)
    if sessions is None:
        sessions = state.realtime_sessions = Sessions()
    return sessions


def end(ended: asyncio.Future[str], reason: str) -> None:
    if not ended.done():
        ended.set_result(reason)


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    # Accepted first so that browsers see the close code (a refused handshake is opaque).
    await websocket.accept()
    await websocket.close(code=code, reason=reason)


@router.websocket("/ws")
async def realtime(websocket: WebSocket) -> None:
    runtime: ServiceRuntime = websocket.app.state.runtime
    token = _token(websocket)
    try:
        if token is None:
            raise Unauthorized("token required")
        principal = await runtime.verifier.verify(token)
        grant = grant_of(token)
    except Unauthorized as exc:
        await _refuse(websocket, UNAUTHORIZED_CLOSE, exc.message)
        return
    nc = runtime.nc
    sessions = _sessions(websocket.app.state)
    outbound: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)

    async def deliver(msg: Msg) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a client that does not read loses pushes
            outbound.put_nowait(msg.data)

    try:
        if nc is None or not nc.is_connected:
            raise ConnectionError("nats is not connected")
        await sessions.watch(nc)
        subscription = await nc.subscribe(PUSH_SUBJECT.format(user_id=principal.user_id), cb=deliver)
    except Exception as exc:
        # Without NATS nothing could reach the connection, nor end it when its session ends.
        log.warning("real time unavailable", extra={"error": type(exc).__name__})
        await _refuse(websocket, TRY_AGAIN_LATER_CLOSE, "try again later")
        return
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[str] = loop.create_future()
    expiry = loop.call_later(max(0.0, grant.expires_at - time.time()), end, ended, "token expired")
    if grant.session_id is not None:
        sessions.add(principal.user_id, grant.session_id, ended)
    await websocket.accept()
    sender = asyncio.create_task(_send_pushes(websocket, outbound))
    answering = asyncio.create_task(_answer_client(websocket))
    OPEN_CONNECTIONS.inc()
    try:
        either: set[asyncio.Future[Any]] = {answering, ended}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if ended.done() and not answering.done():
            with contextlib.suppress(Exception):  # the client may be gone already
                await websocket.close(code=UNAUTHORIZED_CLOSE, reason=ended.result())
    finally:
        OPEN_CONNECTIONS.dec()
        expiry.cancel()
        if grant.session_id is not None:
            sessions.discard(principal.user_id, grant.session_id, ended)
        for task in (sender, answering):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await subscription.unsubscribe()


async def _send_pushes(websocket: WebSocket, outbound: asyncio.Queue[bytes]) -> None:
    while True:
        await websocket.send_text((await outbound.get()).decode())


async def _answer_client(websocket: WebSocket) -> None:
    """Clients may send `{"type": "ping"}` to keep a connection alive through idle proxies."""
    while True:
        text = await websocket.receive_text()
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if isinstance(message, dict) and message.get("type") == "ping":
            await websocket.send_text(json.dumps({"type": "pong"}))
        else:
            error = {"code": "VALIDATION_ERROR", "message": 'expected {"type": "ping"}'}
            await websocket.send_text(json.dumps({"type": "error", "data": error}))
