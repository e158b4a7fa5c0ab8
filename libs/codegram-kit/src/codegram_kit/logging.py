"""Process-wide logging: JSON lines (or console text in development) with request id and trace id."""

from __future__ import annotations

import json
import logging
import sys
import time

from opentelemetry import trace

from codegram_kit.context import current_request_id


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
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
        return f"{self._second_text},{int(record.msecs):03d}"

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


class _ConsoleFormatter(logging.Formatter):
    """For people: the request id in brackets, "-" outside a request."""

    def format(self, record: logging.LogRecord) -> str:
        record.rid = getattr(record, "request_id", None) or "-"
        return super().format(record)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    if fmt == "json":
        handler.setFormatter(JsonLineFormatter())
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
