"""NATS JetStream: the connection and the one stream every event and dead letter is kept in."""

from __future__ import annotations

import logging

from nats.aio.client import Client as NATS
from nats.errors import NoServersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("codegram.events")

STREAM_NAME = "CODEGRAM"
STREAM_SUBJECTS = ["codegram.>"]
# How long JetStream remembers a Nats-Msg-Id: a relay that comes back within it cannot duplicate.
DUPLICATE_WINDOW_SECONDS = 15 * 60
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600

MSG_ID_HEADER = "Nats-Msg-Id"


async def connect(url: str, name: str, *, client: NATS | None = None, retry: bool = True) -> NATS:
    """Connect `client` (a new one by default). With `retry` it waits for NATS as long as it
    takes and reconnects forever after; without, the first failure raises (commands)."""
    nc = client if client is not None else NATS()
    unreachable = False

    async def _error(exc: Exception) -> None:
        nonlocal unreachable
        # A connection attempt fails every second while NATS is away: say so once per outage.
        if isinstance(exc, OSError | TimeoutError | NoServersError | NatsTimeoutError):
            if not unreachable:
                log.warning("nats unreachable; retrying", extra={"error": type(exc).__name__})
            unreachable = True
            return
        log.warning("nats error", extra={"error": repr(exc)})

    async def _disconnected() -> None:
        log.warning("nats disconnected")

    async def _reconnected() -> None:
        nonlocal unreachable
        unreachable = False
        log.info("nats reconnected")

    await nc.connect(
        url,
        name=name,
        allow_reconnect=retry,
        max_reconnect_attempts=-1 if retry else 0,
        reconnect_time_wait=1,
        connect_timeout=2,
        error_cb=_error,
        disconnected_cb=_disconnected,
        reconnected_cb=_reconnected,
    )
    if unreachable:
        log.info("nats connected")
    unreachable = False
    return nc


async def ensure_stream(js: JetStreamContext) -> None:
    config = StreamConfig(
        name=STREAM_NAME,
        subjects=STREAM_SUBJECTS,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=STREAM_MAX_AGE_SECONDS,
    )
    await apply_stream(js, config)


async def apply_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream `config` names, or bring an existing one to `config`."""
    assert config.name is not None, "a stream is created by name"
    try:
        await js.stream_info(config.name)
        await js.update_stream(config)
    except NotFoundError:
        await js.add_stream(config)


def subjects_overlap(a: str, b: str) -> bool:
    """Whether some subject matches both patterns (`*` one token, `>` one or more at the end)."""
    left, right = a.split("."), b.split(".")
    for x, y in zip(left, right, strict=False):
        if x == ">" or y == ">":
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(left) == len(right)
