"""The real-time channel (`/api/v1/ws`): one WebSocket per client session, fed from NATS.

Whoever has something to tell a user publishes it once on the user's push subject (core NATS,
not JetStream: a push is only for connections open now; what must last is stored as a
notification first). Every social replica holding a connection of that user is subscribed to
it, so it reaches all of the user's connections on whichever replica they landed. The gateway
authenticates the handshake and pipes the frames; this end verifies the token again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from prometheus_client import Gauge

from codegram_kit.auth import bearer_token
from codegram_kit.errors import Unauthorized
from codegram_kit.service import ServiceRuntime

log = logging.getLogger("codegram.social.realtime")

OPEN_CONNECTIONS = Gauge(
    "codegram_social_websocket_connections", "Open real-time connections on this replica"
)

router = APIRouter(prefix="/api/v1", tags=["social"])

# Outside the JetStream stream's `codegram.>` so pushes are never stored.
PUSH_SUBJECT = "push.codegram.user.{user_id}"
UNAUTHORIZED_CLOSE = 4401


async def push(nc: NATS, user_id: str, message: dict[str, Any]) -> None:
    """Send a message to every open connection of one user, on any replica."""
    await nc.publish(PUSH_SUBJECT.format(user_id=user_id), json.dumps(message).encode())


def _token(websocket: WebSocket) -> str | None:
    return bearer_token(websocket) or websocket.query_params.get("access_token")


@router.websocket("/ws")
async def realtime(websocket: WebSocket) -> None:
    runtime: ServiceRuntime = websocket.app.state.runtime
    token = _token(websocket)
    try:
        if token is None:
            raise Unauthorized("token required")
        principal = await runtime.verifier.verify(token)
    except Unauthorized as exc:
        # Accepted first so that browsers see the close code (a refused handshake is opaque).
        await websocket.accept()
        await websocket.close(code=UNAUTHORIZED_CLOSE, reason=exc.message)
        return
    if runtime.nc is None or not runtime.nc.is_connected:
        await websocket.close(code=1013)  # try again later
        return
    await websocket.accept()
    outbound: asyncio.Queue[bytes] = asyncio.Queue(maxsize=256)

    async def deliver(msg: Msg) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a client that does not read loses pushes
            outbound.put_nowait(msg.data)

    subscription = await runtime.nc.subscribe(PUSH_SUBJECT.format(user_id=principal.user_id), cb=deliver)
    sender = asyncio.create_task(_send_pushes(websocket, outbound))
    OPEN_CONNECTIONS.inc()
    try:
        await _answer_client(websocket)
    except WebSocketDisconnect:
        pass
    finally:
        OPEN_CONNECTIONS.dec()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
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
