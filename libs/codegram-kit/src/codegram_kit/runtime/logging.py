"""Process-wide logging: JSON lines (or console text in development) with request id and trace id,
and no credential in any line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
from typing import IO

from opentelemetry import trace

from codegram_kit.runtime.context import current_request_id


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = current_request_id()
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else None
        return True


# What every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "service",
    "request_id",
    "trace_id",
    "rid",
}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, request_id, trace_id, then
    the record's extra fields. Written for the hot path (one access line per request): the time
    text is made once per second and the record is read once."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self.time_text(record.created)

    def time_text(self, created: float) -> str:
        """`created` as the records' time field (local time, like logging's default)."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
        return f"{self._second_text},{int((created - second) * 1000):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": getattr(record, "service", None),
            "request_id": getattr(record, "request_id", None),
            "trace_id": getattr(record, "trace_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS:
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


# Credentials must not reach a log line, whoever logs them (a library at DEBUG, an exception's repr
# carrying request headers). Each shape below is masked in the finished line, so the message, its
# arguments, extra fields and exception text are all covered. Every pattern is linear: a lookbehind
# pins where a match may start and no quantifier is nested, so a hostile line costs one pass.
REDACTED = "[REDACTED]"
_TOKEN_CHARS = r"A-Za-z0-9_\-"
# A JWT (or any base64url JSON object): its header always starts with `{"`, which encodes as eyJ.
_JWT = re.compile(rf"(?<![{_TOKEN_CHARS}.])eyJ[{_TOKEN_CHARS}.]{{10,}}")
# GitHub's token formats (OAuth, personal, user-to-server, server-to-server, refresh, fine-grained).
_GITHUB_TOKEN = re.compile(r"(?<![A-Za-z0-9_])(?:gh[opusr]_[A-Za-z0-9_\-]{16,}|github_pat_[A-Za-z0-9_]{16,})")
# `name=value` in a query string or form body.
_QUERY_SECRET = re.compile(
    r"(?i)(?<![a-z0-9_])(access_token|refresh_token|id_token|code|code_verifier|client_secret)="
    r"[^\s&\"'\\,;#]+"
)
# `name: value` in a header dump, a dict or a JSON object (quotes possibly JSON-escaped), keeping
# the scheme of an Authorization value.
_NAMED_SECRET = re.compile(
    r"(?i)(?<![a-z0-9_\-])(authorization|proxy-authorization|access_token|refresh_token|client_secret"
    r"|code_verifier)(\\?[\"']?\s{0,4}[:=]\s{0,4}\\?[\"']?)((?:bearer|token|basic)\s{1,4})?"
    r"[^\s\"'\\,;&<>(){}\[\]]+"
)
_BEARER = re.compile(r"(?i)(?<![a-z0-9_])(bearer\s{1,4})[A-Za-z0-9._~+/=\-]{8,}")


# A line holding none of these (lower-cased) cannot match a pattern above: the common line is let
# through after a few substring searches (spelled out: a generator over a tuple costs more).
def _may_hold_secret(lowered: str) -> bool:
    return (
        "eyj" in lowered
        or "token" in lowered
        or "code=" in lowered
        or "secret" in lowered
        or "verifier" in lowered
        or "authorization" in lowered
        or "bearer" in lowered
        or "gho_" in lowered
        or "ghp_" in lowered
        or "ghu_" in lowered
        or "ghs_" in lowered
        or "ghr_" in lowered
        or "github_pat_" in lowered
    )


def redact(text: str) -> str:
    """The text with every credential shape masked."""
    if not _may_hold_secret(text.lower()):
        return text
    text = _NAMED_SECRET.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{REDACTED}", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m[1]}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    return _GITHUB_TOKEN.sub(REDACTED, text)


class _RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each finished line with credentials masked (see `redact`).

    On an event loop's thread, the lines of one turn of the loop are written together at its end
    (one write and flush for many requests' lines, in order, a turn later at most); anywhere else
    a line is written at once."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._pending: list[str] = []

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.write_line(line)

    def write_line(self, line: str) -> None:
        """Queue one finished line (credentials already masked) for writing."""
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(line)
            if len(self._pending) > 1:
                return  # a write is already due
            loop = asyncio._get_running_loop()
            if loop is None:
                self._write_pending()
                return
        loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._pending:
                self._write_pending()
            else:
                with contextlib.suppress(OSError, ValueError):
                    super().flush()

    def _write_pending(self) -> None:
        lines, self._pending = self._pending, []
        # A stream closed under us (stdout gone at exit) leaves nowhere to say so.
        with contextlib.suppress(OSError, ValueError):
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()


class AccessLog:
    """The one line per request, built without a LogRecord: the same JSON object the formatter
    writes for `log.info("request", extra=...)`, through the same handler (masked, in order).
    Falls back to the logger when lines are not JSON or logging was configured otherwise."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._name = json.dumps(logger.name)

    def write(
        self,
        method: str,
        path: str,
        status: int,
        seconds: float,
        span: trace.SpanContext | None = None,
        request_id: str | None = None,
    ) -> None:
        """One access line, its duration in milliseconds to two decimals; `span` and `request_id`
        are the request's, when the caller holds them (else the current ones)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        handler, root = _json_handler, logging.root
        if (
            handler is None
            or self.logger.handlers
            or not self.logger.propagate
            or len(root.handlers) != 1
            or root.handlers[0] is not handler
        ):
            duration_ms = round(seconds * 1000, 2)
            fields = {"method": method, "path": path, "status": status, "duration_ms": duration_ms}
            self.logger.info("request", extra=fields)
            return
        now = time.time()
        if span is None:
            span = trace.get_current_span().get_span_context()
        if request_id is None:
            request_id = current_request_id()
        trace_id = f'"{span.trace_id:032x}"' if span.is_valid else "null"
        line = (
            f'{{"time": "{_formatter.time_text(now)}", "level": "INFO", "logger": {self._name}, '
            f'"message": "request", "service": {_service_json}, '
            f'"request_id": {_json_string(request_id)}, '
            f'"trace_id": {trace_id}, '
            f'"method": {_json_string(method)}, "path": {_json_string(path)}, "status": {status}, '
            f'"duration_ms": {seconds * 1000:.2f}}}'  # a JSON number (round() and repr() cost more)
        )
        # Only the path and the request id come from the client (a method is a token the server
        # parsed, the rest is ours and holds no secret shape): the line is masked when they may
        # hold a credential.
        if _may_hold_secret(f"{path} {request_id}".lower()):
            line = redact(line)
        handler.write_line(line)


def _json_string(value: str | None) -> str:
    if value is None:
        return "null"
    # Request ids, methods and most paths need no escaping: quoted as they are.
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


_json_handler: _RedactingHandler | None = None
_formatter: JsonLineFormatter
_service_json = "null"


class _UvicornPaths(logging.Filter):
    """uvicorn (and the websockets library under it) log a WebSocket handshake's path with its
    query string, where browsers must carry the access token: the path is logged without it."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        if (
            isinstance(msg, str)
            and isinstance(record.args, tuple)
            and ("WebSocket %s" in msg or msg.startswith("< GET %s"))
        ):
            record.args = tuple(
                a.partition("?")[0] if isinstance(a, str) and a.startswith("/") else a for a in record.args
            )
        return True


class _ConsoleFormatter(logging.Formatter):
    """For people: the request id in brackets, "-" outside a request."""

    def format(self, record: logging.LogRecord) -> str:
        record.rid = getattr(record, "request_id", None) or "-"
        return super().format(record)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    global _json_handler, _formatter, _service_json
    handler = _RedactingHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    _json_handler = None
    if fmt == "json":
        _formatter = JsonLineFormatter()
        handler.setFormatter(_formatter)
        _json_handler, _service_json = handler, json.dumps(service)
    else:
        handler.setFormatter(_ConsoleFormatter("%(asctime)s %(levelname)-5s %(name)s [%(rid)s] %(message)s"))
    # No line shows the caller's file, thread or process, so the records need not find them out
    # (the switches of the logging HOWTO's "Optimization" section; findCaller walks the stack).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates our own request log line.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _UvicornPaths) for f in uvicorn_error.filters):
        uvicorn_error.addFilter(_UvicornPaths())
