"""Refuses NUL characters in a request's path, query or body before any handler sees them.

Postgres text cannot hold U+0000: a NUL that reaches a query is a database error (a 500), whichever
column or parameter it is in. One ASGI layer in front of every app answers 400 instead, so no
endpoint has to remember it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codegram_kit.web.errors import error_response

NUL_MESSAGE = "NUL characters are not allowed"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_BODY_DETAILS = 20


def _detail(field: str, where: str) -> dict[str, str]:
    return {"field": field, "in": where, "message": NUL_MESSAGE}


def _query_details(query: bytes) -> list[dict[str, str]]:
    # Only for a query already known to hold a NUL: name the parameters that do.
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    named = [_detail(name.replace("\x00", ""), "query") for name, value in pairs if "\x00" in name + value]
    return named or [_detail("query", "query")]


def _body_details(body: bytes, is_json: bool) -> list[dict[str, str]]:
    """Only for a body already known to hold a NUL: the JSON fields that do, named as the
    framework names a body field ("title", "tags.0"), or the body as a whole."""
    try:
        # Not strict, so that a raw NUL inside a string is found in its field too.
        document = json.loads(body, strict=False) if is_json else None
    except (ValueError, RecursionError):
        document = None
    details: list[dict[str, str]] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack and len(details) < _MAX_BODY_DETAILS:
        value, path = stack.pop()
        if isinstance(value, str) and "\x00" in value:
            details.append(_detail(".".join(path) or "body", "body"))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                named = (*path, key.replace("\x00", ""))
                if "\x00" in key:
                    details.append(_detail(".".join(named), "body"))
                stack.append((item, named))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(i))) for i, item in reversed(list(enumerate(value))))
    return details or [_detail("body", "body")]


def _is_json(scope: Scope) -> bool:
    """Whether the framework will parse this body as JSON (it does so when no type is given)."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
    if content_type is None:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def has_json_nul_escape(body: bytes) -> bool:
    r"""Whether JSON text holds a `\u0000` escape (an escaped backslash followed by `u0000` is not one)."""
    start = body.find(b"u0000")
    while start != -1:
        backslashes = 0
        while start - backslashes - 1 >= 0 and body[start - backslashes - 1] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 1:
            return True
        start = body.find(b"u0000", start + 5)
    return False


class NulGuardMiddleware:
    """Pure ASGI: 400 VALIDATION_ERROR for a NUL in the decoded path, the query string (raw or
    `%00`) or a request body (raw, or a JSON `\\u0000` escape).

    Bodies are read whole before the app runs; the services read them whole anyway and the gateway
    bounds them, so this costs one scan of bytes already in memory."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # The path is already percent-decoded, so `/users/%00` arrives here as "/users/\x00".
        query: bytes = scope.get("query_string", b"")
        details: list[dict[str, str]] = []
        if "\x00" in scope["path"]:
            details.append(_detail("path", "path"))
        if b"%00" in query or b"\x00" in query:
            details.extend(_query_details(query))
        if details:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before accept: a 403
            else:
                await error_response(400, "VALIDATION_ERROR", NUL_MESSAGE, details)(scope, receive, send)
            return
        if scope["type"] == "websocket" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        is_json = _is_json(scope)
        if b"\x00" in body or (is_json and has_json_nul_escape(body)):
            details = _body_details(body, is_json)
            await error_response(400, "VALIDATION_ERROR", NUL_MESSAGE, details)(scope, receive, send)
            return
        await self.app(scope, _replay(messages, receive), send)


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    """The body, and what to hand the app in its place: one message with all of it, or what was
    received as received when the client went away before the end."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # the client went away; the app hears it in turn
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            body = b"".join(chunks)
            return [{"type": "http.request", "body": body, "more_body": False}], body
    return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
