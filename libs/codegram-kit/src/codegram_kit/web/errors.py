"""Domain errors, mapped once to API.md's error envelope (HTTP) and once to gRPC status codes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from codegram_kit.runtime.context import current_request_id

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 500
    code = "INTERNAL_SERVER_ERROR"
    default_message = "internal error"

    def __init__(self, message: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details or []


class ValidationFailed(DomainError):
    status, code, default_message = 400, "VALIDATION_ERROR", "invalid request"


class Unauthorized(DomainError):
    status, code, default_message = 401, "UNAUTHORIZED", "authentication required"


class Forbidden(DomainError):
    status, code, default_message = 403, "FORBIDDEN", "not allowed"


class NotFound(DomainError):
    status, code, default_message = 404, "NOT_FOUND", "not found"


class Conflict(DomainError):
    status, code, default_message = 409, "CONFLICT", "conflict"


class PayloadTooLarge(DomainError):
    status, code, default_message = 413, "PAYLOAD_TOO_LARGE", "payload too large"


class BadGateway(DomainError):
    status, code, default_message = 502, "BAD_GATEWAY", "an upstream service failed"


class GatewayTimeout(DomainError):
    status, code, default_message = 504, "GATEWAY_TIMEOUT", "an upstream service did not answer in time"


class Unavailable(DomainError):
    status, code, default_message = 503, "SERVICE_UNAVAILABLE", "service unavailable"

    def __init__(
        self,
        message: str | None = None,
        details: list[dict[str, Any]] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after  # seconds, sent as Retry-After (RFC 9110 10.2.3)


_CODES_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class ErrorDetail(BaseModel):
    field: str
    in_: str = Field(alias="in")
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class ErrorEnvelope(BaseModel):
    """The envelope of every error response: a stable code, a message, per-field details and the
    request id to quote when reporting a problem."""

    # What error_body writes; routes name this model in their documented responses.

    error: ErrorBody
    request_id: str | None


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    return {
        "error": {"code": code, "message": message, "details": details or []},
        "request_id": current_request_id(),
    }


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        # FastAPI puts the source ("body", "query", "path") first; the field is the rest.
        where = loc[0] if loc else "body"
        field = ".".join(loc[1:]) or where
        details.append({"field": field, "in": where, "message": err.get("msg", "invalid")})
    return details


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        retry_after = exc.retry_after if isinstance(exc, Unavailable) else None
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return error_response(exc.status, exc.code, exc.message, exc.details, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_away(_: Request, exc: OperationalError | InterfaceError) -> JSONResponse:
        # The database refused, dropped or restarted under the request (a pool's stale connection
        # is found only by using it): the service is unavailable for a moment, not broken.
        log.warning("database unavailable", extra={"error": type(exc.orig).__name__})
        return error_response(503, "SERVICE_UNAVAILABLE", "service unavailable", headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "VALIDATION_ERROR", "invalid request", _validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, "ERROR")
        message = exc.detail if isinstance(exc.detail, str) else code.lower()
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return error_response(exc.status_code, code, message, headers=dict(headers) if headers else None)


def allowed_methods(request: Request) -> str:
    """Every method the request's path answers. Starlette's 405 names only those of the first route
    that matches the path, while FastAPI makes one route per method (RFC 9110 15.5.6 wants all)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": ""})
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))
