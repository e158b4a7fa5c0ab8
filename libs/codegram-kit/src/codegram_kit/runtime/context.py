"""Per-request context (request id) carried in contextvars so logs, gRPC and events can read it."""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    # Unique, not secret: the request id is printed in logs and echoed to the client, so the
    # cheap generator does (uuid4 would cost a system call per request).
    return f"{random.getrandbits(128):032x}"


def accept_request_id(candidate: str | None) -> str:
    """The client's request id when it is a sane token, else a fresh one."""
    if candidate and _SANE_REQUEST_ID.match(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()
